package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// masterHistoryEvery is how often the master sweeps its store for finished
// jobs past history (master/history.go, historyEvery): the soak says how
// many sweeps a run saw. Keep it in step.
const masterHistoryEvery = time.Minute

// Soak is the soak scenario's numbers.
type Soak struct {
	SoakRetain      string  `json:"soak_retain"`
	SoakRetainJobs  int     `json:"soak_retain_jobs"`
	SoakHistory     string  `json:"soak_history"`
	SoakHistoryJobs int     `json:"soak_history_jobs"`
	SoakSampleS     float64 `json:"soak_sample_s"`
	// SoakWindow is the most jobs in flight: clients x batch (a client
	// submits a batch and waits for all of it before the next).
	SoakWindow  int     `json:"soak_window"`
	SoakSeconds float64 `json:"soak_s"`
	SoakJobs    int64   `json:"soak_jobs"`
	SoakFailed  int64   `json:"soak_jobs_not_succeeded"`
	// SoakWaitLost counts the jobs of batches whose Wait answered "not
	// found": they had left memory (retain_jobs) before the wait came and
	// the store could not read them back. Their outcome is unknown.
	SoakWaitLost int64   `json:"soak_jobs_wait_not_found"`
	SoakJobsPerS float64 `json:"soak_jobs_per_s"`
	// Throughput over the first and the last tenth of the run's time.
	SoakFirstTenthPerS float64 `json:"soak_first_tenth_jobs_per_s"`
	SoakLastTenthPerS  float64 `json:"soak_last_tenth_jobs_per_s"`
	SoakMasterCPUS     float64 `json:"soak_master_cpu_s"`
	SoakMasterPeakRSS  int64   `json:"soak_master_peak_rss_bytes"`
	SoakReaped         int64   `json:"soak_workers_reaped"`
	// SoakOtherCPU is the rest of the machine's CPU during the stream, in
	// % of one core (a noise gauge).
	SoakOtherCPU float64 `json:"soak_host_other_cpu_pct"`

	SoakSamples []SoakSample `json:"soak_samples"`
	// Least-squares slopes, in bytes per million jobs, over the
	// SoakFitSamples samples taken after the first 20% of the jobs.
	SoakFitSamples   int     `json:"soak_fit_samples"`
	SoakRSSSlope     float64 `json:"soak_rss_bytes_per_mjob"`
	SoakAnonSlope    float64 `json:"soak_rss_anon_bytes_per_mjob"`
	SoakHeapSlope    float64 `json:"soak_heap_bytes_per_mjob"`
	SoakDirSlope     float64 `json:"soak_data_dir_bytes_per_mjob"`
	SoakDirBlksSlope float64 `json:"soak_data_dir_alloc_bytes_per_mjob"`
	// Growth from the mean over the 2nd tenth of the jobs to the mean over
	// the last tenth, in %.
	SoakRSSGrowth     float64 `json:"soak_rss_growth_pct"`
	SoakAnonGrowth    float64 `json:"soak_rss_anon_growth_pct"`
	SoakHeapGrowth    float64 `json:"soak_heap_growth_pct"`
	SoakDirGrowth     float64 `json:"soak_data_dir_growth_pct"`
	SoakDirBlksGrowth float64 `json:"soak_data_dir_alloc_growth_pct"`
	// The measure, when the run got that far: the mean over the
	// 2nd million jobs to the mean over the 10th, in %.
	SoakReached10M    bool    `json:"soak_reached_10m"`
	SoakRSSGrowth10M  float64 `json:"soak_rss_growth_2nd_to_10th_million_pct,omitempty"`
	SoakAnonGrowth10M float64 `json:"soak_rss_anon_growth_2nd_to_10th_million_pct,omitempty"`
	SoakHeapGrowth10M float64 `json:"soak_heap_growth_2nd_to_10th_million_pct,omitempty"`
	SoakDirGrowth10M  float64 `json:"soak_data_dir_growth_2nd_to_10th_million_pct,omitempty"`

	// History sweeps: how many deleted jobs (from the master's log), and
	// how many jobs they deleted.
	SoakSweepsLogged int   `json:"soak_history_sweeps_deleting"`
	SoakSwept        int64 `json:"soak_history_jobs_deleted"`

	// The restart after a kill -9: from starting the new process to its
	// first Status answer; of it, master.Start (open the store, replay the
	// log, load the jobs in memory).
	SoakRestartS       float64 `json:"soak_restart_ready_s"`
	SoakRestartStartS  float64 `json:"soak_restart_start_s"`
	SoakRestartRSS     int64   `json:"soak_restart_rss_bytes"`
	SoakRestartRSSFile int64   `json:"soak_restart_rss_file_bytes"`
	SoakRestartFinal   int     `json:"soak_restart_final_jobs"`
	SoakRestartNote    string  `json:"soak_restart_note,omitempty"`
}

