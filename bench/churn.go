package bench

// The churn scenario: many distinct limit keys and job types run through
// a master with short retention, then the master is watched until what
// they needed is released (issue 11: "100,000 distinct limit keys and
// 10,000 job types run through and released (RSS back within 10 % of
// where it started, /metrics back under a few hundred lines)").

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// The churn scenario's targets.
const (
	// ChurnRSSTarget is the most the master's anon RSS may stay above
	// its start once the churn is released, in %.
	ChurnRSSTarget = 10.0
	// ChurnLinesTarget is the most lines /metrics may have once the
	// churn is released ("a few hundred").
	ChurnLinesTarget = 400
)

// maxWorkerTypes is the most job types a worker may register (master:
// Register).
const maxWorkerTypes = 10000

// churnDefaultLimit is the master's default_limit in the churn scenario,
// so that every limit key gets a running count and a rate bucket.
const churnDefaultLimit = "1,10/s"

// churnType is the name of the churn scenario's job type i. Bench workers
// whose workerSpec has Types N run churnType(0) to churnType(N-1).
func churnType(i int) string { return fmt.Sprintf("bench.churn.t%05d", i) }

// churnKey is the churn scenario's limit key i.
func churnKey(i int) string { return fmt.Sprintf("k%06d.churn.example", i) }

// Churn is the churn scenario's numbers.
type Churn struct {
	ChurnKeys         int     `json:"churn_limit_keys"`
	ChurnTypes        int     `json:"churn_job_types"`
	ChurnRetain       string  `json:"churn_retain"`
	ChurnRetainJobs   int     `json:"churn_retain_jobs"`
	ChurnDefaultLimit string  `json:"churn_default_limit"`
	ChurnSampleS      float64 `json:"churn_sample_s"`
	// ChurnWindow is the most jobs in flight: clients x batch (a client
	// submits a batch and waits for all of it before the next).
	ChurnWindow int `json:"churn_window"`
	// ChurnWarmup jobs (of one type, no limit key) ran before the start
	// sample, and ChurnWarmupS is how long from their start until their
	// metric series had left /metrics.
	ChurnWarmup  int     `json:"churn_warmup_jobs"`
	ChurnWarmupS float64 `json:"churn_warmup_s"`

	ChurnSeconds  float64 `json:"churn_s"`
	ChurnJobsPerS float64 `json:"churn_jobs_per_s"`
	ChurnFailed   int64   `json:"churn_jobs_not_succeeded"`
	// ChurnWaitLost counts the jobs of batches whose Wait answered "not
	// found".
	ChurnWaitLost  int64   `json:"churn_jobs_wait_not_found"`
	ChurnMasterCPU float64 `json:"churn_master_cpu_s"`
	ChurnReaped    int64   `json:"churn_workers_reaped"`
	// ChurnOtherCPU is the rest of the machine's CPU during the churn, in
	// % of one core (a noise gauge).
	ChurnOtherCPU float64 `json:"churn_host_other_cpu_pct"`

	// The master at the start (after the warm-up), at its peak (each
	// field's maximum over the samples) and at the end (the first sample
	// after the last job that met both targets, else the last one).
	ChurnStart ChurnSample `json:"churn_start"`
	ChurnPeak  ChurnSample `json:"churn_peak"`
	ChurnEnd   ChurnSample `json:"churn_end"`
	// ChurnReleased says both targets were met by ChurnReleaseS seconds
	// after the last job finished (or, when not, how long it waited).
	ChurnReleased   bool    `json:"churn_released"`
	ChurnReleaseS   float64 `json:"churn_release_s"`
	ChurnDeadlineS  float64 `json:"churn_release_deadline_s"`
	ChurnRSSEndPct  float64 `json:"churn_rss_anon_end_vs_start_pct"`
	ChurnHeapEndPct float64 `json:"churn_heap_end_vs_start_pct"`
	ChurnRSSMet     bool    `json:"churn_rss_target_met"`
	ChurnLinesMet   bool    `json:"churn_metrics_lines_target_met"`
	ChurnPeakRSS    int64   `json:"churn_master_peak_rss_bytes"`
	// ChurnStartFloor and ChurnEndFloor are the master right after the
	// start and the end samples and a debug.FreeOSMemory (a collection,
	// then every free page back to the OS): what it holds live, without
	// what the Go runtime keeps for reuse. A diagnosis, not the target.
	ChurnStartFloor ChurnSample `json:"churn_start_floor"`
	ChurnEndFloor   ChurnSample `json:"churn_end_floor"`

	ChurnSamples []ChurnSample `json:"churn_samples"`
}

