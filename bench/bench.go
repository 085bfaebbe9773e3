// Package bench measures drover on loopback: a master and workers in
// processes of their own (re-executions of the running binary, so the
// master's CPU time and peak RSS can be read from /proc), clients in this
// process. Run runs one scenario and returns a Result: "e2e" (throughput,
// latency and the raw RPC ceilings of the same machine), "heartbeats" (a
// fleet of simulated workers beating), "queue" (a big pending queue and
// a master restart), "soak" (jobs streamed through a master with short
// retention for a long time, its memory and store sampled, then a kill -9
// and a restart) or "reads" (every listing and status call against a big
// history while a fleet beats) or "churn" (many limit keys and job types
// run through a master with short retention, which is then watched until
// it has released them).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// Scenarios.
const (
	ScenarioE2E        = "e2e"
	ScenarioHeartbeats = "heartbeats"
	ScenarioQueue      = "queue"
	ScenarioSoak       = "soak"
	ScenarioReads      = "reads"
	ScenarioChurn      = "churn"
)

// Config is one bench run. Zero values mean the documented defaults.
type Config struct {
	// Scenario is "e2e" (default), "heartbeats", "queue", "soak" or
	// "reads".
	Scenario string
	// Jobs to submit. Default 100,000 (e2e), 1,000,000 (queue); in the
	// soak, 0 (run for Duration) or the jobs to run before it stops.
	Jobs int
	// Workers is the number of worker processes (e2e and soak, default 4)
	// or of simulated workers (heartbeats and reads, default 1000).
	Workers int
	// Clients is the number of client connections submitting (reads: and
	// then reading). Default 4.
	Clients int
	// Batch is the number of specs per Submit call. Default 1000.
	Batch int
	// Store is "bolt" (default, in a temp dir) or "memory".
	Store string
	// Masters is how many master processes the e2e scenario runs: 1
	// (default), or 3 or 5 as a raft group on loopback (cluster package),
	// each with its own data dir (bolt store only); the workers and the
	// clients are given the leader's address, and the leader is the
	// master measured and profiled.
	Masters int
	// Transport is "gob" (default) or "xmlrpc": clients, workers and the
	// master's calls to workers all use it.
	Transport string
	// Slots per worker (reads: per simulated worker). Default 256: no-op
	// jobs take no time, so the jobs in flight (workers x slots) are what
	// bound the rate, by Little's law (rate = in flight / round trip);
	// BENCHMARKS.md shows the effect.
	Slots int
	// Work is a busy-wait per job in the workers. Default none.
	Work time.Duration
	// Retries per job. Default 0, or 20 with KillWorkerEvery (a killed
	// worker's jobs come back as lost attempts, which use up retries).
	Retries int
	// LatencySamples is how many single jobs are timed on the idle cluster.
	// Default 200.
	LatencySamples int
	// CeilingTime is how long each raw RPC ceiling is measured. Default 2s.
	CeilingTime time.Duration
	// KillWorkerEvery, when set, kills a random worker process with SIGKILL
	// that often during the e2e run and starts a new one.
	KillWorkerEvery time.Duration
	// Window is the heartbeats scenario's measurement window, and the
	// reads scenario's heartbeats alone before it reads. Default 10s.
	Window time.Duration
	// Profile is a file the master writes a CPU profile of the e2e run (or
	// the heartbeat window, the queue submit, the churn) to.
	Profile string
	// Trace is a file the master writes an execution trace (go tool
	// trace) of the same phase to.
	Trace string
	// GCPercent is the master's garbage-collection target
	// (master.Config.GCPercent). Default 0: Go's, or $GOGC.
	GCPercent int
	// Duration is how long the soak streams jobs (default 10m when Jobs
	// is 0) and how long the reads scenario reads (default 1m).
	Duration time.Duration
	// Sample is how often the soak samples the master. Default 5s.
	Sample time.Duration
	// Retain, RetainJobs, History and HistoryJobs are the master's
	// retention (master.Config). Zero is the master's default, except in
	// the soak: 10s, 10000, 30s and 100000.
	Retain      time.Duration
	RetainJobs  int
	History     time.Duration
	HistoryJobs int
	// Types is the churn scenario's job types (default 10,000, at most
	// 10,000); its Jobs (default 100,000) are its limit keys, and its
	// Duration (default 3m) how long it waits for the release.
	Types int
	// HeapProfile, in the churn scenario, is a path prefix the master
	// writes heap profiles to: PREFIX-start.pb.gz, -done.pb.gz (the last
	// job finished) and -end.pb.gz (the release). Each forces a
	// collection first, which changes what RSS the run shows.
	HeapProfile string
	// Fill is how many finished jobs the reads scenario puts in the
	// master's history before it reads. Default 1,000,000.
	Fill int
	// Timeout bounds the whole run. Default 15m (soak and reads: 30m
	// more than Duration).
	Timeout time.Duration
	// LogLevel is the children's log level. Default "error".
	LogLevel string
	// Launch starts child processes. Default Reexec("bench", "--role"),
	// which suits the drover binary.
	Launch Launcher
	// Stderr receives the children's logs and progress notes. Default
	// os.Stderr.
	Stderr io.Writer
}

