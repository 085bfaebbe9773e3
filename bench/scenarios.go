package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// Heartbeats is the heartbeats scenario's numbers.
type Heartbeats struct {
	HBWorkers   int     `json:"hb_workers"`
	HBIntervalS float64 `json:"hb_interval_s"`
	HBWindowS   float64 `json:"hb_window_s"`
	// HBRegisterS is how long the fleet took to register (32 at a time).
	HBRegisterS float64 `json:"hb_register_s"`
	HBBeats     int     `json:"hb_beats"`
	HBBeatsPerS float64 `json:"hb_beats_per_s"`
	HBErrors    int     `json:"hb_errors"`
	HBUnknown   int     `json:"hb_unknown"`
	HBRTTP50us  float64 `json:"hb_rtt_p50_us"`
	HBRTTP99us  float64 `json:"hb_rtt_p99_us"`
	HBRTTMaxus  float64 `json:"hb_rtt_max_us"`
	// HBMasterCPUPct is the master's CPU time over the window's wall time.
	HBMasterCPUPct  float64 `json:"hb_master_cpu_pct"`
	HBMasterCPUS    float64 `json:"hb_master_cpu_s"`
	HBMasterPeakRSS int64   `json:"hb_master_peak_rss_bytes"`
	HBBenchCPUPct   float64 `json:"hb_bench_process_cpu_pct"`
	// HBOtherCPUPct is the rest of the machine's CPU use over the window
	// (a noise gauge), in % of one core.
	HBOtherCPUPct float64 `json:"hb_host_other_cpu_pct"`
	// HBStatusus is the round trip of one Status call with the fleet in it.
	HBStatusus float64 `json:"hb_status_call_us"`
	HBReaped   int64   `json:"hb_workers_reaped"`
}

// sim is one simulated worker's record.
type sim struct {
	rtts          []time.Duration
	errs, unknown int
}

// runHeartbeats registers cfg.Workers simulated pull-mode workers, each
// with a client of its own (gob: one TCP connection each; xmlrpc: HTTP
// requests over rpcapi's shared keep-alive pool), beats them every
// heartbeat interval, and measures the master over cfg.Window.
func runHeartbeats(ctx context.Context, cfg *Config, r *Result) error {
	h := &Heartbeats{HBWorkers: cfg.Workers, HBWindowS: cfg.Window.Seconds()}
	r.Heartbeats = h
	c, err := startCluster(ctx, cfg, 0)
	if err != nil {
		return err
	}
	defer c.close()
	n := cfg.Workers
	cfg.note("registering %d simulated workers", n)
	regStart := time.Now()
	fl, err := startFleet(ctx, c.addr, cfg.Transport, n, 1)
	if err != nil {
		return err
	}
	defer fl.stop()
	h.HBRegisterS = time.Since(regStart).Seconds()
	iv := fl.interval
	h.HBIntervalS = iv.Seconds()
	cfg.note("registered in %.2fs; warming up %s, then measuring %s", h.HBRegisterS, 2*iv, cfg.Window)
	time.Sleep(2 * iv) // every simulated worker beats at least once

	before := c.masterStats()
	self0 := selfCPU()
	host0 := hostBusy()
	t0 := time.Now()
	if cfg.Profile != "" || cfg.Trace != "" {
		c.master.send("profile start")
	}
	fl.phase.Store(1)
	time.Sleep(cfg.Window)
	fl.phase.Store(0)
	wall := time.Since(t0)
	after := c.masterStats()
	self1 := selfCPU()
	host1 := hostBusy()
	if cfg.Profile != "" || cfg.Trace != "" {
		c.master.send("profile stop")
	}
	h.HBMasterCPUS = (after.CPU - before.CPU).Seconds()
	h.HBMasterCPUPct = 100 * h.HBMasterCPUS / wall.Seconds()
	h.HBBenchCPUPct = 100 * (self1 - self0).Seconds() / wall.Seconds()
	h.HBMasterPeakRSS = after.HWM
	h.HBOtherCPUPct = max(100*((host1-host0)-(after.CPU-before.CPU)-(self1-self0)).Seconds()/wall.Seconds(), 0)

	ts := time.Now()
	st, err := c.ctl.Status(ctx)
	if err != nil {
		return err
	}
	h.HBStatusus = micros(time.Since(ts))
	h.HBReaped = st.Reaped
	fl.stop()
	b := fl.summary(1)
	h.HBBeats, h.HBErrors, h.HBUnknown = b.N, b.Errors, b.Unknown
	h.HBBeatsPerS = float64(b.N) / wall.Seconds()
	h.HBRTTP50us, h.HBRTTP99us, h.HBRTTMaxus = b.P50us, b.P99us, b.Maxus
	if h.HBErrors > 0 || h.HBUnknown > 0 || h.HBReaped > 0 {
		return fmt.Errorf("%w: heartbeats: %d errors, %d not ok, %d workers reaped", ErrCheck, h.HBErrors, h.HBUnknown, h.HBReaped)
	}
	return nil
}

