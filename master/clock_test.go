package master

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// fakeClock is a clock that moves only when the test advances it.
//
// Advance fires what came due before it returns: a due timer's channel
// holds the time, a due ticker's one tick. What a loop does with it comes
// after: the test polls for that with a short deadline (the loop runs at
// once; no real time has to pass). A loop arms a timer for a time it
// computed from Now, so a test that means to fire a timer first waits
// until it is armed (AwaitTimer) and then advances to it: advanced before,
// the clock would leave the timer late by the advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at     time.Time
	period time.Duration // a ticker's; 0 for a timer
	c      chan time.Time
}

func newFakeClock(now time.Time) *fakeClock { return &fakeClock{now: now} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.at(f.now.Add(d))
}

func (f *fakeClock) At(at time.Time) (<-chan time.Time, func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.at(at)
}

// at arms a timer for at. The caller holds mu.
func (f *fakeClock) at(at time.Time) (<-chan time.Time, func() bool) {
	c := make(chan time.Time, 1)
	if !at.After(f.now) {
		c <- f.now
		return c, func() bool { return false }
	}
	t := &fakeTimer{at: at, c: c}
	f.timers = append(f.timers, t)
	return c, func() bool { return f.remove(t) }
}

func (f *fakeClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	if d <= 0 {
		panic(fmt.Sprintf("fakeClock: ticker interval %s", d))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{at: f.now.Add(d), period: d, c: make(chan time.Time, 1)}
	f.timers = append(f.timers, t)
	return t.c, func() { f.remove(t) }
}

func (f *fakeClock) remove(t *fakeTimer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.timers)
	f.timers = slices.DeleteFunc(f.timers, func(x *fakeTimer) bool { return x == t })
	return len(f.timers) < n
}

// Advance moves the clock by d and fires the timers and tickers that came
// due. A ticker whose last tick was not taken yet drops this one, as
// time.Ticker does; its next tick is the first of its period after the
// new time.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.timers = slices.DeleteFunc(f.timers, func(t *fakeTimer) bool {
		if t.at.After(f.now) {
			return false
		}
		select {
		case t.c <- f.now:
		default:
		}
		if t.period == 0 {
			return true
		}
		t.at = t.at.Add((f.now.Sub(t.at)/t.period + 1) * t.period)
		return false
	})
}

// AdvanceTo moves the clock forward to at (not back) and fires what came
// due.
func (f *fakeClock) AdvanceTo(at time.Time) {
	f.Advance(max(at.Sub(f.Now()), 0))
}

// TimerIn returns the soonest time in [lo, hi] a timer (not a ticker)
// waits for, and whether there is one.
func (f *fakeClock) TimerIn(lo, hi time.Time) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var at time.Time
	for _, t := range f.timers {
		if t.period == 0 && !t.at.Before(lo) && !t.at.After(hi) && (at.IsZero() || t.at.Before(at)) {
			at = t.at
		}
	}
	return at, !at.IsZero()
}

// AwaitTimer waits (5 s of real time at most) until a timer waits for a
// time in [lo, hi], and returns the soonest such time.
func (f *fakeClock) AwaitTimer(t testing.TB, what string, lo, hi time.Time) time.Time {
	t.Helper()
	var at time.Time
	testproc.Poll(t, 5*time.Second, fmt.Sprintf("a timer for %s between %s and %s on the fake clock",
		what, lo.Format(time.RFC3339Nano), hi.Format(time.RFC3339Nano)), func() bool {
		var ok bool
		at, ok = f.TimerIn(lo, hi)
		return ok
	})
	return at
}

// clockMaster starts a master on a fake clock with the memory store and,
// unless cfg sets them, heartbeats every 10 s, dead_after 30 s and a
// retry backoff of 10 s up to 20 s, all on that clock: the reaper looks
// every 2.5 s of it. Nothing in these tests may wait for that in real
// time: a loop on the wall clock would fail their deadlines of a second.
func clockMaster(t *testing.T, cfg Config) (*Master, *fakeClock) {
	t.Helper()
	fc := newFakeClock(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	cfg.Store, cfg.Listen, cfg.Logger, cfg.clock = StoreMemory, "127.0.0.1:0", quietLog(), fc
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval, cfg.DeadAfter = 10*time.Second, 30*time.Second
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff, cfg.MaxBackoff = 10*time.Second, 20*time.Second
	}
	return startT(t, cfg), fc
}

