package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/drover/drover/jobs"
)

// churnProbe samples the master process and its /metrics.
type churnProbe struct {
	pid int
	url string
	hc  *http.Client
	t0  time.Time
}

// metrics GETs /metrics and returns its body.
func (p *churnProbe) metrics(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: scrape the master's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: scrape the master's metrics: %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// take samples the master.
func (p *churnProbe) take(ctx context.Context, phase string) (ChurnSample, error) {
	x := ChurnSample{T: round(time.Since(p.t0).Seconds(), 3), Phase: phase}
	ps, err := readProc(p.pid)
	if err != nil {
		return x, err
	}
	x.RSS, x.RSSAnon = ps.RSS, ps.RSSAnon
	body, err := p.metrics(ctx)
	if err != nil {
		return x, err
	}
	x.Bytes, x.Lines = len(body), bytes.Count(body, []byte("\n"))
	mt := promValues(body)
	x.Heap, x.HeapObjects = int64(mt["go_memstats_heap_inuse_bytes"]), int64(mt["go_memstats_heap_objects"])
	x.Goroutines = int(mt["go_goroutines"])
	x.HeapFree = int64(mt["go_memstats_heap_idle_bytes"] - mt["go_memstats_heap_released_bytes"])
	x.NextGC, x.GCs = int64(mt["go_memstats_next_gc_bytes"]), int64(mt["go_gc_duration_seconds_count"])
	x.Jobs = int64(mt["drover_jobs_finished_total"])
	x.Live = int64(mt[`drover_jobs{state="`+string(jobs.Pending)+`"}`] + mt[`drover_jobs{state="`+string(jobs.Running)+`"}`])
	return x, nil
}

// floor asks the master for a debug.FreeOSMemory and samples it once the
// collection is done and its anon RSS has stopped falling (moved by less
// than 1% in 200ms), or after 30s.
func (p *churnProbe) floor(ctx context.Context, c *cluster, phase string) (ChurnSample, error) {
	before, err := p.take(ctx, phase)
	if err != nil {
		return before, err
	}
	if err := c.master.send("free"); err != nil {
		return before, err
	}
	end := time.Now().Add(30 * time.Second)
	last := before
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		x, err := p.take(ctx, phase)
		if err != nil {
			return x, err
		}
		if (x.GCs > before.GCs && abs(x.RSSAnon-last.RSSAnon) < last.RSSAnon/100) || time.Now().After(end) {
			return x, nil
		}
		last = x
	}
}

// waitGone polls /metrics until no line has needle, for at most d.
func (p *churnProbe) waitGone(ctx context.Context, needle string, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		body, err := p.metrics(ctx)
		if err != nil {
			return err
		}
		if !bytes.Contains(body, []byte(needle)) {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("bench: churn: /metrics still has %s after %s", needle, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// promValues reads a Prometheus text page: each series by its name and
// labels as written ("drover_jobs{state=\"pending\"}"), and each name
// alone with the sum of its series.
func promValues(body []byte) map[string]float64 {
	out := make(map[string]float64)
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		i := strings.LastIndexByte(l, ' ')
		if l == "" || l[0] == '#' || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		series := l[:i]
		out[series] = v
		if name, _, ok := strings.Cut(series, "{"); ok {
			out[name] += v
		}
	}
	return out
}

// waitFile waits up to d for path to exist with a size that stopped
// changing.
func waitFile(path string, d time.Duration) {
	last := int64(-1)
	for end := time.Now().Add(d); time.Now().Before(end); {
		if n, ok := fileSize(path); ok && n > 0 && n == last {
			return
		} else if ok {
			last = n
		}
		time.Sleep(100 * time.Millisecond)
	}
}
