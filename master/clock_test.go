package master

import (
	"context"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// clockMaster starts a master on a fake clock with the memory store,
// heartbeats every 100 ms (the reaper looks every 25 ms of real time) and
// dead_after 10 s, backoff 1 minute.
func clockMaster(t *testing.T) (*Master, *fakeClock) {
	t.Helper()
	fc := newFakeClock(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	m := startT(t, Config{Store: StoreMemory, Listen: "127.0.0.1:0", Logger: quietLog(), clock: fc,
		HeartbeatInterval: 100 * time.Millisecond, DeadAfter: 10 * time.Second, RetryBackoff: time.Minute, MaxBackoff: time.Hour})
	return m, fc
}

// clockJob starts a clockMaster, registers a pull worker called name for
// type "t" with one slot, and submits a job of that type with 3 retries.
func clockJob(t *testing.T, name string) (*Master, *fakeClock, rpcapi.RegisterReply, []string) {
	t.Helper()
	m, fc := clockMaster(t)
	ctx := context.Background()
	var reg rpcapi.RegisterReply
	if err := m.rpc().Register(ctx, &rpcapi.RegisterArgs{Name: name, Types: []string{"t"}, Slots: 1, Mode: rpcapi.ModePull}, &reg); err != nil {
		t.Fatal(err)
	}
	ids, err := m.Submit(ctx, jobs.Spec{Type: "t", Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	return m, fc, reg, ids
}

// TestReapOnFakeClock: a worker silent past dead_after on the master's
// clock is reaped and its job leased again, without waiting 10 s.
func TestReapOnFakeClock(t *testing.T) {
	m, fc, reg, ids := clockJob(t, "silent")
	ctx := context.Background()
	api := m.rpc()
	var f rpcapi.FetchReply
	if err := api.Fetch(ctx, &rpcapi.FetchArgs{WorkerID: reg.WorkerID, Timeout: time.Second}, &f); err != nil || len(f.Tasks) != 1 {
		t.Fatalf("fetch: %+v, %v", f, err)
	}
	start := time.Now()
	fc.Advance(9 * time.Second)
	time.Sleep(100 * time.Millisecond) // four reaper passes: not dead yet
	if j, _ := m.Job(ctx, ids[0]); j.State != jobs.Running {
		t.Fatalf("9 s after its last heartbeat the job is %s, want still running", j.State)
	}
	fc.Advance(2 * time.Second)
	// A fake clock's consequences take a reaper pass (25 ms of real
	// time here): they come within a second of real time.
	testproc.Poll(t, time.Second, "the silent worker reaped and its job pending again", func() bool {
		j, _ := m.Job(ctx, ids[0])
		return j.State == jobs.Pending && j.Attempt == 1
	})
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("reaping took %s of real time", took)
	}
}

// TestBackoffOnFakeClock: a failed attempt is retried after its backoff
// on the master's clock: not before, and at once after.
func TestBackoffOnFakeClock(t *testing.T) {
	m, fc, reg, ids := clockJob(t, "w")
	ctx := context.Background()
	api := m.rpc()
	fetch := func(wait time.Duration) []rpcapi.Task {
		var f rpcapi.FetchReply
		if err := api.Fetch(ctx, &rpcapi.FetchArgs{WorkerID: reg.WorkerID, Timeout: wait}, &f); err != nil {
			t.Fatal(err)
		}
		return f.Tasks
	}
	tasks := fetch(time.Second)
	if len(tasks) != 1 {
		t.Fatalf("first fetch: %+v", tasks)
	}
	var cr rpcapi.CompleteReply
	err := api.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: reg.WorkerID, Reports: []rpcapi.Report{
		{JobID: ids[0], Attempt: tasks[0].Attempt, Outcome: jobs.Error, Error: "boom"}}}, &cr)
	if err != nil || cr.Accepted != 1 {
		t.Fatalf("report: %+v, %v", cr, err)
	}
	j, _ := m.Job(ctx, ids[0])
	wait := j.NotBefore.Sub(fc.Now())
	if j.State != jobs.Pending || wait < 30*time.Second || wait > 2*time.Minute {
		t.Fatalf("after a failed attempt: %s, not before %s (%s on the master's clock), want about a minute", j.State, j.NotBefore, wait)
	}
	if got := fetch(50 * time.Millisecond); len(got) != 0 {
		t.Fatalf("fetched during the backoff: %+v", got)
	}
	fc.Advance(wait + time.Second)
	start := time.Now()
	if got := fetch(time.Second); len(got) != 1 || got[0].Attempt != 2 {
		t.Fatalf("after the backoff: %+v, want attempt 2", got)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the retry came %s of real time after the backoff", took)
	}
}
