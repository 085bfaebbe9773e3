package bench

// What the soak and reads scenarios share: sampling the master process,
// its /metrics and its data dir; the filter on the children's logs that
// counts the master's history sweeps; the report's header and tables.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// lifetimeHeader writes the soak's or the reads scenario's parameters.
func (r *Result) lifetimeHeader(w io.Writer) {
	p := r.Params
	if s := r.Soak; s != nil {
		fmt.Fprintf(w, "  %d workers x %d slots, %d clients x batch %d (submit, wait, again), store %s, transport %s\n",
			p.Workers, p.Slots, p.Clients, p.Batch, p.Store, p.Transport)
		fmt.Fprintf(w, "  retain %s or %d jobs, history %s or %d jobs; a sample every %gs\n",
			s.SoakRetain, s.SoakRetainJobs, s.SoakHistory, s.SoakHistoryJobs, s.SoakSampleS)
	}
	if x := r.Reads; x != nil {
		fmt.Fprintf(w, "  history of %d finished jobs, store %s; %d simulated workers x %d slots beating; %d readers for %.0fs\n",
			x.RDFill, p.Store, p.Workers, p.Slots, p.Clients, x.RDLoopS)
	}
}

// writeSamples writes the samples as a table.
func (s *Soak) writeSamples(w io.Writer) error {
	fmt.Fprintf(w, "\nsamples (master process; RSS = anon + mapped files; data dir: file sizes / allocated blocks)\n")
	tw := newTable(w)
	fmt.Fprintf(tw, "  t\tjobs\tjobs/s\tRSS\tanon\tfile\theap\tgoroutines\tfds\tfinal jobs counted\tdata dir\n")
	for _, x := range s.SoakSamples {
		fmt.Fprintf(tw, "  %.1fs\t%d\t%.0f\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s / %s\n", x.T, x.Jobs, x.JobsPerS, mib(x.RSS), mib(x.RSSAnon),
			mib(x.RSSFile), mib(x.Heap), x.Goroutines, x.FDs, x.Stored, mib(x.Dir), mib(x.DirBlks))
	}
	return tw.Flush()
}

// lifetimeTables writes the tables that follow the soak's and the reads
// scenario's summaries.
func (r *Result) lifetimeTables(w io.Writer) error {
	if s := r.Soak; s != nil {
		if err := s.writeSamples(w); err != nil {
			return err
		}
	}
	if x := r.Reads; x != nil {
		return x.writeOps(w)
	}
	return nil
}

// sampler reads the master process's /proc entries, its /metrics and its
// data dir.
type sampler struct {
	pid int
	url string
	dir string
	hc  *http.Client
}

// take samples the master; prev, when set, is the previous sample (for the
// throughput since).
func (m *sampler) take(ctx context.Context, t0 time.Time, prev *SoakSample) (SoakSample, error) {
	x := SoakSample{T: time.Since(t0).Seconds()}
	ps, err := readProc(m.pid)
	if err != nil {
		return x, err
	}
	x.RSS, x.RSSAnon, x.RSSFile = ps.RSS, ps.RSSAnon, ps.RSSFile
	if ents, err := os.ReadDir("/proc/" + strconv.Itoa(m.pid) + "/fd"); err == nil {
		x.FDs = len(ents)
	}
	mt, err := scrape(ctx, m.hc, m.url)
	if err != nil {
		return x, err
	}
	x.Heap, x.Goroutines = int64(mt["go_memstats_heap_inuse_bytes"]), int(mt["go_goroutines"])
	x.Jobs = int64(mt["drover_jobs_finished_total"])
	for _, st := range []jobs.State{jobs.Succeeded, jobs.Failed, jobs.Cancelled} {
		x.Stored += int64(mt[`drover_jobs{state="`+string(st)+`"}`])
	}
	if m.dir != "" {
		x.Dir, x.DirBlks = dirSize(m.dir)
	}
	if prev != nil && x.T > prev.T {
		x.JobsPerS = float64(x.Jobs-prev.Jobs) / (x.T - prev.T)
	}
	return x, nil
}

// scrape reads the master's /metrics page at url (promValues).
func scrape(ctx context.Context, hc *http.Client, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: scrape the master's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: scrape the master's metrics: %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("bench: scrape the master's metrics: %w", err)
	}
	return promValues(body), nil
}