func (c *Config) setDefaults() {
	if c.Scenario == "" {
		c.Scenario = ScenarioE2E
	}
	lifetime := c.Scenario == ScenarioSoak || c.Scenario == ScenarioReads
	if c.Jobs == 0 && !lifetime {
		c.Jobs = 100000
		if c.Scenario == ScenarioQueue {
			c.Jobs = 1000000
		}
	}
	if c.Workers == 0 {
		c.Workers = 4
		if c.Scenario == ScenarioHeartbeats || c.Scenario == ScenarioReads {
			c.Workers = 1000
		}
	}
	switch c.Scenario {
	case ScenarioSoak:
		if c.Jobs == 0 {
			setDur(&c.Duration, 10*time.Minute)
		}
		setDur(&c.Sample, 5*time.Second)
		setDur(&c.Retain, 10*time.Second)
		setInt(&c.RetainJobs, 10000)
		setDur(&c.History, 30*time.Second)
		setInt(&c.HistoryJobs, 100000)
	case ScenarioReads:
		setDur(&c.Duration, time.Minute)
		setInt(&c.Fill, 1000000)
	case ScenarioChurn:
		setInt(&c.Types, 10000)
		setDur(&c.Duration, 3*time.Minute)
		setDur(&c.Sample, time.Second)
		setDur(&c.Retain, 5*time.Second)
		setInt(&c.RetainJobs, 1000)
	}
	if lifetime {
		setDur(&c.Timeout, c.Duration+30*time.Minute)
	}
	setInt(&c.Masters, 1)
	setInt(&c.Clients, 4)
	setInt(&c.Batch, 1000)
	setInt(&c.Slots, 256)
	setInt(&c.LatencySamples, 200)
	if c.Retries == 0 && c.KillWorkerEvery > 0 {
		c.Retries = 20
	}
	if c.Store == "" {
		c.Store = master.StoreBolt
	}
	if c.Transport == "" {
		c.Transport = rpcapi.TransportGob
	}
	setDur(&c.CeilingTime, 2*time.Second)
	setDur(&c.Window, 10*time.Second)
	setDur(&c.Timeout, 15*time.Minute)
	if c.LogLevel == "" {
		c.LogLevel = "error"
	}
	if c.Launch == nil {
		c.Launch = Reexec("bench", "--role")
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
}

func setInt(p *int, d int) {
	if *p == 0 {
		*p = d
	}
}

func setDur(p *time.Duration, d time.Duration) {
	if *p == 0 {
		*p = d
	}
}

// Validate fills defaults and reports the first invalid field.
func (c *Config) Validate() error {
	c.setDefaults()
	switch {
	case scenarios[c.Scenario] == nil:
		return fmt.Errorf("bench: scenario %q: want e2e, heartbeats, queue, soak, reads or churn", c.Scenario)
	case c.Store != master.StoreBolt && c.Store != master.StoreMemory:
		return fmt.Errorf("bench: store %q: want bolt or memory", c.Store)
	case c.Transport != rpcapi.TransportGob && c.Transport != rpcapi.TransportXMLRPC:
		return fmt.Errorf("bench: transport %q: want gob or xmlrpc", c.Transport)
	case !slices.Contains(mastersAllowed, c.Masters):
		return fmt.Errorf("bench: masters %d: want 1, 3 or 5", c.Masters)
	case c.Masters > 1 && c.Scenario != ScenarioE2E:
		return fmt.Errorf("bench: masters %d: --masters applies to e2e only, not to %s", c.Masters, c.Scenario)
	case c.Masters > 1 && c.Store != master.StoreBolt:
		return fmt.Errorf("bench: masters %d with store %s: a raft group's masters keep their stores on disk: want bolt", c.Masters, c.Store)
	case c.Jobs < 0 || c.Workers < 0 || c.Clients < 0 || c.Batch < 0 || c.Slots < 0 || c.LatencySamples < 0 ||
		c.RetainJobs < 0 || c.HistoryJobs < 0 || c.Fill < 0:
		return errors.New("bench: negative count")
	case c.Batch > master.MaxSubmit:
		return fmt.Errorf("bench: batch %d over the master's limit %d", c.Batch, master.MaxSubmit)
	case c.Work < 0 || c.KillWorkerEvery < 0 || c.Window < 0 || c.CeilingTime < 0 || c.Duration < 0 ||
		c.Sample < 0 || c.Retain < 0 || c.History < 0:
		return errors.New("bench: negative duration")
	case c.Scenario == ScenarioSoak && c.Sample < 10*time.Millisecond:
		return fmt.Errorf("bench: sample %s: want at least 10ms", c.Sample)
	case c.Scenario == ScenarioChurn && (c.Types < 1 || c.Types > maxWorkerTypes || c.Sample < 10*time.Millisecond):
		return fmt.Errorf("bench: churn: types %d (want 1..%d), sample %s (want at least 10ms)", c.Types, maxWorkerTypes, c.Sample)
	case c.Retries < 0 || c.Retries > jobs.MaxRetries:
		return fmt.Errorf("bench: retries %d out of range 0..%d", c.Retries, jobs.MaxRetries)
	}
	return nil
}

func (c *Config) note(format string, a ...any) {
	fmt.Fprintf(c.Stderr, "bench: "+format+"\n", a...)
}

// scenarios runs each scenario, by name.
var scenarios = map[string]func(context.Context, *Config, *Result) error{
	ScenarioE2E:        runE2E,
	ScenarioHeartbeats: runHeartbeats,
	ScenarioQueue:      runQueue,
	ScenarioSoak:       runSoak,
	ScenarioReads:      runReads,
	ScenarioChurn:      runChurn,
}

// ErrCheck marks a run that completed but whose correctness check failed.
var ErrCheck = errors.New("bench: correctness check failed")

// Run runs cfg's scenario and returns what it measured. A run whose
// correctness check fails returns its Result together with an error that
// wraps ErrCheck; any other error comes with no Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r := newResult(&cfg)
	err := scenarios[cfg.Scenario](ctx, &cfg, r)
	if err != nil && !errors.Is(err, ErrCheck) {
		return nil, err
	}
	r.tidy()
	return r, err
}

