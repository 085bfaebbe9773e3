package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Result is what a run measured. Its JSON form is one flat object: the
// parameters, then the fields of the scenario that ran (nil scenarios add
// nothing; their JSON names must not collide).
type Result struct {
	Params
	*E2E
	*Heartbeats
	*Queue
	*Soak
	*Reads
	*Churn
}

// Params are the run's parameters and the machine.
type Params struct {
	Scenario string `json:"scenario"`
	Jobs     int    `json:"jobs"`
	Workers  int    `json:"workers"`
	Clients  int    `json:"clients"`
	Batch    int    `json:"batch"`
	Store    string `json:"store"`
	// Masters is how many master processes ran: 1, or a raft group.
	Masters         int    `json:"masters"`
	Transport       string `json:"transport"`
	Slots           int    `json:"slots"`
	Work            string `json:"work"`
	Retries         int    `json:"retries"`
	LatencySamples  int    `json:"latency_samples"`
	KillWorkerEvery string `json:"kill_worker_every"`
	// GCPercent is the master's gc_percent; 0 means Go's default (or the
	// GOGC the processes were started with, in GOGC).
	GCPercent  int    `json:"gc_percent"`
	GOGC       string `json:"gogc,omitempty"`
	Window     string `json:"window,omitempty"`
	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	CPUModel   string `json:"cpu_model"`
}

// E2E is the e2e scenario's numbers.
type E2E struct {
	E2EJobsPerS    float64 `json:"e2e_jobs_per_s"`
	E2ESeconds     float64 `json:"e2e_s"`
	SubmitJobsPerS float64 `json:"submit_jobs_per_s"`
	SubmitSeconds  float64 `json:"submit_s"`
	// TailSeconds is from the last Submit's return to the last outcome.
	TailSeconds  float64 `json:"tail_s"`
	Completion   string  `json:"completion"`
	LatencyP50us float64 `json:"latency_p50_us"`
	LatencyP99us float64 `json:"latency_p99_us"`
	LatencyMaxus float64 `json:"latency_max_us"`

	RPCSeqCallsPerS float64 `json:"rpc_seq_calls_per_s"`
	// RPCSeqP50us is the round trip p50 of the 1-in-flight ceiling, and
	// LatencyPerRPC the job latency p50 over it.
	RPCSeqP50us   float64 `json:"rpc_seq_p50_us"`
	LatencyPerRPC float64 `json:"latency_p50_per_rpc_p50"`
	// RPCProcCallsPerS and RPCProcP50us are the 1-in-flight ceiling
	// against a server in a child process (procRoundTrip): the round trip
	// a job's hops make. LatencyPerProcRPC is the job latency p50 over it.
	RPCProcCallsPerS  float64 `json:"rpc_proc_calls_per_s"`
	RPCProcP50us      float64 `json:"rpc_proc_p50_us"`
	LatencyPerProcRPC float64 `json:"latency_p50_per_rpc_proc_p50"`
	// CommitP50us is one commit of the bolt store on this machine, made
	// straight after another, and CommitIdleP50us one made after an idle
	// pause, as a lone job's (commitP50s; both 0 with the memory store).
	// LatencyTargetUS is 3 x RPCProcP50us plus the idle one, and
	// LatencyPerTarget the job latency p50 over that.
	CommitP50us        float64 `json:"commit_p50_us"`
	CommitIdleP50us    float64 `json:"commit_idle_p50_us"`
	LatencyTargetUS    float64 `json:"latency_target_us"`
	LatencyPerTarget   float64 `json:"latency_p50_per_target"`
	RPCParCallsPerS    float64 `json:"rpc_par_calls_per_s"`
	XMLRPCCallsPerS    float64 `json:"xmlrpc_calls_per_s"`
	XMLRPCParCallsPerS float64 `json:"xmlrpc_par_calls_per_s"`
	CeilingRPC         string  `json:"ceiling_rpc"`
	CeilingXMLRPC      string  `json:"ceiling_xmlrpc"`
	RatioRPCSeq        float64 `json:"e2e_per_rpc_seq"`
	RatioRPCPar        float64 `json:"e2e_per_rpc_par"`
	RatioXMLRPC        float64 `json:"e2e_per_xmlrpc"`

	// MasterCPUSeconds is the master's CPU time during the throughput run;
	// MasterCPUTotal since it started (latency samples included).
	MasterCPUSeconds float64 `json:"master_cpu_s"`
	MasterCPUTotal   float64 `json:"master_cpu_total_s"`
	MasterPeakRSS    int64   `json:"master_peak_rss_bytes"`
	MasterRSS        int64   `json:"master_rss_bytes"`
	// MasterWritten and MasterDisk are what the master wrote during the
	// throughput run: bytes passed to write calls (files and sockets:
	// /proc/PID/io wchar) and bytes sent to storage (write_bytes).
	MasterWritten int64 `json:"master_written_bytes"`
	MasterDisk    int64 `json:"master_disk_write_bytes"`
	// WorkersCPUSeconds sums the workers' CPU time during the run (0 when
	// workers were killed); BenchCPUSeconds is this process's (the clients).
	WorkersCPUSeconds float64 `json:"workers_cpu_s"`
	// StandbysCPUSeconds sums the CPU time of the group's masters other
	// than the leader during the run (0 with one master).
	StandbysCPUSeconds float64 `json:"standbys_cpu_s"`
	BenchCPUSeconds    float64 `json:"bench_process_cpu_s"`
	// OtherCPUSeconds is the CPU time the rest of the machine used during
	// the run (host busy time minus the bench's processes): a noise gauge.
	// Not measured when workers are killed.
	OtherCPUSeconds float64 `json:"host_other_cpu_s"`

	Succeeded    int   `json:"succeeded"`
	Failed       int   `json:"failed"`
	Cancelled    int   `json:"cancelled"`
	BadJobs      int   `json:"jobs_not_exactly_one_ok"`
	DupJobs      int   `json:"jobs_more_than_one_ok"`
	Attempts     int   `json:"attempts"`
	AttemptsLost int   `json:"attempts_lost"`
	Kills        int   `json:"worker_kills"`
	StaleDropped int64 `json:"stale_reports_dropped"`
	Reaped       int64 `json:"workers_reaped"`

	// LeaderRPC and Members, with several masters: the leader's RPC
	// address (the one the workers and clients were given) and every
	// member as it answered GET /api/v1/cluster once it had a leader.
	LeaderRPC string       `json:"leader_rpc,omitempty"`
	Members   []MemberSeen `json:"members,omitempty"`
}