func (h *Heartbeats) table(row func(k, v string, note ...string)) {
	row("simulated workers", strconv.Itoa(h.HBWorkers), fmt.Sprintf("pull mode, one client each, beating every %gs; registered in %.2fs", h.HBIntervalS, h.HBRegisterS))
	row("master CPU", fmt.Sprintf("%.1f %%", h.HBMasterCPUPct), fmt.Sprintf("of one core over the %gs window (%.2f s)", h.HBWindowS, h.HBMasterCPUS))
	row("heartbeat RTT p50", fmt.Sprintf("%.0f µs", h.HBRTTP50us))
	row("heartbeat RTT p99", fmt.Sprintf("%.0f µs", h.HBRTTP99us), fmt.Sprintf("max %.0f µs", h.HBRTTMaxus))
	row("beats", strconv.Itoa(h.HBBeats), fmt.Sprintf("%.0f/s; errors %d, not ok %d, workers reaped %d", h.HBBeatsPerS, h.HBErrors, h.HBUnknown, h.HBReaped))
	row("Status call", fmt.Sprintf("%.0f µs", h.HBStatusus), "one round trip listing the whole fleet")
	row("master peak RSS", mib(h.HBMasterPeakRSS))
	row("bench process CPU", fmt.Sprintf("%.1f %%", h.HBBenchCPUPct), "the simulated fleet's side")
	row("other processes CPU", fmt.Sprintf("%.1f %%", h.HBOtherCPUPct), "the rest of the machine over the window (noise)")
}

// Queue is the queue scenario's numbers.
type Queue struct {
	QSubmitJobsPerS float64 `json:"queue_submit_jobs_per_s"`
	QSubmitS        float64 `json:"queue_submit_s"`
	QMasterCPUS     float64 `json:"queue_master_cpu_s"`
	QPending        int     `json:"queue_pending"`
	QRSSBefore      int64   `json:"queue_master_rss_before_bytes"`
	QRSS            int64   `json:"queue_master_rss_bytes"`
	QRSSFile        int64   `json:"queue_master_rss_file_bytes"`
	QPeakRSS        int64   `json:"queue_master_peak_rss_bytes"`
	// QRSSPerJob is (RSS after the submit - RSS before) / jobs.
	QRSSPerJob float64 `json:"queue_master_rss_per_job_bytes"`
	// QIdleRSS is the master's lowest RSS in the queueSettle after the
	// submit, QIdleS when it was seen, and QIdleRSSPerJob the same per
	// job.
	QIdleRSS       int64   `json:"queue_master_idle_rss_bytes"`
	QIdleRSSPerJob float64 `json:"queue_master_idle_rss_per_job_bytes"`
	QIdleS         float64 `json:"queue_master_idle_after_s"`
	// QHeapInuse and QNextGC are the master's Go heap in use (live jobs
	// and garbage not yet collected) and its next collection's target,
	// from its /metrics, just after the RSS reading: RSS lands between
	// the live heap and about the next-GC mark, wherever the submit ended
	// in the collector's cycle.
	QHeapInuse int64 `json:"queue_master_heap_inuse_bytes,omitempty"`
	QNextGC    int64 `json:"queue_master_next_gc_bytes,omitempty"`
	QDBBytes   int64 `json:"queue_db_file_bytes,omitempty"`
	// QStopS is how long the master took to stop cleanly (Close).
	QStopS float64 `json:"queue_stop_s,omitempty"`
	// QRestartS is from starting the new master process to its first
	// Status answer showing every job pending; QReloadS is the part of it
	// in master.Start (open the store, load every job), timed by the master.
	QRestartS      float64 `json:"queue_restart_s,omitempty"`
	QReloadS       float64 `json:"queue_reload_s,omitempty"`
	QReloadPending int     `json:"queue_reload_pending,omitempty"`
	QReloadRSS     int64   `json:"queue_reload_rss_bytes,omitempty"`
	QReloadRSSFile int64   `json:"queue_reload_rss_file_bytes,omitempty"`
	QReloadPeakRSS int64   `json:"queue_reload_peak_rss_bytes,omitempty"`
	QRestartNote   string  `json:"queue_restart_note,omitempty"`
}

