package drovertest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// gate holds the first attempt of every job until it is opened (or the
// attempt's context ends); later attempts run at once. It records which
// attempts ran.
type gate struct {
	open chan struct{}
	once sync.Once

	mu  sync.Mutex
	ran map[string][]int
}

func newGate() *gate { return &gate{open: make(chan struct{}), ran: make(map[string][]int)} }

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

func (g *gate) handler(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	g.mu.Lock()
	g.ran[j.ID] = append(g.ran[j.ID], j.Attempt)
	g.mu.Unlock()
	if j.Attempt == 1 {
		select {
		case <-g.open:
		case <-ctx.Done():
			return jobs.Result{}, ctx.Err()
		}
	}
	return jobs.Result{Output: fmt.Sprintf("attempt %d", j.Attempt)}, nil
}

func (g *gate) runs(id string) []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.ran[id]...)
}

// runningOn waits until job id runs and the master knows it started (the
// worker's answer to the Assign arrived: a fault injected before that
// makes the master take the lease back, not lose it), and returns the
// index of its worker.
func runningOn(t *testing.T, c *drovertest.Cluster, id string) int {
	t.Helper()
	idx := -1
	drovertest.Eventually(t, 10*time.Second, "job "+id+" to run", func() bool {
		j := c.Job(id)
		if j.State != jobs.Running || !slices.ContainsFunc(j.Events, func(e jobs.Event) bool {
			return strings.HasPrefix(e.Text, "started on "+j.Worker+" ")
		}) {
			return false
		}
		for i := range c.Workers() {
			if w := c.Worker(i); w.ID() == j.Worker && w.Running() > 0 {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

// gatedJob starts two workers of one slot that run type "job" through a
// gate, submits one such job (3 retries) and waits until it runs: it
// returns the gate, the cluster, the job's ID (in a slice) and the index
// of the worker that runs it. The workers do not fence themselves
// (fence = false): the tests follow a stalled worker's attempt running on
// and reporting late, the at-least-once path.
func gatedJob(t *testing.T) (*gate, *drovertest.Cluster, []string, int) {
	t.Helper()
	g := newGate()
	c := drovertest.Start(t, drovertest.Options{Workers: 2, Slots: 1,
		Handlers:        map[string]worker.HandlerFunc{"job": g.handler},
		ConfigureWorker: func(_ int, cfg *worker.Config) { cfg.NoFence = true }})
	ids := c.Submit(jobs.Spec{Type: "job", Retries: 3})
	return g, c, ids, runningOn(t, c, ids[0])
}

// waitState waits up to 10s until the master lists worker i in state
// (what says so).
func waitState(t *testing.T, c *drovertest.Cluster, i int, what, state string) {
	t.Helper()
	drovertest.Eventually(t, 10*time.Second, what, func() bool { return workerState(c, i) == state })
}

func workerState(c *drovertest.Cluster, i int) string {
	wi, ok := c.WorkerInfo(i)
	if !ok {
		return ""
	}
	return wi.State
}

func outcomes(j jobs.Job) []jobs.Outcome {
	var out []jobs.Outcome
	for _, a := range j.Attempts {
		out = append(out, a.Outcome)
	}
	return out
}

// TestPartitionReapHeal: a partitioned worker is reaped, its job reruns on
// the other worker, and once healed it registers again and takes work.
func TestPartitionReapHeal(t *testing.T) {
	g, c, ids, victim := gatedJob(t)
	oldID := c.Worker(victim).ID()

	c.Partition(victim)
	waitState(t, c, victim, "the partitioned worker reaped", rpcapi.WorkerDead)
	r := c.WaitAll(ids, 10*time.Second)
	if r.Counts[jobs.Succeeded] != 1 {
		t.Fatalf("counts %v", r.Counts)
	}
	j := c.Job(ids[0])
	if got := outcomes(j); len(got) != 2 || got[0] != jobs.Lost || got[1] != jobs.OK {
		t.Fatalf("outcomes %v; want [lost ok]", got)
	}

	c.Heal(victim)
	drovertest.Eventually(t, 10*time.Second, "the healed worker registered again", func() bool {
		wi, ok := c.WorkerInfo(victim)
		return ok && wi.State == rpcapi.WorkerAlive && wi.ID != oldID
	})
	// The partitioned attempt is still held on the gate: the worker was
	// told to drop it when it registered again.
	drovertest.Eventually(t, 5*time.Second, "the stale attempt stopped", func() bool {
		return c.Worker(victim).Running() == 0
	})
	g.release()
	more := make([]jobs.Spec, 8)
	for i := range more {
		more[i] = jobs.Spec{Type: "job"}
	}
	// Both workers take work again (attempt 1 no longer blocks).
	ids2 := c.Submit(more...)
	r = c.WaitAll(ids2, 10*time.Second)
	if r.Counts[jobs.Succeeded] != len(ids2) {
		t.Fatalf("after heal: counts %v", r.Counts)
	}
	if j := c.Job(ids[0]); j.State != jobs.Succeeded || len(j.Attempts) != 2 {
		t.Fatalf("the first job changed after the heal: %s %v", j.State, outcomes(j))
	}
}

// TestPauseLateReport: a worker whose link stalls beyond DeadAfter is
// reaped and its job reruns elsewhere; the report it sent while stalled
// arrives late, is dropped, and is counted as stale.
func TestPauseLateReport(t *testing.T) {
	g, c, ids, victim := gatedJob(t)
	stale0 := c.Metric("drover_stale_reports_dropped_total")

	c.Pause(victim)
	waitState(t, c, victim, "the stalled worker reaped", rpcapi.WorkerDead)
	c.WaitAll(ids, 10*time.Second)
	// The first attempt finishes now, behind the stalled link: its report
	// waits in the proxy.
	g.release()
	drovertest.Eventually(t, 5*time.Second, "the first attempt to finish", func() bool {
		return c.Worker(victim).Running() == 0
	})
	time.Sleep(3 * drovertest.DefaultHeartbeatInterval) // the stall goes on a little longer
	c.Resume(victim)

	drovertest.Eventually(t, 10*time.Second, "the late report dropped", func() bool {
		return c.Metric("drover_stale_reports_dropped_total") > stale0
	})
	j := c.Job(ids[0])
	if got := outcomes(j); j.State != jobs.Succeeded || len(got) != 2 || got[0] != jobs.Lost || got[1] != jobs.OK {
		t.Fatalf("state %s outcomes %v; want succeeded [lost ok]", j.State, got)
	}
	if j.Attempts[1].Output != "attempt 2" {
		t.Errorf("recorded output %q, want the second attempt's", j.Attempts[1].Output)
	}
	if got := g.runs(ids[0]); len(got) != 2 {
		t.Errorf("attempts run %v, want [1 2]", got)
	}
	waitState(t, c, victim, "the stalled worker back", rpcapi.WorkerAlive)
}

// TestRestartMaster: a master restarted in the middle of a batch keeps
// every job; the workers register again, the master adopts what they run,
// and every job ends succeeded with one ok attempt.
func TestRestartMaster(t *testing.T) {
	var mu sync.Mutex
	ran := map[string]int{}
	slow := func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		mu.Lock()
		ran[j.ID]++
		mu.Unlock()
		select {
		case <-time.After(30 * time.Millisecond):
		case <-ctx.Done():
			return jobs.Result{}, ctx.Err()
		}
		return jobs.Result{}, nil
	}
	c := drovertest.Start(t, drovertest.Options{Workers: 3,
		Handlers: map[string]worker.HandlerFunc{"slow": slow}})
	specs := make([]jobs.Spec, 120)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "slow", Retries: 5}
	}
	ids := c.Submit(specs...)
	drovertest.Eventually(t, 10*time.Second, "some jobs done", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) >= 20
	})
	c.RestartMaster()
	r := c.WaitAll(ids, 30*time.Second)
	if r.Counts[jobs.Succeeded] != len(ids) {
		t.Fatalf("counts %v", r.Counts)
	}
	ls, err := c.Client().ListAllJobs(context.Background(), rpcapi.ListJobsArgs{Limit: rpcapi.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != len(ids) {
		t.Fatalf("%d jobs after the restart, want %d", len(ls), len(ids))
	}
	for _, j := range ls {
		oks := 0
		for _, a := range j.Attempts {
			if a.Outcome == jobs.OK {
				oks++
			}
		}
		if j.State != jobs.Succeeded || oks != 1 {
			t.Errorf("job %s: %s with %d ok attempts: %v", j.ID, j.State, oks, outcomes(j))
		}
	}
	for i := range c.Workers() {
		if s := workerState(c, i); s != rpcapi.WorkerAlive {
			t.Errorf("worker %d is %q after the restart", i, s)
		}
	}
}

// TestKillRestartWorker: a killed worker's job reruns elsewhere; the
// restarted worker registers under the same name.
func TestKillRestartWorker(t *testing.T) {
	_, c, ids, victim := gatedJob(t)
	c.KillWorker(victim)
	if c.Alive(victim) {
		t.Fatal("killed worker reported alive")
	}
	r := c.WaitAll(ids, 10*time.Second)
	if r.Counts[jobs.Succeeded] != 1 {
		t.Fatalf("counts %v", r.Counts)
	}
	if got := outcomes(c.Job(ids[0])); len(got) != 2 || got[0] != jobs.Lost {
		t.Fatalf("outcomes %v; want [lost ok]", got)
	}
	c.RestartWorker(victim)
	wi, ok := c.WorkerInfo(victim)
	if !ok || wi.State != rpcapi.WorkerAlive || wi.Name != c.Name(victim) || wi.ID != c.Worker(victim).ID() {
		t.Fatalf("restarted worker: %+v (found %v)", wi, ok)
	}
}

// TestFailStore: while the store fails, submits fail with ErrUnavailable
// and nothing is created; once it recovers, submits and jobs go through.
func TestFailStore(t *testing.T) {
	g := newGate()
	g.release()
	c := drovertest.Start(t, drovertest.Options{Workers: 1,
		Handlers: map[string]worker.HandlerFunc{"job": g.handler}})
	before := c.Submit(jobs.Spec{Type: "job"})
	c.WaitAll(before, 10*time.Second)

	c.FailStore()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := c.Client().Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "job"}}})
	cancel()
	if !errors.Is(err, rpcapi.ErrUnavailable) {
		t.Fatalf("submit with a failing store: %v; want ErrUnavailable", err)
	}
	if c.FailedSaves() == 0 {
		t.Error("no failed saves counted")
	}
	c.RestoreStore()
	after := c.Submit(jobs.Spec{Type: "job"})
	c.WaitAll(after, 10*time.Second)
	ls, err := c.Client().ListJobs(context.Background(), &rpcapi.ListJobsArgs{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Jobs) != 2 {
		t.Fatalf("%d jobs; want the 2 acknowledged", len(ls.Jobs))
	}
}