// ChurnSample is one look at the master process.
type ChurnSample struct {
	T     float64 `json:"t_s"`
	Phase string  `json:"phase"` // start, churn, release
	// Jobs finished since the master started (its /metrics); Live are
	// pending and running.
	Jobs        int64 `json:"jobs"`
	Live        int64 `json:"live_jobs"`
	RSS         int64 `json:"rss_bytes"`
	RSSAnon     int64 `json:"rss_anon_bytes"`
	Heap        int64 `json:"heap_inuse_bytes"`
	HeapObjects int64 `json:"heap_objects"`
	Goroutines  int   `json:"goroutines"`
	// HeapFree is heap memory the Go runtime holds free and has not
	// returned to the OS (heap_idle - heap_released: part of the RSS);
	// NextGC the heap size that triggers the next collection; GCs the
	// collections so far.
	HeapFree int64 `json:"heap_free_kept_bytes"`
	NextGC   int64 `json:"next_gc_bytes"`
	GCs      int64 `json:"gcs"`
	// Lines and Bytes are the size of one /metrics answer.
	Lines int `json:"metrics_lines"`
	Bytes int `json:"metrics_bytes"`
}

// runChurn starts a master (default_limit set, so every key gets its
// running count and rate bucket) and workers that run cfg.Types job
// types, warms it up, then runs cfg.Jobs jobs, job i with limit key i and
// type i mod cfg.Types, sampling the master; then it samples the master
// until its anon RSS is back within ChurnRSSTarget % of the start and
// /metrics under ChurnLinesTarget lines, or cfg.Duration passed.
func runChurn(ctx context.Context, cfg *Config, r *Result) error {
	ch := &Churn{ChurnKeys: cfg.Jobs, ChurnTypes: cfg.Types, ChurnRetain: cfg.Retain.String(), ChurnRetainJobs: cfg.RetainJobs,
		ChurnDefaultLimit: churnDefaultLimit, ChurnSampleS: cfg.Sample.Seconds(), ChurnWindow: cfg.Clients * cfg.Batch,
		ChurnWarmup: 2 * cfg.Clients * cfg.Batch, ChurnDeadlineS: cfg.Duration.Seconds()}
	r.Churn = ch
	cfg.note("churn: a master (%s store; retain %s or %d jobs; default_limit %s) and %d workers x %d slots, each running %d job types",
		cfg.Store, cfg.Retain, cfg.RetainJobs, churnDefaultLimit, cfg.Workers, cfg.Slots, cfg.Types)
	c, err := startCluster(ctx, cfg, cfg.Workers, func(s *masterSpec) { s.DefaultLimit = churnDefaultLimit })
	if err != nil {
		return err
	}
	defer c.close()
	p := &churnProbe{pid: c.master.pid(), url: "http://" + c.addr + "/metrics", hc: &http.Client{Timeout: 30 * time.Second},
		t0: time.Now()}
	defer p.hc.CloseIdleConnections()
	b := &churnBench{cfg: cfg, c: c, p: p, ch: ch}
	if err := b.warmUp(ctx); err != nil {
		return err
	}
	if err := b.churn(ctx); err != nil {
		return err
	}
	if err := b.release(ctx); err != nil {
		return err
	}
	return b.finish(ctx)
}

// churnBench is one run of the churn scenario: its cluster, the probe
// that samples the master, and the numbers it fills in.
type churnBench struct {
	cfg *Config
	c   *cluster
	p   *churnProbe
	ch  *Churn
}

// churnOutcome is what the churn's clients report when they are done.
type churnOutcome struct {
	failed, lost int64
	err          error
}