// pullSecrets holds the secret register_worker handed each pullWorker,
// by worker ID (IDs are unique across masters: they carry a random tail).
var pullSecrets sync.Map

// pullWorker registers a pull worker called name for types with one slot
// and returns its ID; secretOf returns its secret.
func pullWorker(t *testing.T, m *Master, name string, types ...string) string {
	t.Helper()
	var reg rpcapi.RegisterReply
	if err := m.wire.Register(context.Background(), &rpcapi.RegisterArgs{Name: name, Types: types, Slots: 1,
		Mode: rpcapi.ModePull}, &reg); err != nil {
		t.Fatal(err)
	}
	pullSecrets.Store(reg.WorkerID, reg.Secret)
	return reg.WorkerID
}

func secretOf(wid string) string {
	s, _ := pullSecrets.Load(wid)
	return s.(string)
}

// fetchTask fetches (waiting up to a second of real time) and fails the
// test unless it gets exactly one task.
func fetchTask(t *testing.T, m *Master, wid string) rpcapi.Task {
	t.Helper()
	// Up to 4 s of real time: the fetch answers once the task is leased,
	// and a dispatcher starved of CPU (CI runs every package at once) may
	// take more than a second to run its timer.
	var f rpcapi.FetchReply
	if err := m.wire.Fetch(context.Background(), &rpcapi.FetchArgs{WorkerID: wid, Secret: secretOf(wid), Timeout: 4 * time.Second}, &f); err != nil || len(f.Tasks) != 1 {
		t.Fatalf("fetch by %s: %+v, %v; want one task", wid, f, err)
	}
	return f.Tasks[0]
}

// workerState is worker id's state as list_workers shows it.
func workerState(t *testing.T, m *Master, id string) string {
	t.Helper()
	var r rpcapi.ListWorkersReply
	if err := m.wire.ListWorkers(context.Background(), &rpcapi.ListWorkersArgs{}, &r); err != nil {
		t.Fatal(err)
	}
	for _, w := range r.Workers {
		if w.ID == id {
			return w.State
		}
	}
	return "gone"
}