func newResult(cfg *Config) *Result {
	p := Params{Scenario: cfg.Scenario, Jobs: cfg.Jobs, Workers: cfg.Workers, Clients: cfg.Clients,
		Batch: cfg.Batch, Store: cfg.Store, Masters: cfg.Masters, Transport: cfg.Transport, Slots: cfg.Slots,
		Work: cfg.Work.String(), Retries: cfg.Retries, LatencySamples: cfg.LatencySamples,
		KillWorkerEvery: cfg.KillWorkerEvery.String(), GCPercent: cfg.GCPercent, GOGC: os.Getenv("GOGC"),
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		CPUModel: cpuModel()}
	if cfg.Scenario == ScenarioHeartbeats {
		p.Window = cfg.Window.String()
	}
	return &Result{Params: p}
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// percentile returns the q-quantile (nearest rank) of ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// round rounds x to n decimals.
func round(x float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(x*p) / p
}

// tidy rounds the measured floats to meaningful digits for the JSON.
func (r *Result) tidy() {
	if e := r.E2E; e != nil {
		for _, p := range []*float64{&e.E2EJobsPerS, &e.SubmitJobsPerS, &e.RPCSeqCallsPerS, &e.RPCProcCallsPerS, &e.RPCParCallsPerS,
			&e.XMLRPCCallsPerS, &e.XMLRPCParCallsPerS} {
			*p = round(*p, 1)
		}
		for _, p := range []*float64{&e.E2ESeconds, &e.SubmitSeconds, &e.TailSeconds, &e.RatioRPCSeq, &e.RatioRPCPar,
			&e.RatioXMLRPC, &e.LatencyPerRPC, &e.LatencyPerProcRPC, &e.LatencyPerTarget, &e.MasterCPUSeconds, &e.MasterCPUTotal, &e.WorkersCPUSeconds, &e.StandbysCPUSeconds, &e.BenchCPUSeconds, &e.OtherCPUSeconds} {
			*p = round(*p, 4)
		}
	}
	if h := r.Heartbeats; h != nil {
		for _, p := range []*float64{&h.HBRegisterS, &h.HBBeatsPerS, &h.HBMasterCPUPct, &h.HBMasterCPUS, &h.HBBenchCPUPct, &h.HBOtherCPUPct} {
			*p = round(*p, 3)
		}
	}
	if q := r.Queue; q != nil {
		for _, p := range []*float64{&q.QSubmitJobsPerS, &q.QSubmitS, &q.QMasterCPUS, &q.QRSSPerJob, &q.QIdleRSSPerJob, &q.QStopS, &q.QRestartS, &q.QReloadS} {
			*p = round(*p, 3)
		}
	}
}

func micros(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)*10) / 10 }