// queueSettle is how long the queue scenario watches the master's RSS
// after the submit, for the idle figure.
const queueSettle = 30 * time.Second

// runQueue submits cfg.Jobs jobs no worker can run, measures the master
// holding them, then restarts it on the same store and times the reload.
func runQueue(ctx context.Context, cfg *Config, r *Result) error {
	q := &Queue{}
	r.Queue = q
	c, err := startCluster(ctx, cfg, 0)
	if err != nil {
		return err
	}
	defer c.close()
	before := c.masterStats()
	q.QRSSBefore = before.RSS
	submitEnd, err := q.submit(ctx, cfg, c, before)
	if err != nil {
		return err
	}
	if err := q.settle(ctx, c, submitEnd, before.RSS, cfg.Jobs); err != nil {
		return err
	}
	st, err := c.ctl.Status(ctx)
	if err != nil {
		return err
	}
	q.QPending = st.Counts[jobs.Pending]
	if q.QPending != cfg.Jobs {
		return fmt.Errorf("%w: %d of %d jobs pending after the submit", ErrCheck, q.QPending, cfg.Jobs)
	}
	if cfg.Store != master.StoreBolt {
		q.QRestartNote = "restart skipped: the memory store keeps nothing across restarts"
		return nil
	}
	return q.restart(ctx, cfg, c)
}

// submit submits cfg.Jobs jobs with no worker to run them, fills the
// submit's figures (against the master's stats before it) and returns
// when the last Submit call returned.
func (q *Queue) submit(ctx context.Context, cfg *Config, c *cluster, before procStats) (time.Time, error) {
	cfg.note("submitting %d jobs from %d clients in batches of %d (no workers)", cfg.Jobs, cfg.Clients, cfg.Batch)
	if cfg.Profile != "" || cfg.Trace != "" {
		c.master.send("profile start")
	}
	run, err := submitAll(ctx, cfg, c.addr, cfg.Jobs)
	if cfg.Profile != "" || cfg.Trace != "" {
		c.master.send("profile stop")
	}
	if err != nil {
		return time.Time{}, err
	}
	q.QSubmitS = run.submitEnd.Sub(run.first).Seconds()
	q.QSubmitJobsPerS = float64(cfg.Jobs) / q.QSubmitS
	after := c.masterStats()
	q.QMasterCPUS = (after.CPU - before.CPU).Seconds()
	q.QRSS, q.QPeakRSS, q.QRSSFile = after.RSS, after.HWM, after.RSSFile
	q.QRSSPerJob = float64(after.RSS-before.RSS) / float64(cfg.Jobs)
	if q.QHeapInuse, q.QNextGC, err = queueGoHeap(ctx, c.addr); err != nil {
		cfg.note("read the master's heap from /metrics: %v", err)
	}
	return run.submitEnd, nil
}

// settle samples the master's RSS every second for queueSettle after the
// submit (which ended at submitEnd) and keeps the lowest as the idle
// figure, per job of n over rssBefore.
func (q *Queue) settle(ctx context.Context, c *cluster, submitEnd time.Time, rssBefore int64, n int) error {
	// Once the master has gone idle (its checkpoint done): it returns
	// what the submit's garbage held to the system (master/idlemem.go).
	// The lowest RSS of a second's samples over queueSettle.
	q.QIdleRSS = q.QRSS
	for t := time.Now(); time.Since(t) < queueSettle; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		if s := c.masterStats(); s.RSS < q.QIdleRSS {
			q.QIdleRSS, q.QIdleS = s.RSS, time.Since(submitEnd).Seconds()
		}
	}
	q.QIdleRSSPerJob = float64(q.QIdleRSS-rssBefore) / float64(n)
	return nil
}