// SoakSample is one look at the master process during the soak.
type SoakSample struct {
	T        float64 `json:"t_s"`
	Jobs     int64   `json:"jobs"`       // finished since the master started (its /metrics)
	JobsPerS float64 `json:"jobs_per_s"` // since the previous sample
	RSS      int64   `json:"rss_bytes"`  // VmRSS
	// RSSAnon is RssAnon (heap, stacks): what the master holds; RSSFile
	// is RssFile (the bbolt file's mapped pages the master touched).
	RSSAnon    int64 `json:"rss_anon_bytes"`
	RSSFile    int64 `json:"rss_file_bytes"`
	Heap       int64 `json:"heap_inuse_bytes"`
	Goroutines int   `json:"goroutines"`
	FDs        int   `json:"fds"`
	// Stored is the finished jobs the master counts (memory and store).
	Stored  int64 `json:"final_jobs_counted"`
	Dir     int64 `json:"data_dir_bytes"`       // sum of file sizes
	DirBlks int64 `json:"data_dir_alloc_bytes"` // sum of allocated blocks
}

// runSoak streams no-op jobs through a master with short retention for
// cfg.Duration (or cfg.Jobs jobs), samples the master every cfg.Sample,
// then kills it with SIGKILL and times its restart on the same data dir.
func runSoak(ctx context.Context, cfg *Config, r *Result) error {
	s := &Soak{SoakRetain: cfg.Retain.String(), SoakRetainJobs: cfg.RetainJobs, SoakHistory: cfg.History.String(),
		SoakHistoryJobs: cfg.HistoryJobs, SoakSampleS: cfg.Sample.Seconds(), SoakWindow: cfg.Clients * cfg.Batch}
	r.Soak = s
	// The master logs at info at least, so that its history sweeps can be
	// counted; the log is filtered back to cfg.LogLevel on the way out.
	sl := newSweepLog(cfg.Stderr, cfg.LogLevel)
	scfg := *cfg
	scfg.Stderr = sl
	cfg.note("soak: a master (%s store; retain %s or %d jobs, history %s or %d jobs) and %d workers x %d slots; %s",
		cfg.Store, cfg.Retain, cfg.RetainJobs, cfg.History, cfg.HistoryJobs, cfg.Workers, cfg.Slots, soakBound(cfg))
	c, err := startCluster(ctx, &scfg, cfg.Workers, func(s *masterSpec) { s.LogLevel = atLeastInfo(cfg.LogLevel) })
	if err != nil {
		return err
	}
	defer c.close()
	smp := &sampler{pid: c.master.pid(), url: "http://" + c.addr + "/metrics", dir: c.dataDir,
		hc: &http.Client{Timeout: 30 * time.Second}}
	defer smp.hc.CloseIdleConnections()
	if err := s.stream(ctx, cfg, c, smp); err != nil {
		return err
	}
	end := c.masterStats()
	s.SoakMasterCPUS, s.SoakMasterPeakRSS = end.CPU.Seconds(), end.HWM
	st, err := c.ctl.Status(ctx)
	if err != nil {
		return err
	}
	s.SoakReaped = st.Reaped
	s.SoakSweepsLogged, s.SoakSwept = sl.counts()
	s.analyse()
	rerr := s.restart(ctx, c)
	if rerr != nil && !errors.Is(rerr, ErrCheck) {
		return rerr
	}
	if s.SoakFailed > 0 || s.SoakReaped > 0 || s.SoakWaitLost > 0 {
		return fmt.Errorf("%w: soak: %d jobs did not succeed, %d not found by their wait, %d workers reaped",
			ErrCheck, s.SoakFailed, s.SoakWaitLost, s.SoakReaped)
	}
	return rerr
}

