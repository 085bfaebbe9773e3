package master_test

import (
	"context"
	"errors"
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
