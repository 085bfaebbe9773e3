package master_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// crashedStore returns a store as a master that crashed leaves it: job 1
// pending at attempt 0 (its lease to attempt 1 never reached the disk) and
// no clean-stop mark.
func crashedStore(t *testing.T) *jobs.MemStore {
	t.Helper()
	now := time.Now()
	j := &jobs.Job{ID: "1", Seq: 1, Spec: jobs.Spec{Type: "echo"}, State: jobs.Pending, Submitted: now, Updated: now}
	j.Note(now, "submitted")
	st := jobs.NewMemStore()
	if err := st.Save(jobs.Records(j)); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRecoveryAdoptsReport: after a crash, a worker's report for the
// attempt whose lease was lost is recorded (the attempt was never given to
// anyone else), once the worker has registered with the new master, and
// dispatch waits for the workers meanwhile. Under its ID of before the
// crash, which the new master never gave out, the report is refused with
// fault 1 (register again) and changes nothing.
func TestRecoveryAdoptsReport(t *testing.T) {
	m := startMaster(t, master.Config{StoreImpl: crashedStore(t), HeartbeatInterval: 5 * time.Second, DeadAfter: 15 * time.Second})
	mc := client(t, m.Addr())
	if w := getJob(t, mc, "1").Waiting; !strings.Contains(w, "came back from a crash") {
		t.Fatalf("waiting %q, want the recovery hold", w)
	}
	done := []rpcapi.Report{{JobID: "1", Attempt: 1, Outcome: jobs.OK, Output: "done before the crash"}}
	cr, err := mc.Complete(context.Background(), &rpcapi.CompleteArgs{WorkerID: "w9-dead", Reports: done})
	if !errors.Is(err, rpcapi.ErrUnknownWorker) {
		t.Fatalf("report under an ID this master never gave: %+v %v, want fault 1 (unknown_worker)", cr, err)
	}
	if j := getJob(t, mc, "1").Job; j.State != jobs.Pending || len(j.Attempts) != 0 {
		t.Fatalf("the refused report changed job 1: %+v", j)
	}
	reg, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "back", Types: []string{"echo"}, Slots: 1, Mode: rpcapi.ModePull})
	if err != nil {
		t.Fatal(err)
	}
	cr, err = mc.Complete(context.Background(), &rpcapi.CompleteArgs{WorkerID: reg.WorkerID, Secret: reg.Secret, Reports: done})
	if err != nil || cr.Accepted != 1 {
		t.Fatalf("complete: %+v %v, want accepted", cr, err)
	}
	j := getJob(t, mc, "1").Job
	if j.State != jobs.Succeeded || len(j.Attempts) != 1 || j.Attempts[0].Worker != reg.WorkerID || j.Attempts[0].Output != "done before the crash" {
		t.Fatalf("job %+v, want succeeded by %s's attempt 1", j, reg.WorkerID)
	}
	// A second report of an attempt the master never leased is stale.
	cr, err = mc.Complete(context.Background(), &rpcapi.CompleteArgs{WorkerID: reg.WorkerID, Secret: reg.Secret,
		Reports: []rpcapi.Report{{JobID: "1", Attempt: 3, Outcome: jobs.OK}}})
	if err != nil || cr.Dropped != 1 {
		t.Fatalf("report of attempt 3: %+v %v, want dropped", cr, err)
	}
}

// TestCleanStopNoRecovery: after a clean stop the next master neither
// holds dispatch nor takes reports for leases it never made.
func TestCleanStopNoRecovery(t *testing.T) {
	dir := t.TempDir()
	m1 := startMaster(t, master.Config{DataDir: dir})
	id := submit(t, client(t, m1.Addr()), jobs.Spec{Type: "echo"})[0]
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := startMaster(t, master.Config{DataDir: dir, HeartbeatInterval: 5 * time.Second, DeadAfter: 15 * time.Second})
	mc := client(t, m2.Addr())
	if w := getJob(t, mc, id).Waiting; strings.Contains(w, "crash") {
		t.Fatalf("waiting %q after a clean stop", w)
	}
	reg, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "ghost", Types: []string{"other"}, Slots: 1, Mode: rpcapi.ModePull})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := mc.Complete(context.Background(), &rpcapi.CompleteArgs{WorkerID: reg.WorkerID, Secret: reg.Secret,
		Reports: []rpcapi.Report{{JobID: id, Attempt: 1, Outcome: jobs.OK}}})
	if err != nil || cr.Dropped != 1 {
		t.Fatalf("report for a lease never made: %+v %v, want dropped", cr, err)
	}
	if j := getJob(t, mc, id).Job; j.State != jobs.Pending {
		t.Fatalf("job %s is %s, want pending", id, j.State)
	}
}

// registerHolding registers a pull worker of types that says it holds
// the attempts held, and returns its reply.
func registerHolding(t *testing.T, mc rpcapi.MasterClient, types []string, held ...rpcapi.JobRef) *rpcapi.RegisterReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // an adoption may wait for a commit
	defer cancel()
	r, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: "claims", Types: types, Slots: 4, Mode: rpcapi.ModePull, Running: held})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// refuses checks that a worker naming a pending job's next attempt, at