func soakBound(cfg *Config) string {
	switch {
	case cfg.Jobs > 0 && cfg.Duration > 0:
		return fmt.Sprintf("%d jobs or %s, whichever comes first", cfg.Jobs, cfg.Duration)
	case cfg.Jobs > 0:
		return fmt.Sprintf("%d jobs", cfg.Jobs)
	}
	return "for " + cfg.Duration.String()
}

// stream runs the submitters until the duration or the job count is
// reached, sampling the master meanwhile.
func (s *Soak) stream(ctx context.Context, cfg *Config, c *cluster, smp *sampler) error {
	var left, done, failed, lost atomic.Int64
	var stop atomic.Bool
	left.Store(int64(cfg.Jobs))
	if cfg.Jobs == 0 {
		left.Store(math.MaxInt64)
	}
	if cfg.Duration > 0 {
		t := time.AfterFunc(cfg.Duration, func() { stop.Store(true) })
		defer t.Stop()
	}
	take := func() int {
		for !stop.Load() {
			l := left.Load()
			if l <= 0 {
				return 0
			}
			n := min(int64(cfg.Batch), l)
			if left.CompareAndSwap(l, l-n) {
				return int(n)
			}
		}
		return 0
	}
	t0 := time.Now()
	first, err := smp.take(ctx, t0, nil)
	if err != nil {
		return err
	}
	s.SoakSamples = append(s.SoakSamples, first)
	if cfg.Profile != "" || cfg.Trace != "" {
		c.master.send("profile start")
		defer stopProfile(c)
	}
	cpu := startCPU(c)
	defer func() { _, s.SoakOtherCPU = cpu.pct() }()
	errc := make(chan error, cfg.Clients)
	for range cfg.Clients {
		go func() { errc <- submitWait(ctx, cfg, c.addr, take, &done, &failed, &lost) }()
	}
	tick := time.NewTicker(cfg.Sample)
	defer tick.Stop()
	var errs []error
	for running := cfg.Clients; running > 0; {
		select {
		case err := <-errc:
			running--
			if err != nil {
				stop.Store(true)
				errs = append(errs, err)
			}
		case <-tick.C:
			sm, err := smp.take(ctx, t0, &s.SoakSamples[len(s.SoakSamples)-1])
			if err != nil {
				stop.Store(true)
				errs = append(errs, err)
				continue
			}
			s.SoakSamples = append(s.SoakSamples, sm)
			cfg.note("soak: %.0fs, %d jobs, %.0f jobs/s, RSS %s (anon %s), heap %s, goroutines %d, fds %d, final %d, data dir %s",
				sm.T, sm.Jobs, sm.JobsPerS, mib(sm.RSS), mib(sm.RSSAnon), mib(sm.Heap), sm.Goroutines, sm.FDs, sm.Stored, mib(sm.Dir))
		}
	}
	s.SoakSeconds = time.Since(t0).Seconds()
	if len(errs) > 0 {
		return errs[0]
	}
	last, err := smp.take(ctx, t0, &s.SoakSamples[len(s.SoakSamples)-1])
	if err != nil {
		return err
	}
	s.SoakSamples = append(s.SoakSamples, last)
	s.SoakJobs, s.SoakFailed, s.SoakWaitLost = done.Load(), failed.Load(), lost.Load()
	s.SoakJobsPerS = float64(s.SoakJobs) / s.SoakSeconds
	return nil
}

