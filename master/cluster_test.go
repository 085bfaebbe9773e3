package master_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

func startMaster(t testing.TB, cfg master.Config) *master.Master {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Store == "" && cfg.DataDir == "" {
		cfg.Store = master.StoreMemory
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 100 * time.Millisecond
		cfg.DeadAfter = 3 * time.Second
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 10 * time.Millisecond
	}
	cfg.Logger = master.LogTo(t, "master")
	return master.StartTestMaster(t, cfg)
}

func startWorker(t testing.TB, masterAddr, name string, slots int, handlers map[string]worker.HandlerFunc) *worker.Worker {
	t.Helper()
	return master.StartTestWorker(t, worker.Config{Master: masterAddr, Name: name, Slots: slots}, handlers)
}

// runEcho calls the master at addr over transport with opts: it submits
// an echo job and fails the test unless the job succeeds within 10s. It
// returns the client, closed at the test's cleanup.
func runEcho(t testing.TB, addr, transport string, opts ...rpcapi.Option) rpcapi.MasterClient {
	t.Helper()
	c, err := rpcapi.NewCaller(addr, transport, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	mc := rpcapi.MasterClient{C: c}
	ids := submit(t, mc, jobs.Spec{Type: "echo", Args: map[string]string{"name": "x"}})
	if r := waitAll(t, mc, ids, 10*time.Second); r.Counts[jobs.Succeeded] != 1 {
		t.Fatalf("counts %v", r.Counts)
	}
	return mc
}

func client(t testing.TB, addr string) rpcapi.MasterClient {
	c := rpcapi.NewClient(addr)
	t.Cleanup(func() { c.Close() })
	return rpcapi.MasterClient{C: c}
}

// The calls the suites share (internal/testproc).
var (
	submit  = testproc.Submit
	waitAll = testproc.WaitAll
)

func echo(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	return jobs.Result{Output: "hello " + j.Spec.Args["name"]}, nil
}

// holdUntil is a handler that holds its job until release is closed or
// the job is cancelled, then returns an empty result.
func holdUntil(release <-chan struct{}) worker.HandlerFunc {
	return func(ctx context.Context, _ *jobs.Job) (jobs.Result, error) {
		select {
		case <-ctx.Done():
		case <-release:
		}
		return jobs.Result{}, nil
	}
}

// blockUntil is a handler that tells seen of each job it starts, then
// holds the job until release is closed (its Output is then out) or the
// job is cancelled (its error is then the context's).
func blockUntil(release <-chan struct{}, out string, seen func(*jobs.Job)) worker.HandlerFunc {
	return func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		seen(j)
		select {
		case <-release:
			return jobs.Result{Output: out}, nil
		case <-ctx.Done():
			return jobs.Result{}, ctx.Err()
		}
	}
}

// TestClusterRunsJobs runs a batch over workers of every transport and
// mode, alone and mixed on one master.
func TestClusterRunsJobs(t *testing.T) {
	gob := worker.Config{Transport: rpcapi.TransportGob}
	xml := worker.Config{Transport: rpcapi.TransportXMLRPC}
	pull := worker.Config{Mode: rpcapi.ModePull}
	xmlPull := worker.Config{Transport: rpcapi.TransportXMLRPC, Mode: rpcapi.ModePull}
	for _, tc := range []struct {
		name    string
		workers []worker.Config
	}{
		{"gob", []worker.Config{gob, gob}},
		{"xmlrpc", []worker.Config{xml, xml}},
		{"pull", []worker.Config{pull, xmlPull}},
		{"mixed", []worker.Config{gob, xml, pull}},
	} {
		t.Run(tc.name, func(t *testing.T) { testClusterRunsJobs(t, tc.workers) })
	}
}

