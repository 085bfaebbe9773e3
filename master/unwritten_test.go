package master

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// saveGate holds a store's Save while it is shut.
type saveGate struct {
	mu   sync.Mutex
	open chan struct{} // closed: saves go through
}

func newSaveGate() *saveGate {
	g := &saveGate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *saveGate) wait() {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	<-open
}

func (g *saveGate) shut() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

// release opens the gate; it may be called again.
func (g *saveGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// gatedStore is a memory store whose Save waits while the gate is shut.
type gatedStore struct {
	*jobs.MemStore
	*saveGate
}

func newGatedStore() *gatedStore {
	return &gatedStore{MemStore: jobs.NewMemStore(), saveGate: newSaveGate()}
}

func (g *gatedStore) Save(recs []jobs.Record) error {
	g.wait()
	return g.MemStore.Save(recs)
}

// gatedBolt is the bolt store, with its indexes, whose Save waits while
// the gate is shut.
type gatedBolt struct {
	*jobs.BoltStore
	*saveGate
}

func (g *gatedBolt) Save(recs []jobs.Record) error {
	g.wait()
	return g.BoltStore.Save(recs)
}

// TestFinishedJobStaysUntilWritten: a finished job leaves memory (after
// retain) with its record in the store, so get_job never shows
// a finished job in an older state. While the store's write of a job's
// outcome is in flight, the job stays in memory; once it is written, it
// leaves and get_job reads the outcome from the store.
func TestFinishedJobStaysUntilWritten(t *testing.T) {
	st := newGatedStore()
	m, fc := clockMaster(t, Config{StoreImpl: st, Retain: time.Minute})
	wid := pullWorker(t, m, "w", "t")
	ctx := context.Background()
	ids, err := m.Submit(ctx, jobs.Spec{Type: "t"}, jobs.Spec{Type: "t"}, jobs.Spec{Type: "t"})
	if err != nil {
		t.Fatal(err)
	}
	complete := func(task rpcapi.Task) error {
		var r rpcapi.CompleteReply
		return m.wire.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: wid, Secret: secretOf(wid),
			Reports: []rpcapi.Report{{JobID: task.JobID, Attempt: task.Attempt, Outcome: jobs.OK,
				Output: "out " + task.JobID}}}, &r)
	}
	for range 2 { // two jobs finish and are written
		if err := complete(fetchTask(t, m, wid)); err != nil {
			t.Fatal(err)
		}
	}
	st.shut()
	t.Cleanup(st.release) // before the master stops: its last commit
	task := fetchTask(t, m, wid)
	done := make(chan error, 1)
	go func() { done <- complete(task) }() // acknowledged once written
	testproc.Poll(t, 5*time.Second, "job "+task.JobID+" succeeded", func() bool {
		return jobNow(t, m, task.JobID).State == jobs.Succeeded
	})
	inMemory := func(id string) bool {
		m.core.mu.Lock()
		defer m.core.mu.Unlock()
		return m.core.job(id) != nil
	}
	// Retire passes run on the fake clock. All three finished at the same
	// instant, and they leave in the order they finished: the pass that
	// takes the first comes to the unwritten one next.
	testproc.Poll(t, 5*time.Second, "job "+ids[0]+" out of memory", func() bool {
		fc.Advance(5 * time.Second)
		return !inMemory(ids[0])
	})
	if !inMemory(task.JobID) {
		t.Fatalf("job %s left memory before its outcome was written", task.JobID)
	}
	if j := jobNow(t, m, task.JobID); j.State != jobs.Succeeded || len(j.Attempts) != 1 {
		t.Fatalf("job %s while its write waits: %s, %d attempts; want succeeded, 1", task.JobID, j.State, len(j.Attempts))
	}
	st.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	testproc.Poll(t, 5*time.Second, "job "+task.JobID+" out of memory", func() bool {
		fc.Advance(5 * time.Second)
		return !inMemory(task.JobID)
	})
	j := jobNow(t, m, task.JobID)
	if j.State != jobs.Succeeded || len(j.Attempts) != 1 || j.Attempts[0].Output != "out "+task.JobID {
		t.Fatalf("job %s from the store: %s, attempts %+v; want succeeded with its output", task.JobID, j.State, j.Attempts)
	}
}