// submitWait submits batches of no-op jobs, each once the previous one is
// final, while take hands out a batch size.
func submitWait(ctx context.Context, cfg *Config, addr string, take func() int, done, failed, lost *atomic.Int64) error {
	caller, err := rpcapi.NewCaller(addr, cfg.Transport)
	if err != nil {
		return err
	}
	defer caller.Close()
	mc := rpcapi.MasterClient{C: caller}
	specs := make([]jobs.Spec, cfg.Batch)
	for i := range specs {
		specs[i] = jobs.Spec{Type: NoopType, Retries: cfg.Retries}
	}
	for n := take(); n > 0; n = take() {
		rep, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs[:n]})
		if err != nil {
			return fmt.Errorf("bench: soak submit: %w", err)
		}
		if err := waitBatch(ctx, mc, rep.IDs, failed, lost); err != nil {
			return fmt.Errorf("bench: soak wait: %w", err)
		}
		done.Add(int64(n))
	}
	return nil
}

// restartTimeout bounds the soak's restart: a store of tens of millions
// of jobs takes minutes to load.
const restartTimeout = 20 * time.Minute

// restart stops the workers, kills the master with SIGKILL and starts a
// new one on the same data dir, timing it until a Status call answers. A
// master not ready in time is a failed check, not a lost report.
func (s *Soak) restart(ctx context.Context, c *cluster) error {
	if c.dataDir == "" {
		s.SoakRestartNote = "restart skipped: the memory store keeps nothing across restarts"
		return nil
	}
	c.cfg.note("soak: stopping the workers, kill -9 of the master, starting it again on its data dir")
	c.stopWorkers()
	c.master.kill()
	t := time.Now()
	m, err := spawn(c.cfg.Launch, RoleMaster, c.masterSpec(), c.cfg.Stderr, restartTimeout)
	if err != nil {
		s.SoakRestartS = time.Since(t).Seconds()
		s.SoakRestartNote = fmt.Sprintf("the master was not ready %.0fs after its restart: %v", s.SoakRestartS, err)
		return fmt.Errorf("%w: soak: %s", ErrCheck, s.SoakRestartNote)
	}
	c.ctl.C.Close()
	c.master, c.addr = m, m.hello.Addr
	c.ctl = rpcapi.MasterClient{C: rpcapi.NewClient(c.addr)}
	st, err := c.ctl.Status(ctx)
	if err != nil {
		s.SoakRestartNote = fmt.Sprintf("status after the restart: %v", err)
		return fmt.Errorf("%w: soak: %s", ErrCheck, s.SoakRestartNote)
	}
	s.SoakRestartS = time.Since(t).Seconds()
	s.SoakRestartStartS = m.hello.StartS
	s.SoakRestartFinal = finalCount(st)
	ps := c.masterStats()
	s.SoakRestartRSS, s.SoakRestartRSSFile = ps.RSS, ps.RSSFile
	return nil
}

// stopProfile asks the master to stop its CPU profile and trace and waits
// (up to 30s) until their files stop growing, so that a kill -9 after it
// leaves them whole.
func stopProfile(c *cluster) {
	c.master.send("profile stop")
	for _, f := range []string{c.cfg.Profile, c.cfg.Trace} {
		if f == "" {
			continue
		}
		last := int64(-1)
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			fi, err := os.Stat(f)
			if err == nil && fi.Size() > 0 && fi.Size() == last {
				break
			}
			if err == nil {
				last = fi.Size()
			}
		}
	}
}

// stopWorkers stops every worker process cleanly (they log out).
func (c *cluster) stopWorkers() {
	c.mu.Lock()
	ws := c.workers
	c.workers = nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ws {
		wg.Go(func() { p.stop(15 * time.Second) })
	}
	wg.Wait()
}

