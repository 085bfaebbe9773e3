package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets this test binary be the bench's master and worker
// processes: Run re-executes it with $DROVER_BENCH_ROLE set.
func TestMain(m *testing.M) {
	if code, ran := MaybeRunRole(); ran {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// logWriter sends the children's stderr to the test log.
type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// runSmall runs cfg, a small run of one scenario, with this test binary
// as its processes and their stderr in the test log, within timeout; it
// fails t if the run fails, and skips it with -short.
func runSmall(t *testing.T, timeout time.Duration, cfg Config) *Result {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cfg.Launch, cfg.Stderr = Reexec(), logWriter{t}
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBenchSmall(t *testing.T) {
	cfg := Config{Jobs: 2000, Workers: 2, Batch: 250, LatencySamples: 20, CeilingTime: 200 * time.Millisecond,
		Profile: t.TempDir() + "/cpu.pprof", Trace: t.TempDir() + "/trace.out"}
	r := runSmall(t, time.Minute, cfg)
	e := r.E2E
	if e == nil || r.Heartbeats != nil || r.Queue != nil {
		t.Fatalf("scenario blocks: %+v", r)
	}
	if e.Succeeded != 2000 || e.Failed != 0 || e.BadJobs != 0 || e.Attempts != 2000 {
		t.Errorf("succeeded %d, failed %d, bad %d, attempts %d; want 2000, 0, 0, 2000", e.Succeeded, e.Failed, e.BadJobs, e.Attempts)
	}
	positive := map[string]float64{
		"e2e_jobs_per_s": e.E2EJobsPerS, "submit_jobs_per_s": e.SubmitJobsPerS,
		"latency_p50_us": e.LatencyP50us, "latency_p99_us": e.LatencyP99us,
		"rpc_seq_calls_per_s": e.RPCSeqCallsPerS, "rpc_par_calls_per_s": e.RPCParCallsPerS,
		"xmlrpc_calls_per_s": e.XMLRPCCallsPerS, "master_cpu_s": e.MasterCPUSeconds,
		"master_peak_rss_bytes": float64(e.MasterPeakRSS), "e2e_per_rpc_seq": e.RatioRPCSeq,
		"rpc_seq_p50_us": e.RPCSeqP50us, "latency_p50_per_rpc_p50": e.LatencyPerRPC,
		"rpc_proc_calls_per_s": e.RPCProcCallsPerS, "rpc_proc_p50_us": e.RPCProcP50us, "latency_p50_per_rpc_proc_p50": e.LatencyPerProcRPC,
		"commit_p50_us": e.CommitP50us, "commit_idle_p50_us": e.CommitIdleP50us, "latency_target_us": e.LatencyTargetUS, "latency_p50_per_target": e.LatencyPerTarget,
		"master_written_bytes": float64(e.MasterWritten),
	}
	for k, v := range positive {
		if !(v > 0) {
			t.Errorf("%s = %v, want > 0", k, v)
		}
	}
	if e.LatencyP99us < e.LatencyP50us || e.SubmitJobsPerS < e.E2EJobsPerS {
		t.Errorf("p50 %v p99 %v, submit %v/s e2e %v/s: out of order", e.LatencyP50us, e.LatencyP99us, e.SubmitJobsPerS, e.E2EJobsPerS)
	}
	if fi, err := os.Stat(cfg.Profile); err != nil || fi.Size() == 0 {
		t.Errorf("master CPU profile: %v", err)
	}
	if fi, err := os.Stat(cfg.Trace); err != nil || fi.Size() == 0 {
		t.Errorf("master execution trace: %v", err)
	}

	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"e2e_jobs_per_s", "submit_jobs_per_s", "latency_p50_us", "latency_p99_us",
		"rpc_seq_calls_per_s", "rpc_seq_p50_us", "rpc_proc_p50_us", "latency_p50_per_rpc_proc_p50", "commit_p50_us", "commit_idle_p50_us", "latency_target_us", "latency_p50_per_target", "rpc_par_calls_per_s", "xmlrpc_calls_per_s", "master_cpu_s",
		"master_peak_rss_bytes", "master_written_bytes", "master_disk_write_bytes", "jobs", "workers", "clients", "batch", "store", "transport", "slots",
		"work", "go_version", "gomaxprocs", "cpu_model"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no %q", k)
		}
	}
	buf.Reset()
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "end-to-end") {
		t.Errorf("table:\n%s", buf.String())
	}
	t.Logf("\n%s", buf.String())
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Store: "sql"}, {Transport: "grpc"}, {Scenario: "x"}, {Jobs: -1}, {Batch: 200000},
		{Scenario: ScenarioChurn, Types: 10001}, {Masters: 2}, {Masters: -3}, {Masters: 7}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Masters: 3, Scenario: ScenarioSoak}, "--masters applies to e2e only"},
		{Config{Masters: 3, Scenario: ScenarioHeartbeats}, "--masters applies to e2e only"},
		{Config{Masters: 5, Store: "memory"}, "want bolt"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("masters %d, scenario %q, store %q: %v; want an error saying %q", tc.c.Masters, tc.c.Scenario, tc.c.Store, err, tc.want)
		}
	}
	for _, n := range []int{3, 5} {
		if c := (Config{Masters: n}); c.Validate() != nil {
			t.Errorf("masters %d: %v", n, c.Validate())
		}
	}
	c := Config{Scenario: ScenarioHeartbeats, KillWorkerEvery: time.Second}
	if err := c.Validate(); err != nil || c.Workers != 1000 || c.Retries != 20 || c.Jobs != 100000 || c.Masters != 1 {
		t.Errorf("defaults: %v %+v", err, c)
	}
}