// TestXMLRPC: the cluster works the same with workers and client on
// XML-RPC, across a partition and a master restart.
func TestXMLRPC(t *testing.T) {
	g := newGate()
	g.release()
	c := drovertest.Start(t, drovertest.Options{Workers: 2, Transport: rpcapi.TransportXMLRPC,
		Handlers: map[string]worker.HandlerFunc{"job": g.handler}})
	specs := make([]jobs.Spec, 20)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "job", Retries: 3}
	}
	ids := c.Submit(specs...)
	c.WaitAll(ids, 10*time.Second)

	old := c.Worker(0).ID()
	c.Partition(0)
	waitState(t, c, 0, "worker 0 reaped", rpcapi.WorkerDead)
	c.Heal(0)
	drovertest.Eventually(t, 10*time.Second, "worker 0 back", func() bool {
		wi, ok := c.WorkerInfo(0)
		return ok && wi.ID != old && wi.State == rpcapi.WorkerAlive
	})
	c.RestartMaster()
	ids = append(ids, c.Submit(specs...)...)
	r := c.WaitAll(ids, 10*time.Second)
	if r.Counts[jobs.Succeeded] != len(ids) {
		t.Fatalf("counts %v", r.Counts)
	}
}

func TestMetricValue(t *testing.T) {
	text := `# HELP drover_jobs Jobs by state.
# TYPE drover_jobs gauge
drover_jobs{state="pending"} 2
drover_jobs{state="running"} 3
drover_jobs_submitted_total 7
drover_stale_reports_dropped_total 1e+00
`
	for _, tc := range []struct {
		name  string
		want  float64
		found bool
	}{
		{"drover_jobs", 5, true},
		{"drover_jobs_submitted_total", 7, true},
		{"drover_stale_reports_dropped_total", 1, true},
		{"drover_nothing", 0, false},
	} {
		got, found := drovertest.MetricValue(text, tc.name)
		if got != tc.want || found != tc.found {
			t.Errorf("%s: %v %v; want %v %v", tc.name, got, found, tc.want, tc.found)
		}
	}
}

// exampleT stands in for a test's *testing.T in the examples, which have
// none: it runs the cleanups at finish and panics on a failure. Only the
// methods drovertest calls are implemented.
type exampleT struct {
	testing.TB // nil
	cleanups   []func()
}

func newExampleT() *exampleT { return &exampleT{} }

func (t *exampleT) Helper()          {}
func (t *exampleT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Log(args ...any)  {}
func (t *exampleT) Errorf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
func (t *exampleT) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
func (t *exampleT) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

func (t *exampleT) finish() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