// analyse fits the slopes and computes the growth and the throughput of
// the first and last tenths from the samples.
func (s *Soak) analyse() {
	ss := s.SoakSamples
	if len(ss) < 2 {
		return
	}
	n := ss[len(ss)-1].Jobs
	var fit []SoakSample
	for _, x := range ss {
		if 5*x.Jobs >= n {
			fit = append(fit, x)
		}
	}
	rss := func(x *SoakSample) float64 { return float64(x.RSS) }
	anon := func(x *SoakSample) float64 { return float64(x.RSSAnon) }
	heap := func(x *SoakSample) float64 { return float64(x.Heap) }
	dir := func(x *SoakSample) float64 { return float64(x.Dir) }
	blks := func(x *SoakSample) float64 { return float64(x.DirBlks) }
	s.SoakFitSamples = len(fit)
	s.SoakRSSSlope, s.SoakAnonSlope, s.SoakHeapSlope = slope(fit, rss), slope(fit, anon), slope(fit, heap)
	s.SoakDirSlope, s.SoakDirBlksSlope = slope(fit, dir), slope(fit, blks)
	growth := func(y func(*SoakSample) float64, lo1, hi1, lo2, hi2 int64) float64 {
		a, b := meanOver(ss, y, lo1, hi1), meanOver(ss, y, lo2, hi2)
		if a == 0 {
			return 0
		}
		return 100 * (b - a) / a
	}
	s.SoakRSSGrowth = growth(rss, n/10, 2*n/10, 9*n/10, n+1)
	s.SoakAnonGrowth = growth(anon, n/10, 2*n/10, 9*n/10, n+1)
	s.SoakHeapGrowth = growth(heap, n/10, 2*n/10, 9*n/10, n+1)
	s.SoakDirGrowth = growth(dir, n/10, 2*n/10, 9*n/10, n+1)
	s.SoakDirBlksGrowth = growth(blks, n/10, 2*n/10, 9*n/10, n+1)
	const m = 1000000
	if s.SoakReached10M = n >= 10*m; s.SoakReached10M {
		s.SoakRSSGrowth10M = growth(rss, m, 2*m, 9*m, 10*m)
		s.SoakAnonGrowth10M = growth(anon, m, 2*m, 9*m, 10*m)
		s.SoakHeapGrowth10M = growth(heap, m, 2*m, 9*m, 10*m)
		s.SoakDirGrowth10M = growth(dir, m, 2*m, 9*m, 10*m)
	}
	T := ss[len(ss)-1].T
	if T > 0 {
		s.SoakFirstTenthPerS = (jobsAt(ss, T/10) - jobsAt(ss, 0)) / (T / 10)
		s.SoakLastTenthPerS = (jobsAt(ss, T) - jobsAt(ss, 0.9*T)) / (T / 10)
	}
}

// slope is the least-squares slope of y over jobs, per million jobs; 0
// with fewer than two distinct job counts.
func slope(ss []SoakSample, y func(*SoakSample) float64) float64 {
	var sx, sy float64
	for i := range ss {
		sx += float64(ss[i].Jobs) / 1e6
		sy += y(&ss[i])
	}
	k := float64(len(ss))
	mx, my := sx/k, sy/k
	var sxy, sxx float64
	for i := range ss {
		dx := float64(ss[i].Jobs)/1e6 - mx
		sxy += dx * (y(&ss[i]) - my)
		sxx += dx * dx
	}
	if len(ss) < 2 || sxx == 0 {
		return 0
	}
	return sxy / sxx
}

// meanOver is the mean of y over the samples with lo <= Jobs < hi, or, when
// there is none, y interpolated at the middle of the range.
func meanOver(ss []SoakSample, y func(*SoakSample) float64, lo, hi int64) float64 {
	var sum float64
	k := 0
	for i := range ss {
		if ss[i].Jobs >= lo && ss[i].Jobs < hi {
			sum += y(&ss[i])
			k++
		}
	}
	if k > 0 {
		return sum / float64(k)
	}
	mid := float64(lo+hi) / 2
	for i := 1; i < len(ss); i++ {
		a, b := &ss[i-1], &ss[i]
		if float64(b.Jobs) >= mid && b.Jobs > a.Jobs {
			f := (mid - float64(a.Jobs)) / float64(b.Jobs-a.Jobs)
			return y(a) + max(f, 0)*(y(b)-y(a))
		}
	}
	return y(&ss[len(ss)-1])
}