// registration and in a report, takes nothing: the attempt comes back in
// cancel, the report is dropped, the job stays pending with no attempt.
func refuses(t *testing.T, mc rpcapi.MasterClient, types []string, id, why string) {
	t.Helper()
	ref := rpcapi.JobRef{JobID: id, Attempt: 1}
	r := registerHolding(t, mc, types, ref)
	if !slices.Contains(r.Cancel, ref) {
		t.Errorf("%s: register naming %v: cancel %v; want it there", why, ref, r.Cancel)
	}
	cr, err := mc.Complete(context.Background(), &rpcapi.CompleteArgs{WorkerID: r.WorkerID, Secret: r.Secret,
		Reports: []rpcapi.Report{{JobID: id, Attempt: 1, Outcome: jobs.OK, Output: "forged"}}})
	if err != nil || cr.Dropped != 1 {
		t.Errorf("%s: report for %v: %+v %v; want dropped", why, ref, cr, err)
	}
	if j := getJob(t, mc, id).Job; j.State != jobs.Pending || j.Attempt != 0 || len(j.Attempts) != 0 {
		t.Errorf("%s: job %s is %s at attempt %d with %d attempts; want pending, untouched", why, id, j.State, j.Attempt, len(j.Attempts))
	}
}

// TestNoAdoptionOfANeverLeasedJob: docs/protocol.md accepts a worker's
// claim on a pending job's next attempt only after a master crash (the
// lease had not reached the disk). A master that did not crash gives a
// worker that names one nothing: not at registration (that took the job
// out of the queue, past its type, tags and run_at, and let any outcome be
// reported for it), not in a report.
func TestNoAdoptionOfANeverLeasedJob(t *testing.T) {
	m := startMaster(t, master.Config{})
	mc := client(t, m.Addr())
	later := time.Now().Add(time.Hour)
	id := submit(t, mc, jobs.Spec{Type: "ocr", Tags: []string{"gpu"}, RunAt: later})[0]
	refuses(t, mc, []string{"ocr", "echo"}, id, "a fresh master")
}

// TestAdoptionAfterACrashIsBounded: after a crash, the claim is taken only
// from a worker that could have had the lease (the job's type and tags),
// only for a job the crashed master knew, and only within dead_after of
// the new master's start.
func TestAdoptionAfterACrashIsBounded(t *testing.T) {
	m, _ := startClockMaster(t, master.Config{StoreImpl: crashedStore(t), HeartbeatInterval: 100 * time.Millisecond, DeadAfter: time.Minute})
	mc := client(t, m.Addr())
	refuses(t, mc, []string{"other"}, "1", "a worker without the job's type")
	fresh := submit(t, mc, jobs.Spec{Type: "echo"})[0]
	refuses(t, mc, []string{"echo"}, fresh, "a job submitted after the restart")

	// Past dead_after the claim is refused at registration (dispatch,
	// held no more, may then lease the job as it would to anyone).
	m2, fc := startClockMaster(t, master.Config{StoreImpl: crashedStore(t), HeartbeatInterval: 100 * time.Millisecond, DeadAfter: time.Minute})
	fc.Advance(time.Minute + time.Second)
	ref := rpcapi.JobRef{JobID: "1", Attempt: 1}
	if r := registerHolding(t, client(t, m2.Addr()), []string{"echo"}, ref); !slices.Contains(r.Cancel, ref) {
		t.Errorf("past dead_after: register naming %v: cancel %v; want it there", ref, r.Cancel)
	}
}

// TestAdoptionAfterACrashAtRegister: within the bounds, the worker that
// names the lost lease's attempt at registration gets it, and its report
// is recorded.
func TestAdoptionAfterACrashAtRegister(t *testing.T) {
	m := startMaster(t, master.Config{StoreImpl: crashedStore(t), HeartbeatInterval: 5 * time.Second, DeadAfter: 15 * time.Second})
	mc := client(t, m.Addr())
	ref := rpcapi.JobRef{JobID: "1", Attempt: 1}
	r := registerHolding(t, mc, []string{"echo"}, ref)
	if slices.Contains(r.Cancel, ref) {
		t.Fatalf("register naming %v after a crash: cancel %v; want it adopted", ref, r.Cancel)
	}
	if j := getJob(t, mc, "1").Job; j.State != jobs.Running || j.Worker != r.WorkerID || j.Attempt != 1 {
		t.Fatalf("job 1: %s at attempt %d on %q; want running attempt 1 on %s", j.State, j.Attempt, j.Worker, r.WorkerID)
	}
	cr, err := mc.Complete(context.Background(), &rpcapi.CompleteArgs{WorkerID: r.WorkerID, Secret: r.Secret,
		Reports: []rpcapi.Report{{JobID: "1", Attempt: 1, Outcome: jobs.OK}}})
	if err != nil || cr.Accepted != 1 {
		t.Fatalf("report: %+v %v; want accepted", cr, err)
	}
}