func jobNow(t *testing.T, m *Master, id string) jobs.Job {
	t.Helper()
	j, err := m.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestReapOnFakeClock: a worker silent past dead_after on the master's
// clock is reaped and its job leased again after its backoff; one silent
// for less is not. Only the fake clock moves: a reaper on real time (it
// would look every 2.5 s) misses the second's deadline.
func TestReapOnFakeClock(t *testing.T) {
	m, fc := clockMaster(t, Config{})
	start := time.Now()
	early := pullWorker(t, m, "early", "other")
	fc.Advance(5 * time.Second)
	silent := pullWorker(t, m, "silent", "t")
	ids, err := m.Submit(context.Background(), jobs.Spec{Type: "t", Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	if task := fetchTask(t, m, silent); task.JobID != ids[0] {
		t.Fatalf("fetched %+v, want job %s", task, ids[0])
	}

	// 31 s after early's last call and 26 s after silent's: the reaper's
	// one pass at that time reaps early, and leaves silent alone.
	fc.Advance(26 * time.Second)
	testproc.Poll(t, time.Second, "the worker silent for 31 s reaped", func() bool {
		return workerState(t, m, early) == rpcapi.WorkerDead
	})
	if s, j := workerState(t, m, silent), jobNow(t, m, ids[0]); s != rpcapi.WorkerAlive || j.State != jobs.Running {
		t.Fatalf("26 s after its last call the worker is %s and its job %s; want alive and running", s, j.State)
	}

	fc.Advance(5 * time.Second) // silent for 31 s
	var j jobs.Job
	testproc.Poll(t, time.Second, "the silent worker reaped and its job pending again", func() bool {
		j = jobNow(t, m, ids[0])
		return j.State == jobs.Pending
	})
	if len(j.Attempts) != 1 || j.Attempts[0].Outcome != jobs.Lost || workerState(t, m, silent) != rpcapi.WorkerDead {
		t.Fatalf("after the reap: %+v; want attempt 1 lost", j.Attempts)
	}

	live := pullWorker(t, m, "live", "t")
	fc.AdvanceTo(fc.AwaitTimer(t, "the retry", j.NotBefore, j.NotBefore))
	if task := fetchTask(t, m, live); task.JobID != ids[0] || task.Attempt != 2 {
		t.Fatalf("after the backoff: %+v, want attempt 2 of %s", task, ids[0])
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %s of real time", took)
	}
}

// TestReportIsABeat: a task_complete from a live registration counts as
// a heartbeat (docs/protocol.md, task_complete's beat): a worker that
// reports, and does not beat, is reaped dead_after after its last report,
// not after its last beat; the reply says beat true, and a dead
// registration's report gets beat false.
func TestReportIsABeat(t *testing.T) {
	m, fc := clockMaster(t, Config{})
	wid := pullWorker(t, m, "reporter", "t")
	ids, err := m.Submit(context.Background(), jobs.Spec{Type: "t"}, jobs.Spec{Type: "t"})
	if err != nil {
		t.Fatal(err)
	}
	report := func(task rpcapi.Task) rpcapi.CompleteReply {
		t.Helper()
		var r rpcapi.CompleteReply
		if err := m.wire.Complete(context.Background(), &rpcapi.CompleteArgs{WorkerID: wid, Secret: secretOf(wid),
			Reports: []rpcapi.Report{{JobID: task.JobID, Attempt: task.Attempt, Outcome: jobs.OK}}}, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := fetchTask(t, m, wid) // the worker's last call but reports
	fc.Advance(26 * time.Second)
	if r := report(first); !r.Beat || r.Accepted != 1 {
		t.Fatalf("task_complete of a live worker: %+v; want accepted 1, beat true", r)
	}
	// 52 s after its fetch, 26 s after its report: alive (dead_after 30 s).
	// The reaper's pass at that time is run here, so that the check sees
	// what it did.
	fc.Advance(26 * time.Second)
	m.core.reg.reap(fc.Now())
	if s := workerState(t, m, wid); s != rpcapi.WorkerAlive {
		t.Fatalf("26 s after its report the worker is %s; want alive", s)
	}
	fc.Advance(5 * time.Second)
	testproc.Poll(t, time.Second, "the worker silent for 31 s reaped", func() bool {
		return workerState(t, m, wid) == rpcapi.WorkerDead
	})
	if r := report(rpcapi.Task{JobID: ids[1], Attempt: 1}); r.Beat || r.Accepted != 0 {
		t.Fatalf("task_complete of a dead worker: %+v; want nothing accepted, beat false", r)
	}
}

// TestReportBeatOnTheWire: over XML-RPC, task_complete's reply carries
// beat whatever its value (docs/protocol.md: every member listed is
// present): true from a live registration, false from one logged out.
func TestReportBeatOnTheWire(t *testing.T) {
	m, _ := clockMaster(t, Config{})
	wid := pullWorker(t, m, "wire", "t")
	complete := func() string {
		t.Helper()
		body := `<?xml version="1.0"?><methodCall><methodName>task_complete</methodName><params><param><value><struct>` +
			`<member><name>worker_id</name><value><string>` + wid + `</string></value></member>` +
			`<member><name>secret</name><value><string>` + secretOf(wid) + `</string></value></member>` +
			`<member><name>reports</name><value><array><data></data></array></value></member>` +
			`</struct></value></param></params></methodCall>`
		res, err := http.Post("http://"+m.Addr()+rpcapi.XMLRPCPath, "text/xml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if got := complete(); !strings.Contains(got, "<name>beat</name><value><boolean>1</boolean></value>") {
		t.Fatalf("task_complete of a live worker: %s; want beat true", got)
	}
	if err := m.wire.Logout(context.Background(), &rpcapi.LogoutArgs{WorkerID: wid, Secret: secretOf(wid)}, &rpcapi.Empty{}); err != nil {
		t.Fatal(err)
	}
	if got := complete(); !strings.Contains(got, "<name>beat</name><value><boolean>0</boolean></value>") {
		t.Fatalf("task_complete of a logged-out worker: %s; want beat false, present", got)
	}
}

// TestBackoffOnFakeClock: a failed attempt is retried after its backoff
// (retry_backoff, half of it random) on the master's clock: a dispatch
// pass just before leases nothing, and the dispatcher's timer leases it
// at the time, without real time passing.
func TestBackoffOnFakeClock(t *testing.T) {
	// A backoff of 1 to 2 minutes: on the system's clock the retry would
	// take a minute at least, far beyond what a starved machine adds. The
	// worker, which does not beat here, stays alive as long.
	m, fc := clockMaster(t, Config{RetryBackoff: 2 * time.Minute, MaxBackoff: 4 * time.Minute,
		HeartbeatInterval: time.Minute, DeadAfter: 5 * time.Minute})
	ctx := context.Background()
	wid := pullWorker(t, m, "w", "t")
	ids, err := m.Submit(ctx, jobs.Spec{Type: "t", Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	task := fetchTask(t, m, wid)
	var cr rpcapi.CompleteReply
	err = m.wire.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: wid, Secret: secretOf(wid), Reports: []rpcapi.Report{
		{JobID: ids[0], Attempt: task.Attempt, Outcome: jobs.Error, Error: "boom"}}}, &cr)
	if err != nil || cr.Accepted != 1 {
		t.Fatalf("report: %+v, %v", cr, err)
	}
	j := jobNow(t, m, ids[0])
	wait := j.NotBefore.Sub(fc.Now())
	if j.State != jobs.Pending || wait < time.Minute || wait > 2*time.Minute {
		t.Fatalf("after a failed attempt: %s, not before %s (%s on the master's clock), want 1-2 min", j.State, j.NotBefore, wait)
	}
	fc.AwaitTimer(t, "the retry", j.NotBefore, j.NotBefore)

	fc.Advance(wait - time.Millisecond)
	m.core.lock()
	m.disp.pass(m.core.now()) // what the dispatcher would do now
	m.core.unlock()
	if j := jobNow(t, m, ids[0]); j.State != jobs.Pending || j.Attempt != 1 {
		t.Fatalf("a millisecond before the backoff ends the job is %s (attempt %d), want pending", j.State, j.Attempt)
	}
	// The backoff ends. The clock then steps on by a millisecond a
	// second of real time while no task comes: a dispatcher woken by
	// the advance above (the reaper's tick) may arm its timer for the
	// retry while the clock moves, at least 1 ms after its own reading of
	// it, so past the backoff's end.
	start := time.Now()
	var f rpcapi.FetchReply
	for len(f.Tasks) == 0 && time.Since(start) < 30*time.Second {
		fc.Advance(time.Millisecond)
		if err := m.wire.Fetch(ctx, &rpcapi.FetchArgs{WorkerID: wid, Secret: secretOf(wid), Timeout: time.Second}, &f); err != nil {
			t.Fatal(err)
		}
	}
	// On the master's clock, the retry comes without real time passing;
	// on the system's, it would take the backoff, a minute at least:
	// 30 s tells them apart on a loaded machine.
	if len(f.Tasks) != 1 || f.Tasks[0].Attempt != 2 {
		t.Fatalf("after the backoff, for %s of real time: %+v, want attempt 2", time.Since(start), f.Tasks)
	}
}

// TestLeaseBackstopOnFakeClock: an attempt with a timeout that its worker
// keeps listing as running is ended by the master at timeout + dead_after
// + 10 s after the lease, on the master's clock, and not before.
func TestLeaseBackstopOnFakeClock(t *testing.T) {
	m, fc := clockMaster(t, Config{})
	ctx := context.Background()
	wid := pullWorker(t, m, "w", "t")
	ids, err := m.Submit(ctx, jobs.Spec{Type: "t", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	task := fetchTask(t, m, wid)
	leased := fc.Now()
	beat := func() {
		t.Helper()
		var r rpcapi.HeartbeatReply
		err := m.wire.Heartbeat(ctx, &rpcapi.HeartbeatArgs{WorkerID: wid, Secret: secretOf(wid),
			Running: []rpcapi.JobRef{{JobID: task.JobID, Attempt: task.Attempt}}}, &r)
		if err != nil || r.Status != rpcapi.BeatOK {
			t.Fatalf("heartbeat: %+v, %v", r, err)
		}
	}
	// The backstop is 20 + 30 + 10 = 60 s after the lease. The worker
	// beats every 20 s, well within dead_after.
	for range 2 {
		fc.Advance(20 * time.Second)
		beat()
	}
	fc.Advance(19 * time.Second)
	beat()
	m.reg.reap(m.core.now()) // the reaper's pass at 59 s, done for sure
	if j := jobNow(t, m, ids[0]); j.State != jobs.Running {
		t.Fatalf("59 s after the lease the job is %s, want running", j.State)
	}
	fc.Advance(2 * time.Second)
	var j jobs.Job
	testproc.Poll(t, time.Second, "the attempt ended by the master's backstop", func() bool {
		j = jobNow(t, m, ids[0])
		return j.State == jobs.Failed
	})
	a := j.Attempts[0]
	if a.Outcome != jobs.Timeout || a.Ended.Sub(leased) != 61*time.Second {
		t.Fatalf("attempt %+v; want a timeout 61 s after the lease", a)
	}
}