// warmUp runs jobs of one type without a limit key, waits until they
// have left memory and their series /metrics, then takes the start sample
// and the start floor.
func (b *churnBench) warmUp(ctx context.Context) error {
	cfg, ch, p := b.cfg, b.ch, b.p
	cfg.note("churn: warm-up, %d jobs of type %s", ch.ChurnWarmup, churnType(0))
	tw := time.Now()
	if _, _, err := churnRun(ctx, cfg, b.c.addr, ch.ChurnWarmup, func(int) jobs.Spec { return jobs.Spec{Type: churnType(0)} }); err != nil {
		return err
	}
	if err := p.waitGone(ctx, `type="`+churnType(0)+`"`, cfg.Retain+time.Minute); err != nil {
		return err
	}
	ch.ChurnWarmupS = time.Since(tw).Seconds()
	ch.heapProfile(b.c, cfg, "start")
	start, err := p.take(ctx, "start")
	if err != nil {
		return err
	}
	ch.ChurnSamples = append(ch.ChurnSamples, start)
	ch.ChurnStart = start
	if ch.ChurnStartFloor, err = p.floor(ctx, b.c, "start floor"); err != nil {
		return err
	}
	cfg.note("churn: start: anon RSS %s, heap %s, /metrics %d lines (%d bytes); after FreeOSMemory: anon RSS %s, heap %s",
		mib(start.RSSAnon), mib(start.Heap), start.Lines, start.Bytes, mib(ch.ChurnStartFloor.RSSAnon), mib(ch.ChurnStartFloor.Heap))
	return nil
}

// churn runs cfg.Jobs jobs, job i with limit key i and type i mod
// cfg.Types, sampling the master meanwhile, and fills the churn's
// figures and its last sample.
func (b *churnBench) churn(ctx context.Context) error {
	cfg, ch, c := b.cfg, b.ch, b.c
	cfg.note("churn: %d jobs, limit key i and type i mod %d, at most %d in flight", cfg.Jobs, cfg.Types, ch.ChurnWindow)
	if cfg.Profile != "" || cfg.Trace != "" {
		c.master.send("profile start")
	}
	cpu := startCPU(c)
	t0 := time.Now()
	done := make(chan churnOutcome, 1)
	go func() {
		f, l, err := churnRun(ctx, cfg, c.addr, cfg.Jobs, func(i int) jobs.Spec {
			return jobs.Spec{Type: churnType(i % cfg.Types), LimitKey: churnKey(i)}
		})
		done <- churnOutcome{f, l, err}
	}()
	res, err := b.sampleUntil(ctx, done)
	if err != nil {
		return err
	}
	if res.err != nil {
		return res.err
	}
	ch.ChurnSeconds = time.Since(t0).Seconds()
	if cfg.Profile != "" || cfg.Trace != "" {
		stopProfile(c)
	}
	ch.ChurnJobsPerS = float64(cfg.Jobs) / ch.ChurnSeconds
	ch.ChurnFailed, ch.ChurnWaitLost = res.failed, res.lost
	ch.ChurnMasterCPU = (c.masterStats().CPU - cpu.master).Seconds()
	_, ch.ChurnOtherCPU = cpu.pct()
	last, err := b.p.take(ctx, "churn")
	if err != nil {
		return err
	}
	ch.ChurnSamples = append(ch.ChurnSamples, last)
	ch.heapProfile(c, cfg, "done")
	return nil
}

// sampleUntil takes a churn sample every cfg.Sample until done answers,
// and returns its answer; when a sample fails, it waits for done and
// returns the sample's error.
func (b *churnBench) sampleUntil(ctx context.Context, done <-chan churnOutcome) (churnOutcome, error) {
	cfg, ch := b.cfg, b.ch
	tick := time.NewTicker(cfg.Sample)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			return res, nil
		case <-tick.C:
			x, err := b.p.take(ctx, "churn")
			if err != nil {
				tick.Stop()
				<-done
				return churnOutcome{}, err
			}
			ch.ChurnSamples = append(ch.ChurnSamples, x)
			cfg.note("churn: %.0fs, %d jobs, %d live, anon RSS %s, heap %s, /metrics %d lines", x.T, x.Jobs-ch.ChurnStart.Jobs, x.Live,
				mib(x.RSSAnon), mib(x.Heap), x.Lines)
		}
	}
}