// dirSize sums the sizes and the allocated blocks of the files under dir.
func dirSize(dir string) (size, alloc int64) {
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			size += fi.Size()
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				alloc += st.Blocks * 512
			}
		}
		return nil
	})
	return size, alloc
}

// sweepLog passes the children's logs on to out, leaving out lines of a
// level above max (the master logs at info so that its history sweeps can
// be counted), and counts the sweeps that deleted jobs.
type sweepLog struct {
	out   io.Writer
	max   logrus.Level
	mu    sync.Mutex
	buf   []byte
	n     int
	swept int64
}

const sweepMsg = "history: finished jobs deleted from the store"

func newSweepLog(out io.Writer, level string) *sweepLog {
	lv, err := logrus.ParseLevel(level)
	if err != nil {
		lv = logrus.ErrorLevel
	}
	return &sweepLog{out: out, max: lv}
}

func (l *sweepLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	rest := l.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		l.line(rest[:i+1])
		rest = rest[i+1:]
	}
	l.buf = append(l.buf[:0], rest...)
	return len(p), nil
}

// line counts a sweep and passes the line on if its level is wanted.
func (l *sweepLog) line(b []byte) {
	s := string(b)
	if strings.Contains(s, sweepMsg) {
		l.n++
		if _, v, ok := strings.Cut(s, " jobs="); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			l.swept += n
		}
	}
	if _, v, ok := strings.Cut(s, "level="); ok {
		word, _, _ := strings.Cut(v, " ")
		if lv, err := logrus.ParseLevel(word); err == nil && lv > l.max {
			return
		}
	}
	l.out.Write(b)
}

func (l *sweepLog) counts() (int, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.swept
}

// atLeastInfo is level, or info when level logs less.
func atLeastInfo(level string) string {
	if lv, err := logrus.ParseLevel(level); err == nil && lv >= logrus.InfoLevel {
		return level
	}
	return "info"
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// fleet is simulated pull-mode workers, each with a client of its own,
// beating every heartbeat interval (the heartbeats, lifetime and reads
// scenarios); the round trips are recorded by phase.
type fleet struct {
	interval time.Duration
	phase    atomic.Int32 // 0: not recording; else the index into sims
	sims     [3][]sim
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	once     sync.Once
}

// startFleet registers n simulated workers (32 at a time) and starts their
// beats, spread over one interval.
func startFleet(ctx context.Context, addr, transport string, n, slots int) (*fleet, error) {
	f := &fleet{}
	for p := range f.sims {
		f.sims[p] = make([]sim, n)
	}
	ctx, f.cancel = context.WithCancel(ctx)
	sem := make(chan struct{}, 32)
	regc := make(chan error, n)
	var iv atomic.Int64
	for i := range n {
		f.wg.Go(func() {
			caller, err := rpcapi.NewCaller(addr, transport)
			if err != nil {
				regc <- err
				return
			}
			defer caller.Close()
			mc := rpcapi.MasterClient{C: caller}
			sem <- struct{}{}
			rr, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: "sim-" + strconv.Itoa(i), Types: []string{"bench.hb"},
				Slots: slots, Mode: rpcapi.ModePull, Transport: transport})
			<-sem
			regc <- err
			if err == nil {
				iv.Store(int64(rr.HeartbeatInterval))
				f.beat(ctx, mc, rr, i, n, slots)
			}
		})
	}
	var first error
	for range n {
		if err := <-regc; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		f.stop()
		return nil, fmt.Errorf("bench: register a simulated worker: %w", first)
	}
	f.interval = time.Duration(iv.Load())
	return f, nil
}