// restart stops the master, starts it again on the same store and times
// until its cfg.Jobs jobs are pending again.
func (q *Queue) restart(ctx context.Context, cfg *Config, c *cluster) error {
	cfg.note("stopping the master and starting it again on the same store")
	t := time.Now()
	if !c.master.stop(5 * time.Minute) {
		return fmt.Errorf("bench: master did not stop within 5 minutes")
	}
	q.QStopS = time.Since(t).Seconds()
	if fi, err := os.Stat(filepath.Join(c.dataDir, jobs.BoltFile)); err == nil {
		q.QDBBytes = fi.Size()
	}
	t = time.Now()
	if err := c.startMaster(); err != nil {
		return err
	}
	var st *rpcapi.StatusReply
	for {
		var err error
		st, err = c.ctl.Status(ctx)
		if err != nil {
			return err
		}
		if st.Counts[jobs.Pending] >= cfg.Jobs || time.Since(t) > time.Minute {
			break
		}
		time.Sleep(time.Millisecond)
	}
	q.QRestartS = time.Since(t).Seconds()
	q.QReloadS = c.master.hello.StartS
	q.QReloadPending = st.Counts[jobs.Pending]
	s := c.masterStats()
	q.QReloadRSS, q.QReloadPeakRSS, q.QReloadRSSFile = s.RSS, s.HWM, s.RSSFile
	if q.QReloadPending != cfg.Jobs {
		return fmt.Errorf("%w: %d of %d jobs pending after the restart", ErrCheck, q.QReloadPending, cfg.Jobs)
	}
	return nil
}

func (q *Queue) table(row func(k, v string, note ...string)) {
	row("submit", rate(q.QSubmitJobsPerS, "jobs/s"), fmt.Sprintf("%.2fs; master CPU %.2f s", q.QSubmitS, q.QMasterCPUS))
	row("pending", strconv.Itoa(q.QPending))
	row("master RSS", mib(q.QRSS), fmt.Sprintf("of it mapped files (bbolt) %s; before the submit %s; peak %s", mib(q.QRSSFile), mib(q.QRSSBefore), mib(q.QPeakRSS)))
	row("master RSS per job", fmt.Sprintf("%.0f bytes", q.QRSSPerJob), "(RSS after - RSS before) / jobs")
	row("master RSS per job, idle", fmt.Sprintf("%.0f bytes", q.QIdleRSSPerJob), fmt.Sprintf("the lowest in %s after the submit, %.0f s after it: RSS %s", queueSettle, q.QIdleS, mib(q.QIdleRSS)))
	if q.QHeapInuse > 0 && q.QPending > 0 {
		row("master Go heap", mib(q.QHeapInuse), fmt.Sprintf("in use, garbage not yet collected included (%.0f bytes per job); next collection at %s",
			float64(q.QHeapInuse)/float64(q.QPending), mib(q.QNextGC)))
	}
	if q.QRestartNote != "" {
		row("restart", "", q.QRestartNote)
		return
	}
	row("store file", mib(q.QDBBytes))
	row("stop", fmt.Sprintf("%.2f s", q.QStopS), "master.Close, clean")
	row("restart", fmt.Sprintf("%.2f s", q.QRestartS), "new master process to a Status showing every job pending")
	row("reload", fmt.Sprintf("%.2f s", q.QReloadS), "of which master.Start: open the store, load every job")
	row("master RSS reloaded", mib(q.QReloadRSS), fmt.Sprintf("of it mapped files (bbolt) %s; peak %s; whole RSS / jobs = %.0f bytes",
		mib(q.QReloadRSSFile), mib(q.QReloadPeakRSS), float64(q.QReloadRSS)/float64(q.QReloadPending)))
}

// queueGoHeap reads the master's Go heap in use and the heap size of its
// next collection from its /metrics.
func queueGoHeap(ctx context.Context, addr string) (inuse, nextGC int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("/metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || (name != "go_memstats_heap_inuse_bytes" && name != "go_memstats_next_gc_bytes") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/metrics: %s: %v", name, err)
		}
		if name == "go_memstats_heap_inuse_bytes" {
			inuse = int64(f)
		} else {
			nextGC = int64(f)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if inuse == 0 || nextGC == 0 {
		return 0, 0, errors.New("/metrics: no go_memstats_heap_inuse_bytes or go_memstats_next_gc_bytes")
	}
	return inuse, nextGC, nil
}