// release samples the master every cfg.Sample until a sample meets both
// targets or cfg.Duration passed, keeping the last as the end.
func (b *churnBench) release(ctx context.Context) error {
	cfg, ch := b.cfg, b.ch
	cfg.note("churn: all done; waiting up to %s for the release (anon RSS within %.0f%% of %s, /metrics under %d lines)",
		cfg.Duration, ChurnRSSTarget, mib(ch.ChurnStart.RSSAnon), ChurnLinesTarget)
	tr := time.Now()
	deadline := tr.Add(cfg.Duration)
	tick := time.NewTicker(cfg.Sample)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		x, err := b.p.take(ctx, "release")
		if err != nil {
			return err
		}
		ch.ChurnSamples = append(ch.ChurnSamples, x)
		ch.ChurnEnd, ch.ChurnReleaseS = x, time.Since(tr).Seconds()
		if ch.met(x) {
			ch.ChurnReleased = true
			return nil
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		cfg.note("churn: release %.0fs: anon RSS %s (%+.1f%%), heap %s, /metrics %d lines", ch.ChurnReleaseS, mib(x.RSSAnon),
			pctOver(x.RSSAnon, ch.ChurnStart.RSSAnon), mib(x.Heap), x.Lines)
	}
}

// finish takes the end floor, fills the peak and the end's figures, and
// checks that every job succeeded and no worker was reaped.
func (b *churnBench) finish(ctx context.Context) error {
	cfg, ch, c := b.cfg, b.ch, b.c
	ch.heapProfile(c, cfg, "end")
	var err error
	if ch.ChurnEndFloor, err = b.p.floor(ctx, c, "end floor"); err != nil {
		return err
	}
	ch.analyse()
	ch.ChurnPeakRSS = c.masterStats().HWM
	st, err := c.ctl.Status(ctx)
	if err != nil {
		return err
	}
	ch.ChurnReaped = st.Reaped
	if ch.ChurnFailed > 0 || ch.ChurnWaitLost > 0 || ch.ChurnReaped > 0 {
		return fmt.Errorf("%w: churn: %d jobs did not succeed, %d not found by their wait, %d workers reaped",
			ErrCheck, ch.ChurnFailed, ch.ChurnWaitLost, ch.ChurnReaped)
	}
	return nil
}

// met reports whether sample x meets both targets.
func (ch *Churn) met(x ChurnSample) bool {
	return pctOver(x.RSSAnon, ch.ChurnStart.RSSAnon) <= ChurnRSSTarget && x.Lines < ChurnLinesTarget
}

// analyse fills the peak and the end's figures from the samples.
func (ch *Churn) analyse() {
	pk := &ch.ChurnPeak
	pk.Phase = "peak"
	for _, x := range ch.ChurnSamples {
		pk.Jobs, pk.Live = max(pk.Jobs, x.Jobs), max(pk.Live, x.Live)
		pk.RSS, pk.RSSAnon, pk.Heap = max(pk.RSS, x.RSS), max(pk.RSSAnon, x.RSSAnon), max(pk.Heap, x.Heap)
		pk.HeapObjects, pk.Goroutines = max(pk.HeapObjects, x.HeapObjects), max(pk.Goroutines, x.Goroutines)
		pk.Lines, pk.Bytes = max(pk.Lines, x.Lines), max(pk.Bytes, x.Bytes)
	}
	ch.ChurnRSSEndPct = round(pctOver(ch.ChurnEnd.RSSAnon, ch.ChurnStart.RSSAnon), 2)
	ch.ChurnHeapEndPct = round(pctOver(ch.ChurnEnd.Heap, ch.ChurnStart.Heap), 2)
	ch.ChurnRSSMet = ch.ChurnRSSEndPct <= ChurnRSSTarget
	ch.ChurnLinesMet = ch.ChurnEnd.Lines < ChurnLinesTarget
	ch.ChurnSeconds, ch.ChurnJobsPerS = round(ch.ChurnSeconds, 3), round(ch.ChurnJobsPerS, 1)
	ch.ChurnReleaseS, ch.ChurnWarmupS = round(ch.ChurnReleaseS, 3), round(ch.ChurnWarmupS, 3)
	ch.ChurnMasterCPU, ch.ChurnOtherCPU = round(ch.ChurnMasterCPU, 3), round(ch.ChurnOtherCPU, 1)
}

