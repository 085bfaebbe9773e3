package master

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestSameNameTakesNoLiveJobs: per docs/protocol.md (register_worker) and
// docs/security.md, a registration under a live worker's name that names
// the attempt it runs does not take it, unless it carries the instance of
// that worker's process (the worker registering again after a lost
// reply): without it, or with another, the attempt comes back in cancel,
// stays the live worker's, and a report for it is refused.
func TestSameNameTakesNoLiveJobs(t *testing.T) {
	m, _ := clockMaster(t, Config{})
	ctx := context.Background()
	instance := strings.Repeat("a1", 16)
	register := func(inst string, running []rpcapi.JobRef) rpcapi.RegisterReply {
		t.Helper()
		var r rpcapi.RegisterReply
		if err := m.wire.Register(ctx, &rpcapi.RegisterArgs{Name: "victim", Types: []string{"t"}, Slots: 1,
			Mode: rpcapi.ModePull, Instance: inst, Running: running}, &r); err != nil {
			t.Fatalf("register with instance %q: %v", inst, err)
		}
		pullSecrets.Store(r.WorkerID, r.Secret)
		return r
	}
	victim := register(instance, nil)
	ids, err := m.Submit(ctx, jobs.Spec{Type: "t"})
	if err != nil {
		t.Fatal(err)
	}
	task := fetchTask(t, m, victim.WorkerID)
	held := []rpcapi.JobRef{{JobID: task.JobID, Attempt: task.Attempt}}
	for _, inst := range []string{"", strings.Repeat("b2", 16)} {
		thief := register(inst, held)
		if len(thief.Cancel) != 1 || thief.Cancel[0] != held[0] {
			t.Errorf("instance %q: cancel %v; want the victim's attempt %v", inst, thief.Cancel, held)
		}
		if j := jobNow(t, m, ids[0]); j.State != jobs.Running || j.Worker != victim.WorkerID {
			t.Fatalf("instance %q: job %s on %q; want running on %s", inst, j.State, j.Worker, victim.WorkerID)
		}
		var r rpcapi.CompleteReply
		if err := m.wire.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: thief.WorkerID, Secret: thief.Secret,
			Reports: []rpcapi.Report{{JobID: task.JobID, Attempt: task.Attempt, Outcome: jobs.OK, Output: "forged"}}}, &r); err != nil || r.Accepted != 0 {
			t.Errorf("instance %q: the thief's report: %+v, %v; want none accepted", inst, r, err)
		}
	}
	same := register(instance, held)
	if len(same.Cancel) != 0 {
		t.Errorf("the same process again: cancel %v; want its attempt adopted", same.Cancel)
	}
	if j := jobNow(t, m, ids[0]); j.State != jobs.Running || j.Worker != same.WorkerID {
		t.Fatalf("after the same process registered again: job %s on %q; want running on %s", j.State, j.Worker, same.WorkerID)
	}
	var r rpcapi.RegisterReply
	err = m.wire.Register(ctx, &rpcapi.RegisterArgs{Name: "short", Types: []string{"t"}, Slots: 1, Mode: rpcapi.ModePull, Instance: "abc"}, &r)
	if !errors.Is(err, rpcapi.ErrBadRequest) || !strings.Contains(err.Error(), "instance") {
		t.Errorf("an instance of 3 bytes: %v; want a refusal naming instance", err)
	}
}