func testClusterRunsJobs(t *testing.T, workers []worker.Config) {
	m := startMaster(t, master.Config{})
	var ran sync.Map
	h := func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		ran.Store(j.ID, j.Spec.Args["name"])
		return echo(ctx, j)
	}
	for i, cfg := range workers {
		cfg.Master, cfg.Name, cfg.Slots = m.Addr(), fmt.Sprint("w", i), 4
		master.StartTestWorker(t, cfg, map[string]worker.HandlerFunc{"echo": h})
	}
	mc := client(t, m.Addr())
	var specs []jobs.Spec
	for i := range 200 {
		specs = append(specs, jobs.Spec{Type: "echo", Args: map[string]string{"name": fmt.Sprint(i)}})
	}
	ids := submit(t, mc, specs...)
	r := waitAll(t, mc, ids, 20*time.Second)
	if r.Counts[jobs.Succeeded] != 200 {
		for _, id := range r.Failed[:min(3, len(r.Failed))] {
			info, _ := mc.GetJob(context.Background(), id)
			t.Logf("job %s: %+v\n%+v", id, info.Job.Attempts, info.Job.Events)
		}
		t.Fatalf("counts %v", r.Counts)
	}
	info, err := mc.GetJob(context.Background(), ids[7])
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Job.Attempts[0].Output; got != "hello 7" {
		t.Fatalf("output %q", got)
	}
	ws, _ := mc.ListWorkers(context.Background())
	busy := 0
	for _, w := range ws.Workers {
		if w.State != rpcapi.WorkerAlive {
			t.Fatalf("worker %s is %s", w.Name, w.State)
		}
		busy++
	}
	if busy != len(workers) {
		t.Fatalf("want %d workers, got %d", len(workers), busy)
	}
	n := 0
	ran.Range(func(k, v any) bool { n++; return true })
	if n != 200 {
		t.Fatalf("%d distinct jobs ran, want 200", n)
	}
}

// TestRetryThenFail: failed attempts are retried up to Retries times,
// and a permanent failure is not retried. The master runs on a fake clock,
// which the test moves through each retry's backoff.
func TestRetryThenFail(t *testing.T) {
	m, fc := startClockMaster(t, master.Config{})
	var calls atomic.Int32
	startWorker(t, m.Addr(), "a", 2, map[string]worker.HandlerFunc{
		"flaky": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			if j.Attempt < 2 {
				return jobs.Result{}, errors.New("first try fails")
			}
			return jobs.Result{}, nil
		},
		"bad": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			calls.Add(1)
			return jobs.Result{ExitCode: 1}, errors.New("always fails")
		},
		"panics": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			panic("boom")
		},
		"perm": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{}, worker.Permanent(errors.New("bad input"))
		},
	})
	mc := client(t, m.Addr())
	ids := submit(t, mc,
		jobs.Spec{Type: "flaky", Retries: 3},
		jobs.Spec{Type: "bad", Retries: 2},
		jobs.Spec{Type: "panics", Retries: 1},
		jobs.Spec{Type: "perm", Retries: 5},
	)
	driveRetries(t, mc, fc, ids, 20*time.Second)
	want := []struct {
		state    jobs.State
		attempts int
		errText  string
	}{
		{jobs.Succeeded, 2, ""},
		{jobs.Failed, 3, "always fails"},
		{jobs.Failed, 2, "panicked: boom"},
		{jobs.Failed, 1, "bad input"},
	}
	for i, w := range want {
		info, err := mc.GetJob(context.Background(), ids[i])
		if err != nil {
			t.Fatal(err)
		}
		j := info.Job
		if j.State != w.state || len(j.Attempts) != w.attempts {
			t.Errorf("job %d: state %s attempts %d, want %s %d", i, j.State, len(j.Attempts), w.state, w.attempts)
		}
		if w.errText != "" && !strings.Contains(j.Attempts[len(j.Attempts)-1].Error, w.errText) {
			t.Errorf("job %d: error %q, want %q", i, j.Attempts[len(j.Attempts)-1].Error, w.errText)
		}
	}
	if calls.Load() != 3 {
		t.Errorf("bad ran %d times, want 3", calls.Load())
	}
}