// heapProfile asks the master for a heap profile (cfg.HeapProfile-NAME.pb.gz)
// and waits (up to 30s) for the file to appear.
func (ch *Churn) heapProfile(c *cluster, cfg *Config, name string) {
	if cfg.HeapProfile == "" {
		return
	}
	path := cfg.HeapProfile + "-" + name + ".pb.gz"
	if err := c.master.send("heap " + path); err != nil {
		cfg.note("churn: heap profile %s: %v", path, err)
		return
	}
	waitFile(path, 30*time.Second)
}

func abs(x int64) int64 { return max(x, -x) }

func pctOver(x, base int64) float64 {
	if base == 0 {
		return 0
	}
	return 100 * float64(x-base) / float64(base)
}

// churnRun submits n jobs, spec(0) to spec(n-1), with cfg.Clients clients
// each submitting a batch of cfg.Batch and waiting for it to be final
// before the next. It returns the jobs that did not succeed and those
// whose wait did not find them.
func churnRun(ctx context.Context, cfg *Config, addr string, n int, spec func(i int) jobs.Spec) (failed, lost int64, err error) {
	var next, nf, nl atomic.Int64
	errc := make(chan error, cfg.Clients)
	for range cfg.Clients {
		go func() {
			errc <- func() error {
				caller, err := rpcapi.NewCaller(addr, cfg.Transport)
				if err != nil {
					return err
				}
				defer caller.Close()
				mc := rpcapi.MasterClient{C: caller}
				specs := make([]jobs.Spec, 0, cfg.Batch)
				for {
					lo := int(next.Add(int64(cfg.Batch))) - cfg.Batch
					if lo >= n {
						return nil
					}
					specs = specs[:0]
					for i := lo; i < min(lo+cfg.Batch, n); i++ {
						specs = append(specs, spec(i))
					}
					rep, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs})
					if err != nil {
						return fmt.Errorf("bench: churn submit: %w", err)
					}
					if err := waitBatch(ctx, mc, rep.IDs, &nf, &nl); err != nil {
						return fmt.Errorf("bench: churn wait: %w", err)
					}
				}
			}()
		}()
	}
	var errs []error
	for range cfg.Clients {
		errs = append(errs, <-errc)
	}
	return nf.Load(), nl.Load(), errors.Join(errs...)
}

func (ch *Churn) header(w io.Writer, p Params) {
	fmt.Fprintf(w, "  %d limit keys over %d job types (job i: key i, type i mod %d); %d workers x %d slots, each running every type\n",
		ch.ChurnKeys, ch.ChurnTypes, ch.ChurnTypes, p.Workers, p.Slots)
	fmt.Fprintf(w, "  %d clients x batch %d (submit, wait, again), store %s, transport %s; retain %s or %d jobs; default_limit %s; a sample every %gs\n",
		p.Clients, p.Batch, p.Store, p.Transport, ch.ChurnRetain, ch.ChurnRetainJobs, ch.ChurnDefaultLimit, ch.ChurnSampleS)
}