// TestRetriedJobKeepsItsRetain: a job retried after it left memory
// finishes again and then stays for retain after that finish, as any
// finished job does: what it left with the first time is not held
// against it.
func TestRetriedJobKeepsItsRetain(t *testing.T) {
	// Beats every hour: no retire pass runs but the test's own
	// (retireJobs), at the instants it picks.
	m, fc := clockMaster(t, Config{Retain: time.Minute, HeartbeatInterval: time.Hour, DeadAfter: 3 * time.Hour})
	wid := pullWorker(t, m, "w", "t")
	ctx := context.Background()
	ids, err := m.Submit(ctx, jobs.Spec{Type: "t"})
	if err != nil {
		t.Fatal(err)
	}
	fail := func() {
		t.Helper()
		task := fetchTask(t, m, wid)
		var r rpcapi.CompleteReply
		if err := m.wire.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: wid, Secret: secretOf(wid),
			Reports: []rpcapi.Report{{JobID: task.JobID, Attempt: task.Attempt, Outcome: jobs.Error, Error: "no"}}}, &r); err != nil || r.Accepted != 1 {
			t.Fatalf("report: %+v, %v", r, err)
		}
	}
	inMemory := func() bool {
		m.core.mu.Lock()
		defer m.core.mu.Unlock()
		return m.core.job(ids[0]) != nil
	}
	fail()
	fc.Advance(61 * time.Second)
	m.core.retireJobs(fc.Now())
	if inMemory() {
		t.Fatal("the failed job stays in memory past retain")
	}
	if err := m.Retry(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	fail()
	fc.Advance(30 * time.Second)
	m.core.retireJobs(fc.Now())
	if j := jobNow(t, m, ids[0]); !inMemory() || j.State != jobs.Failed || len(j.Attempts) != 2 {
		t.Fatalf("30 s after its second failure: in memory %v, %s, %d attempts; want in memory, failed, 2", inMemory(), j.State, len(j.Attempts))
	}
	fc.Advance(31 * time.Second)
	m.core.retireJobs(fc.Now())
	if inMemory() {
		t.Fatal("the job stays in memory past retain")
	}
}

// TestFilteredListingHasWhatWaitSaw: docs/protocol.md, list_jobs: a
// listing with a filter that the store's index serves waits for the
// changes made before the call to reach the disk, so a job that wait_jobs
// saw final is in it, though its record was not written yet when the
// listing began.
func TestFilteredListingHasWhatWaitSaw(t *testing.T) {
	bs, err := jobs.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := &gatedBolt{BoltStore: bs, saveGate: newSaveGate()}
	// Beats every hour: the test retires jobs itself (retireJobs).
	m, fc := clockMaster(t, Config{StoreImpl: st, Retain: time.Minute, HeartbeatInterval: time.Hour, DeadAfter: 3 * time.Hour})
	wid := pullWorker(t, m, "w", "t")
	ctx := context.Background()
	report := func(task rpcapi.Task, o jobs.Outcome) error {
		var r rpcapi.CompleteReply
		return m.wire.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: wid, Secret: secretOf(wid),
			Reports: []rpcapi.Report{{JobID: task.JobID, Attempt: task.Attempt, Outcome: o, Error: "e"}}}, &r)
	}
	// A finished job leaves memory: listings read the store from then on.
	first, err := m.Submit(ctx, jobs.Spec{Type: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := report(fetchTask(t, m, wid), jobs.OK); err != nil {
		t.Fatal(err)
	}
	testproc.Poll(t, 5*time.Second, "job "+first[0]+" out of memory", func() bool {
		fc.Advance(2 * time.Minute)
		m.core.retireJobs(fc.Now())
		m.core.mu.Lock()
		defer m.core.mu.Unlock()
		return m.core.job(first[0]) == nil
	})
	ids, err := m.Submit(ctx, jobs.Spec{Type: "t"})
	if err != nil {
		t.Fatal(err)
	}
	task := fetchTask(t, m, wid)
	st.shut()
	t.Cleanup(st.release) // before the master stops: its last commit
	done := make(chan error, 1)
	go func() { done <- report(task, jobs.Error) }() // acknowledged once written
	testproc.Poll(t, 5*time.Second, "job "+ids[0]+" failed", func() bool {
		return jobNow(t, m, ids[0]).State == jobs.Failed
	})
	type page struct {
		jobs []jobs.Job
		err  error
	}
	listed := make(chan page, 1)
	go func() {
		js, _, err := m.Jobs(ctx, JobQuery{State: jobs.Failed})
		listed <- page{js, err}
	}()
	var p page
	select {
	case p = <-listed: // the old code: at once, from the index as it was
	case <-time.After(300 * time.Millisecond):
		st.release()
		p = <-listed
	}
	st.release()
	if p.err != nil {
		t.Fatal(p.err)
	}
	if len(p.jobs) != 1 || p.jobs[0].ID != ids[0] {
		var got []string
		for _, j := range p.jobs {
			got = append(got, j.ID)
		}
		t.Fatalf("failed jobs listed: %v; want [%s], which wait saw failed before the listing", got, ids[0])
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