func TestReadProc(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.HWM < s.RSS {
		t.Errorf("rss %d hwm %d", s.RSS, s.HWM)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	if p := percentile(ds, 0.5); p != 50 {
		t.Errorf("p50 %v", p)
	}
	if p := percentile(ds, 0.99); p != 99 {
		t.Errorf("p99 %v", p)
	}
	if p := percentile(ds, 1); p != 100 {
		t.Errorf("max %v", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("empty %v", p)
	}
}

func TestRunRoleUnknown(t *testing.T) {
	if err := RunRole("chef", nil, nil); err == nil {
		t.Error("no error")
	}
	if !errors.Is(ErrCheck, ErrCheck) {
		t.Error("ErrCheck")
	}
}

// TestRunRoleBadSettings: a role whose argument is not one JSON object of
// its settings fails at once, saying why, and starts nothing (no hello
// line).
func TestRunRoleBadSettings(t *testing.T) {
	for _, tc := range []struct {
		role string
		args []string
		want string
	}{
		{RoleMaster, nil, "want one argument"},
		{RoleMaster, []string{"--store", "memory"}, "want one argument"},
		{RoleWorker, []string{"--master=127.0.0.1:1"}, "invalid character"},
		{RoleMaster, []string{`{"Store":"memory","Heartbeat":"1s"}`}, "unknown field"},
		{RoleWorker, []string{`{"Slots":"four"}`}, "Slots"},
		{RoleWorker, []string{`{"LogLevel":"loud"}`}, "log level"},
	} {
		var out strings.Builder
		err := RunRole(tc.role, tc.args, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bench "+tc.role) {
			t.Errorf("RunRole(%s, %q) = %v; want an error of bench %s saying %q", tc.role, tc.args, err, tc.role, tc.want)
		}
		if out.Len() > 0 {
			t.Errorf("RunRole(%s, %q) printed %q", tc.role, tc.args, out.String())
		}
	}
}

// BenchmarkE2E pushes b.N no-op jobs through a master and two workers
// (separate processes) and reports jobs/s and the master's CPU per job.
func BenchmarkE2E(b *testing.B) {
	for _, store := range []string{"bolt", "memory"} {
		b.Run(store, func(b *testing.B) {
			cfg := Config{Workers: 2, Store: store, Launch: Reexec(), Stderr: logWriter{b}}
			if err := cfg.Validate(); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			c, err := startCluster(ctx, &cfg, cfg.Workers)
			if err != nil {
				b.Fatal(err)
			}
			defer c.close()
			before := c.masterStats()
			b.ResetTimer()
			start := time.Now()
			if _, err := c.throughput(ctx, b.N, 0); err != nil {
				b.Fatal(err)
			}
			el := time.Since(start)
			b.StopTimer()
			after := c.masterStats()
			b.ReportMetric(float64(b.N)/el.Seconds(), "jobs/s")
			b.ReportMetric(float64(after.CPU-before.CPU)/float64(time.Microsecond)/float64(b.N), "master-cpu-µs/job")
		})
	}
}

func TestSoakSmall(t *testing.T) {
	cfg := Config{Scenario: ScenarioSoak, Jobs: 4000, Workers: 2, Slots: 2, Clients: 2, Batch: 100,
		Sample: 50 * time.Millisecond, Retain: time.Second, RetainJobs: 500, History: 2 * time.Second, HistoryJobs: 1000}
	r := runSmall(t, 2*time.Minute, cfg)
	s := r.Soak
	if s == nil || r.E2E != nil || r.Reads != nil {
		t.Fatalf("scenario blocks: %+v", r)
	}
	if s.SoakJobs != 4000 || s.SoakFailed != 0 || s.SoakReaped != 0 {
		t.Errorf("jobs %d, not succeeded %d, reaped %d; want 4000, 0, 0", s.SoakJobs, s.SoakFailed, s.SoakReaped)
	}
	if len(s.SoakSamples) < 3 || s.SoakFitSamples < 2 {
		t.Fatalf("%d samples, %d after the warm-up; want at least 3 and 2", len(s.SoakSamples), s.SoakFitSamples)
	}
	last := s.SoakSamples[len(s.SoakSamples)-1]
	if last.Jobs != 4000 || last.RSS <= 0 || last.RSSAnon <= 0 || last.Heap <= 0 || last.Goroutines <= 0 || last.FDs <= 0 || last.Dir <= 0 || last.DirBlks <= 0 {
		t.Errorf("last sample incomplete: %+v", last)
	}
	if s.SoakRSSSlope == 0 || s.SoakHeapSlope == 0 || s.SoakFirstTenthPerS <= 0 || s.SoakLastTenthPerS <= 0 {
		t.Errorf("slopes RSS %v heap %v, throughput tenths %v %v: not computed", s.SoakRSSSlope, s.SoakHeapSlope, s.SoakFirstTenthPerS, s.SoakLastTenthPerS)
	}
	if s.SoakRestartS <= 0 || s.SoakRestartStartS <= 0 || s.SoakRestartFinal < 1000 || s.SoakRestartRSS <= 0 {
		t.Errorf("restart %vs (start %vs), %d final jobs after it, RSS %d: not measured",
			s.SoakRestartS, s.SoakRestartStartS, s.SoakRestartFinal, s.SoakRestartRSS)
	}
	checkReport(t, r, "soak_samples", "soak_rss_bytes_per_mjob", "soak_restart_ready_s", "history sweeps", "restart after kill -9")
}

func TestReadsSmall(t *testing.T) {
	cfg := Config{Scenario: ScenarioReads, Fill: 3000, Workers: 20, Slots: 1, Clients: 2, Batch: 250,
		Duration: 2 * time.Second, Window: time.Second}
	r := runSmall(t, 2*time.Minute, cfg)
	x := r.Reads
	if x == nil || r.Soak != nil {
		t.Fatalf("scenario blocks: %+v", r)
	}
	if x.RDReaped != 0 || x.RDFinal != 3000+readsRare || x.RDWalkJobs != x.RDFinal {
		t.Errorf("reaped %d, final %d, walked %d; want 0, %d, %d", x.RDReaped, x.RDFinal, x.RDWalkJobs, 3000+readsRare, 3000+readsRare)
	}
	if x.RDBefore.N == 0 || x.RDDuring.N == 0 || x.RDDuring.P50us <= 0 {
		t.Errorf("heartbeats before %+v during %+v: not measured", x.RDBefore, x.RDDuring)
	}
	if len(x.RDOps) < 20 {
		t.Errorf("%d reads, want every listing and status", len(x.RDOps))
	}
	for _, o := range x.RDOps {
		if o.Calls == 0 || o.Errors != 0 || o.P50us <= 0 || o.AloneP50us <= 0 {
			t.Errorf("%s: %d calls, %d errors (%s), p50 %v, alone %v", o.Name, o.Calls, o.Errors, o.FirstErr, o.P50us, o.AloneP50us)
		}
	}
	checkReport(t, r, "reads_ops", "alone_p50_us", "reads_hb_during", "reads_workers_reaped", "heartbeat RTT during", "GET /api/v1/events")
}

// checkReport checks that r's JSON and table have the given keys and words.
func checkReport(t *testing.T, r *Result, words ...string) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, w := range words {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("report has no %q", w)
		}
	}
	t.Logf("\n%s", buf.String())
}