// beat beats as simulated worker i of n until ctx ends.
func (f *fleet) beat(ctx context.Context, mc rpcapi.MasterClient, rr *rpcapi.RegisterReply, i, n, slots int) {
	iv := rr.HeartbeatInterval
	select {
	case <-ctx.Done():
		return
	case <-time.After(iv * time.Duration(i) / time.Duration(n)):
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	args := &rpcapi.HeartbeatArgs{WorkerID: rr.WorkerID, Secret: rr.Secret, FreeSlots: slots}
	for {
		t0 := time.Now()
		rep, err := mc.Heartbeat(ctx, args)
		d := time.Since(t0)
		if p := f.phase.Load(); p > 0 {
			s := &f.sims[p][i]
			switch {
			case err != nil && ctx.Err() == nil:
				s.errs++
			case err != nil:
			case rep.Status != rpcapi.BeatOK:
				s.unknown++
			default:
				s.rtts = append(s.rtts, d)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// window records the beats in phase for d (or while during runs) and
// returns the master's CPU over it and the rest of the machine's (host
// busy time less the master, the workers and this process: a noise
// gauge), both in % of one core.
func (f *fleet) window(c *cluster, phase int32, d time.Duration, during func()) (master, other float64) {
	cpu := startCPU(c)
	f.phase.Store(phase)
	if during != nil {
		during()
	} else {
		time.Sleep(d)
	}
	f.phase.Store(0)
	return cpu.pct()
}

// cpuMark is where the CPU clocks of a run's processes and of the host
// stood at its start.
type cpuMark struct {
	c                           *cluster
	t                           time.Time
	master, workers, self, host time.Duration
}

func startCPU(c *cluster) cpuMark {
	return cpuMark{c: c, t: time.Now(), master: c.masterStats().CPU, workers: c.workersCPU(), self: selfCPU(), host: hostBusy()}
}

// pct returns the master's CPU since the mark and the rest of the
// machine's (host busy time less the master, the workers and this
// process), in % of one core.
func (m cpuMark) pct() (master, other float64) {
	wall := time.Since(m.t).Seconds()
	dm := m.c.masterStats().CPU - m.master
	do := (hostBusy() - m.host) - dm - (m.c.workersCPU() - m.workers) - (selfCPU() - m.self)
	return 100 * dm.Seconds() / wall, max(100*do.Seconds()/wall, 0)
}

// stop ends every simulated worker's beats (they do not log out).
func (f *fleet) stop() {
	f.once.Do(func() {
		f.cancel()
		f.wg.Wait()
	})
}

// summary is the round trips of phase; call it after stop.
func (f *fleet) summary(phase int) beats {
	var b beats
	var all []time.Duration
	for i := range f.sims[phase] {
		s := &f.sims[phase][i]
		all = append(all, s.rtts...)
		b.Errors += s.errs
		b.Unknown += s.unknown
	}
	b.N = len(all)
	b.P50us, b.P99us, b.Maxus = micros(percentile(all, 0.5)), micros(percentile(all, 0.99)), micros(percentile(all, 1))
	return b
}

// httpGet GETs url and reads the body (with stream, only up to the end of
// the first server-sent event), returning its size.
func httpGet(ctx context.Context, hc *http.Client, url string, stream bool) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s", resp.Status)
	}
	if !stream {
		n, err := io.Copy(io.Discard, resp.Body)
		return int(n), err
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	n, data := 0, false
	for {
		l, err := br.ReadString('\n')
		n += len(l)
		if err != nil {
			return n, fmt.Errorf("event stream ended before its first event: %w", err)
		}
		data = data || strings.HasPrefix(l, "data:")
		if data && strings.TrimSpace(l) == "" {
			return n, nil
		}
	}
}

// waitAll waits until the jobs of ids are final.
func waitAll(ctx context.Context, mc rpcapi.MasterClient, ids []string) error {
	if _, err := waitDone(ctx, mc, ids); err != nil {
		return fmt.Errorf("bench: wait: %w", err)
	}
	return nil
}

// waitDone waits until the jobs of ids are final and returns the last
// reply.
func waitDone(ctx context.Context, mc rpcapi.MasterClient, ids []string) (*rpcapi.WaitReply, error) {
	for {
		wr, err := mc.Wait(ctx, &rpcapi.WaitArgs{IDs: ids, Timeout: rpcapi.MaxWait})
		if err != nil || wr.Done {
			return wr, err
		}
	}
}

// waitBatch waits until the jobs of a batch, ids, are final, and adds how
// many failed to failed. When the master no longer finds some of them
// (they left its memory before the wait came, and its store could not
// read them back: rpcapi.ErrNotFound) it adds the whole batch to lost
// instead.
func waitBatch(ctx context.Context, mc rpcapi.MasterClient, ids []string, failed, lost *atomic.Int64) error {
	wr, err := waitDone(ctx, mc, ids)
	switch {
	case errors.Is(err, rpcapi.ErrNotFound):
		lost.Add(int64(len(ids)))
		return nil
	case err != nil:
		return err
	}
	failed.Add(int64(len(wr.Failed)))
	return nil
}

// ms formats microseconds as milliseconds.
func ms(us float64) string { return fmt.Sprintf("%.2f ms", us/1000) }