// cluster is a master process, worker processes and a gob control client.
type cluster struct {
	cfg     *Config
	master  *proc  // with several masters, the leader
	addr    string // the master's RPC address
	dataDir string
	ctl     rpcapi.MasterClient // gob, for status polls and checks
	group   *raftGroup          // with several masters, all of them

	// setMaster change the masterSpec of every master process, the
	// scenario's settings over the config's.
	setMaster []func(*masterSpec)

	mu      sync.Mutex // guards workers and wseq
	workers []*proc
	wseq    int
}

// masterSpec is how the cluster's master process is set up.
func (c *cluster) masterSpec() masterSpec {
	s := masterSpec{Store: c.cfg.Store, DataDir: c.dataDir, Profile: c.cfg.Profile, Trace: c.cfg.Trace,
		LogLevel: c.cfg.LogLevel, GCPercent: c.cfg.GCPercent, Retain: c.cfg.Retain, RetainJobs: c.cfg.RetainJobs,
		History: c.cfg.History, HistoryJobs: c.cfg.HistoryJobs}
	for _, set := range c.setMaster {
		set(&s)
	}
	return s
}

// startCluster starts a master (its masterSpec changed by setMaster, if
// any), or cfg.Masters of them as a raft group, and nWorkers worker
// processes and waits until the master (the leader) lists them all alive.
func startCluster(ctx context.Context, cfg *Config, nWorkers int, setMaster ...func(*masterSpec)) (*cluster, error) {
	c := &cluster{cfg: cfg, setMaster: setMaster}
	if cfg.Store == master.StoreBolt {
		dir, err := os.MkdirTemp("", "drover-bench-")
		if err != nil {
			return nil, err
		}
		c.dataDir = dir
	}
	start := func() error { return c.startMaster() }
	if cfg.Masters > 1 {
		start = func() error { return c.startGroup(ctx) }
	}
	if err := start(); err != nil {
		c.close()
		return nil, err
	}
	errc := make(chan error, nWorkers)
	for range nWorkers {
		go func() { errc <- c.addWorker() }()
	}
	var errs []error
	for range nWorkers {
		errs = append(errs, <-errc)
	}
	if err := errors.Join(errs...); err != nil {
		c.close()
		return nil, err
	}
	if err := c.waitWorkers(ctx, nWorkers); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *cluster) startMaster() error {
	m, err := spawn(c.cfg.Launch, RoleMaster, c.masterSpec(), c.cfg.Stderr, 5*time.Minute)
	if err != nil {
		return err
	}
	if c.ctl.C != nil {
		c.ctl.C.Close()
	}
	c.master, c.addr = m, m.hello.Addr
	c.ctl = rpcapi.MasterClient{C: rpcapi.NewClient(c.addr)}
	return nil
}