// jobsAt is the jobs done at time t (seconds), interpolated between samples.
func jobsAt(ss []SoakSample, t float64) float64 {
	for i := 1; i < len(ss); i++ {
		a, b := ss[i-1], ss[i]
		if b.T >= t && b.T > a.T {
			f := max((t-a.T)/(b.T-a.T), 0)
			return float64(a.Jobs) + f*float64(b.Jobs-a.Jobs)
		}
	}
	return float64(ss[len(ss)-1].Jobs)
}

func (s *Soak) table(row func(k, v string, note ...string)) {
	row("jobs", fmt.Sprintf("%d", s.SoakJobs), fmt.Sprintf("in %.0fs, %.0f jobs/s; at most %d in flight; not succeeded %d; not found by their wait %d",
		s.SoakSeconds, s.SoakJobsPerS, s.SoakWindow, s.SoakFailed, s.SoakWaitLost))
	row("throughput first / last tenth", fmt.Sprintf("%.0f / %.0f jobs/s", s.SoakFirstTenthPerS, s.SoakLastTenthPerS),
		fmt.Sprintf("last/first %.2f; other processes on the host used %.0f%% of a core meanwhile", ratioOf(s.SoakLastTenthPerS, s.SoakFirstTenthPerS), s.SoakOtherCPU))
	note := fmt.Sprintf("least squares over the %d samples after the first 20%% of the jobs", s.SoakFitSamples)
	row("RSS slope", mibPerM(s.SoakRSSSlope), note)
	row("RSS anon slope", mibPerM(s.SoakAnonSlope), "RssAnon: heap and stacks, without the mapped store file")
	row("heap in use slope", mibPerM(s.SoakHeapSlope))
	row("data dir slope", mibPerM(s.SoakDirSlope), "allocated: "+mibPerM(s.SoakDirBlksSlope))
	row("growth 2nd -> last tenth", fmt.Sprintf("RSS %+.1f%% (anon %+.1f%%), heap %+.1f%%", s.SoakRSSGrowth, s.SoakAnonGrowth, s.SoakHeapGrowth),
		fmt.Sprintf("data dir %+.1f%% (allocated %+.1f%%); means over the tenths of the jobs", s.SoakDirGrowth, s.SoakDirBlksGrowth))
	if s.SoakReached10M {
		row("growth 2nd -> 10th million", fmt.Sprintf("RSS %+.1f%% (anon %+.1f%%), heap %+.1f%%", s.SoakRSSGrowth10M, s.SoakAnonGrowth10M, s.SoakHeapGrowth10M),
			fmt.Sprintf("data dir %+.1f%%; target < 10%%", s.SoakDirGrowth10M))
	} else {
		row("growth 2nd -> 10th million", "n/a", fmt.Sprintf("the run did %d jobs, fewer than 10 million", s.SoakJobs))
	}
	row("master CPU", fmt.Sprintf("%.1f s", s.SoakMasterCPUS), fmt.Sprintf("%.1f µs per job; peak RSS %s; workers reaped %d",
		1e6*s.SoakMasterCPUS/math.Max(float64(s.SoakJobs), 1), mib(s.SoakMasterPeakRSS), s.SoakReaped))
	row("history sweeps", fmt.Sprintf("%d", s.SoakSweepsLogged), fmt.Sprintf("that deleted jobs, %d jobs in all (from the master's log); a sweep runs every %s, and within a second when history_jobs is passed by a tenth",
		s.SoakSwept, masterHistoryEvery))
	if s.SoakSweepsLogged < 4 {
		row("", "", fmt.Sprintf("only %d sweep(s) deleted jobs: a run this short does not show the store's steady state", s.SoakSweepsLogged))
	}
	if s.SoakRestartNote != "" {
		row("restart", "", s.SoakRestartNote)
		return
	}
	row("restart after kill -9", fmt.Sprintf("%.2f s", s.SoakRestartS), fmt.Sprintf("new process to a Status answer; master.Start %.2f s; %d final jobs counted; RSS %s (mapped files %s)",
		s.SoakRestartStartS, s.SoakRestartFinal, mib(s.SoakRestartRSS), mib(s.SoakRestartRSSFile)))
}

func ratioOf(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func mibPerM(b float64) string { return fmt.Sprintf("%+.2f MiB per million jobs", b/(1<<20)) }