// WriteJSON writes r as one indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes r as an aligned table: the parameters, a table of
// metric, value and note, then what the ceilings and the end time mean.
func (r *Result) WriteTable(w io.Writer) error {
	r.writeParams(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string, note ...string) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", k, v, strings.Join(note, " "))
	}
	var notes []string
	if e := r.E2E; e != nil {
		e.table(row, r.Params)
		notes = append(notes, "net/rpc ceiling: "+e.CeilingRPC, "XML-RPC ceiling: "+e.CeilingXMLRPC, "end of run: "+e.Completion)
	}
	if h := r.Heartbeats; h != nil {
		h.table(row)
	}
	if q := r.Queue; q != nil {
		q.table(row)
	}
	if s := r.Soak; s != nil {
		s.table(row)
	}
	if x := r.Reads; x != nil {
		x.table(row)
	}
	if ch := r.Churn; ch != nil {
		ch.table(row)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := r.lifetimeTables(w); err != nil {
		return err
	}
	if ch := r.Churn; ch != nil {
		if err := ch.writeSamples(w); err != nil {
			return err
		}
	}
	for _, n := range notes {
		fmt.Fprintf(w, "\n%s", n)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
	return nil
}

// writeParams writes the scenario's name and parameters and the
// machine's, ending with a blank line.
func (r *Result) writeParams(w io.Writer) {
	p := r.Params
	fmt.Fprintf(w, "drover bench, scenario %s\n", p.Scenario)
	switch p.Scenario {
	case ScenarioHeartbeats:
		fmt.Fprintf(w, "  %d simulated workers, transport %s, window %s\n", p.Workers, p.Transport, p.Window)
	case ScenarioQueue:
		fmt.Fprintf(w, "  %d jobs, %d clients, batch %d, store %s, transport %s\n", p.Jobs, p.Clients, p.Batch, p.Store, p.Transport)
	case ScenarioSoak, ScenarioReads:
		r.lifetimeHeader(w)
	case ScenarioChurn:
		if ch := r.Churn; ch != nil {
			ch.header(w, p)
		}
	default:
		fmt.Fprintf(w, "  %d jobs, %d workers x %d slots, %d clients, batch %d, store %s, transport %s, work %s, retries %d\n",
			p.Jobs, p.Workers, p.Slots, p.Clients, p.Batch, p.Store, p.Transport, p.Work, p.Retries)
		if e := r.E2E; e != nil && len(e.Members) > 0 {
			fmt.Fprint(w, mastersNote(e))
		}
		if p.KillWorkerEvery != "0s" {
			fmt.Fprintf(w, "  kill -9 a random worker every %s and start another\n", p.KillWorkerEvery)
		}
	}
	if p.GCPercent != 0 || p.GOGC != "" {
		fmt.Fprintf(w, "  master gc_percent %d, GOGC %q\n", p.GCPercent, p.GOGC)
	}
	fmt.Fprintf(w, "  %s, %d CPUs, GOMAXPROCS %d, %s\n\n", p.CPUModel, p.NumCPU, p.GOMAXPROCS, p.GoVersion)
}

// table writes the end-to-end scenario's rows, of a run with parameters p.
func (e *E2E) table(row func(k, v string, note ...string), p Params) {
	row("end-to-end", rate(e.E2EJobsPerS, "jobs/s"), fmt.Sprintf("%.2fs first submit to last outcome; %.2fs of it after the last submit", e.E2ESeconds, e.TailSeconds))
	row("submit only", rate(e.SubmitJobsPerS, "jobs/s"), fmt.Sprintf("%.2fs", e.SubmitSeconds))
	row("latency p50", fmt.Sprintf("%.0f µs", e.LatencyP50us), fmt.Sprintf("one job on the idle cluster, submit to Wait's answer (%d samples); %.1f x the net/rpc round trip p50 to another process (%.0f µs), %.1f x within the bench's (%.0f µs)",
		p.LatencySamples, e.LatencyPerProcRPC, e.RPCProcP50us, e.LatencyPerRPC, e.RPCSeqP50us))
	row("  target", fmt.Sprintf("%.0f µs", e.LatencyTargetUS), fmt.Sprintf("3 x that round trip, plus with bolt one commit after an idle pause (%.0f µs p50; %.0f µs straight after another); the latency p50 is %.2f x this", e.CommitIdleP50us, e.CommitP50us, e.LatencyPerTarget))
	row("latency p99", fmt.Sprintf("%.0f µs", e.LatencyP99us), fmt.Sprintf("max %.0f µs", e.LatencyMaxus))
	row("net/rpc no-op, 1 in flight", rate(e.RPCSeqCallsPerS, "calls/s"), fmt.Sprintf("drover e2e jobs/s = %.3f x this", e.RatioRPCSeq))
	row("  to another process", rate(e.RPCProcCallsPerS, "calls/s"), fmt.Sprintf("round trip p50 %.0f µs", e.RPCProcP50us))
	row("net/rpc no-op, 64 in flight", rate(e.RPCParCallsPerS, "calls/s"), fmt.Sprintf("drover e2e jobs/s = %.3f x this", e.RatioRPCPar))
	row("XML-RPC no-op, 1 in flight", rate(e.XMLRPCCallsPerS, "calls/s"), fmt.Sprintf("drover e2e jobs/s = %.3f x this", e.RatioXMLRPC))
	row("XML-RPC no-op, 64 in flight", rate(e.XMLRPCParCallsPerS, "calls/s"))
	row("master CPU", fmt.Sprintf("%.2f s", e.MasterCPUSeconds), fmt.Sprintf("during the throughput run (%.0f%% of one core, %.1f µs/job); %.2f s since start",
		100*e.MasterCPUSeconds/e.E2ESeconds, 1e6*e.MasterCPUSeconds/float64(p.Jobs), e.MasterCPUTotal))
	row("master peak RSS", mib(e.MasterPeakRSS), "VmHWM; VmRSS now "+mib(e.MasterRSS))
	row("master writes", mib(e.MasterDisk), fmt.Sprintf("to storage during the run (%.0f bytes/job); %s passed to write calls, files and sockets",
		float64(e.MasterDisk)/float64(p.Jobs), mib(e.MasterWritten)))
	if e.Kills == 0 {
		row("workers CPU", fmt.Sprintf("%.2f s", e.WorkersCPUSeconds), "all workers, during the run")
	}
	if len(e.Members) > 0 {
		row("standby masters CPU", fmt.Sprintf("%.2f s", e.StandbysCPUSeconds), fmt.Sprintf("the %d masters other than the leader, during the run", len(e.Members)-1))
	}
	row("bench process CPU", fmt.Sprintf("%.2f s", e.BenchCPUSeconds), "clients and status polls, during the run")
	if e.Kills == 0 {
		row("other processes CPU", fmt.Sprintf("%.2f s", e.OtherCPUSeconds), "the rest of the machine during the run (noise)")
	}
	row("check", fmt.Sprintf("%d/%d succeeded", e.Succeeded, p.Jobs), fmt.Sprintf("failed %d, cancelled %d; not exactly one ok attempt %d, of them more than one %d", e.Failed, e.Cancelled, e.BadJobs, e.DupJobs))
	row("attempts", strconv.Itoa(e.Attempts), fmt.Sprintf("lost %d; workers killed %d, reaped %d; stale reports dropped %d", e.AttemptsLost, e.Kills, e.Reaped, e.StaleDropped))
}

func rate(x float64, unit string) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f %s", x, unit)
	default:
		return fmt.Sprintf("%.1f %s", x, unit)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