// addWorker starts one worker process and waits for it to register.
func (c *cluster) addWorker() error {
	c.mu.Lock()
	c.wseq++
	name := "bench-w" + strconv.Itoa(c.wseq)
	c.mu.Unlock()
	p, err := spawn(c.cfg.Launch, RoleWorker, workerSpec{Master: c.addr, Transport: c.cfg.Transport, Slots: c.cfg.Slots,
		Work: c.cfg.Work, Name: name, LogLevel: c.cfg.LogLevel, Types: c.cfg.Types}, c.cfg.Stderr, time.Minute)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.workers = append(c.workers, p)
	c.mu.Unlock()
	return nil
}

// killWorker kills a random worker with SIGKILL and starts another.
func (c *cluster) killWorker() error {
	c.mu.Lock()
	if len(c.workers) == 0 {
		c.mu.Unlock()
		return errors.New("bench: no worker to kill")
	}
	i := rand.IntN(len(c.workers))
	p := c.workers[i]
	c.workers = append(c.workers[:i], c.workers[i+1:]...)
	c.mu.Unlock()
	p.kill()
	return c.addWorker()
}

// waitWorkers polls Status until n workers are alive.
func (c *cluster) waitWorkers(ctx context.Context, n int) error {
	for {
		st, err := c.ctl.Status(ctx)
		if err != nil {
			return err
		}
		alive := 0
		for _, w := range st.Workers {
			if w.State == rpcapi.WorkerAlive {
				alive++
			}
		}
		if alive >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: %d of %d workers alive: %w", alive, n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// masterStats reads the master process's CPU and memory.
func (c *cluster) masterStats() procStats {
	s, err := readProc(c.master.pid())
	if err != nil {
		c.cfg.note("read master stats: %v", err)
	}
	return s
}

// workersCPU sums the CPU time of the live worker processes.
func (c *cluster) workersCPU() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d time.Duration
	for _, p := range c.workers {
		if s, err := readProc(p.pid()); err == nil {
			d += s.CPU
		}
	}
	return d
}

// close stops the workers, then the master (or every member of the
// group), and removes the data dir.
func (c *cluster) close() {
	c.stopWorkers()
	if c.group != nil {
		c.group.stop(c.cfg)
	} else if c.master != nil {
		if !c.master.stop(time.Minute) {
			c.cfg.note("master did not stop within a minute; killed")
		}
	}
	if c.ctl.C != nil {
		c.ctl.C.Close()
	}
	if c.dataDir != "" {
		os.RemoveAll(c.dataDir)
	}
}