func (ch *Churn) table(row func(k, v string, note ...string)) {
	s, pk, e := ch.ChurnStart, ch.ChurnPeak, ch.ChurnEnd
	row("jobs", strconv.Itoa(ch.ChurnKeys), fmt.Sprintf("in %.1fs, %.0f jobs/s; at most %d in flight; not succeeded %d; not found by their wait %d; workers reaped %d",
		ch.ChurnSeconds, ch.ChurnJobsPerS, ch.ChurnWindow, ch.ChurnFailed, ch.ChurnWaitLost, ch.ChurnReaped))
	row("warm-up", strconv.Itoa(ch.ChurnWarmup), fmt.Sprintf("jobs of one type without a limit key, %.1fs until their series left /metrics", ch.ChurnWarmupS))
	row("master CPU", fmt.Sprintf("%.1f s", ch.ChurnMasterCPU), fmt.Sprintf("during the churn (%.0f µs per job); other processes on the host used %.0f%% of a core meanwhile",
		1e6*ch.ChurnMasterCPU/float64(max(ch.ChurnKeys, 1)), ch.ChurnOtherCPU))
	row("anon RSS start / peak / end", fmt.Sprintf("%s / %s / %s", mib(s.RSSAnon), mib(pk.RSSAnon), mib(e.RSSAnon)), "RssAnon: heap and stacks, without mapped files")
	row("RSS end vs start %", fmt.Sprintf("%+.1f%%", ch.ChurnRSSEndPct), fmt.Sprintf("anon; target at most +%.0f%%: %s", ChurnRSSTarget, metWord(ch.ChurnRSSMet)))
	row("RSS start / peak / end", fmt.Sprintf("%s / %s / %s", mib(s.RSS), mib(pk.RSS), mib(e.RSS)), "VmRSS, with the store's mapped pages; VmHWM "+mib(ch.ChurnPeakRSS))
	row("heap in use start / peak / end", fmt.Sprintf("%s / %s / %s", mib(s.Heap), mib(pk.Heap), mib(e.Heap)), fmt.Sprintf("end vs start %+.1f%%; objects %d / %d / %d",
		ch.ChurnHeapEndPct, s.HeapObjects, pk.HeapObjects, e.HeapObjects))
	row("/metrics lines start/peak/end", fmt.Sprintf("%d / %d / %d", s.Lines, pk.Lines, e.Lines), fmt.Sprintf("target under %d: %s", ChurnLinesTarget, metWord(ch.ChurnLinesMet)))
	row("/metrics bytes start/peak/end", fmt.Sprintf("%d / %d / %d", s.Bytes, pk.Bytes, e.Bytes))
	sf, ef := ch.ChurnStartFloor, ch.ChurnEndFloor
	row("after FreeOSMemory start / end", fmt.Sprintf("%s / %s", mib(sf.RSSAnon), mib(ef.RSSAnon)), fmt.Sprintf("anon RSS %+.1f%%; live heap %s / %s (%+.1f%%), objects %d / %d: what the master holds, without the runtime's free pages",
		pctOver(ef.RSSAnon, sf.RSSAnon), mib(sf.Heap), mib(ef.Heap), pctOver(ef.Heap, sf.Heap), sf.HeapObjects, ef.HeapObjects))
	row("goroutines start / peak / end", fmt.Sprintf("%d / %d / %d", s.Goroutines, pk.Goroutines, e.Goroutines))
	if ch.ChurnReleased {
		row("released", fmt.Sprintf("%.1f s", ch.ChurnReleaseS), "after the last job finished, both targets met (first sample that met them)")
	} else {
		row("released", "no", fmt.Sprintf("targets not both met %.1fs after the last job finished (deadline %gs); end is the last sample", ch.ChurnReleaseS, ch.ChurnDeadlineS))
	}
}

func metWord(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// writeSamples writes the samples as a table, thinned to about 40 rows
// (the start, the end and the peak's rows always kept).
func (ch *Churn) writeSamples(w io.Writer) error {
	fmt.Fprintf(w, "\nsamples (master process)\n")
	tw := newTable(w)
	fmt.Fprintf(tw, "  t\tphase\tjobs\tlive\tanon RSS\tRSS\theap\theap objects\tfree kept\tnext GC\tGCs\tgoroutines\t/metrics lines\t/metrics bytes\n")
	ss := ch.ChurnSamples
	step := max(len(ss)/40, 1)
	for i, x := range ss {
		if i%step != 0 && i != len(ss)-1 && x.RSSAnon != ch.ChurnPeak.RSSAnon && x.Lines != ch.ChurnPeak.Lines && ss[max(i-1, 0)].Phase == x.Phase {
			continue
		}
		fmt.Fprintf(tw, "  %.1fs\t%s\t%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\n", x.T, x.Phase, x.Jobs, x.Live, mib(x.RSSAnon), mib(x.RSS), mib(x.Heap),
			x.HeapObjects, mib(x.HeapFree), mib(x.NextGC), x.GCs, x.Goroutines, x.Lines, x.Bytes)
	}
	return tw.Flush()
}

func fileSize(path string) (int64, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return fi.Size(), true
}

// parseLimit parses the master role's DefaultLimit: "", "C", "C,RATE"
// or ",RATE" (RATE as in master.ParseRate).
func parseLimit(s string) (master.Limit, error) {
	var l master.Limit
	if s == "" {
		return l, nil
	}
	c, rate, _ := strings.Cut(s, ",")
	if c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return l, fmt.Errorf("bench: limit %q: want CONCURRENCY[,RATE]", s)
		}
		l.Concurrency = n
	}
	if rate != "" {
		r, err := master.ParseRate(rate)
		if err != nil {
			return l, fmt.Errorf("bench: limit %q: %w", s, err)
		}
		l.Rate = r
	}
	return l, nil
}