func TestChurnSmall(t *testing.T) {
	cfg := Config{Scenario: ScenarioChurn, Jobs: 600, Types: 50, Workers: 2, Slots: 8, Clients: 2, Batch: 100,
		Sample: 100 * time.Millisecond, Retain: time.Second, RetainJobs: 100, Duration: 5 * time.Second,
		HeapProfile: t.TempDir() + "/heap"}
	r := runSmall(t, 2*time.Minute, cfg)
	ch := r.Churn
	if ch == nil || r.Soak != nil || r.E2E != nil {
		t.Fatalf("scenario blocks: %+v", r)
	}
	if ch.ChurnKeys != 600 || ch.ChurnTypes != 50 || ch.ChurnFailed != 0 || ch.ChurnWaitLost != 0 || ch.ChurnReaped != 0 {
		t.Errorf("keys %d, types %d, not succeeded %d, not found %d, reaped %d; want 600, 50, 0, 0, 0",
			ch.ChurnKeys, ch.ChurnTypes, ch.ChurnFailed, ch.ChurnWaitLost, ch.ChurnReaped)
	}
	s, pk, e := ch.ChurnStart, ch.ChurnPeak, ch.ChurnEnd
	if s.RSSAnon <= 0 || s.Lines <= 0 || e.RSSAnon <= 0 || pk.RSSAnon < s.RSSAnon || ch.ChurnStartFloor.RSSAnon <= 0 || ch.ChurnEndFloor.Heap <= 0 {
		t.Errorf("start, peak, end or floors not measured: %+v %+v %+v %+v %+v", s, pk, e, ch.ChurnStartFloor, ch.ChurnEndFloor)
	}
	// 50 types each with a run-time series (15 lines) at the peak; none
	// left once they were released.
	if pk.Lines < s.Lines+50*15 || !ch.ChurnLinesMet || e.Jobs-s.Jobs != 600 {
		t.Errorf("/metrics lines start %d peak %d end %d (met %v), jobs %d; want a peak of 750 more and the end under %d",
			s.Lines, pk.Lines, e.Lines, ch.ChurnLinesMet, e.Jobs-s.Jobs, ChurnLinesTarget)
	}
	for _, n := range []string{"start", "done", "end"} {
		if fi, err := os.Stat(cfg.HeapProfile + "-" + n + ".pb.gz"); err != nil || fi.Size() == 0 {
			t.Errorf("heap profile %s: %v", n, err)
		}
	}
	checkReport(t, r, "churn_start", "churn_rss_anon_end_vs_start_pct", "RSS end vs start %", "/metrics lines start/peak/end", "after FreeOSMemory")
}
