package master

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// leasedTo polls until job id runs (leased, not yet fetched) on worker
// wid.
func leasedTo(t *testing.T, m *Master, id, wid string) {
	t.Helper()
	testproc.Poll(t, 5*time.Second, "job "+id+" leased to "+wid, func() bool {
		j := jobNow(t, m, id)
		return j.State == jobs.Running && j.Worker == wid
	})
}

// TestUnfetchedTaskGoesBackWithoutAnAttempt: a task leased to a pull
// worker and never fetched never left the master. Per docs/protocol.md
// (a lease the worker refuses or that cannot be delivered is revoked: no
// Attempt, no retry), when the worker logs out or is reaped the job is
// pending again with no attempt, and a job with no retries does not fail.
func TestUnfetchedTaskGoesBackWithoutAnAttempt(t *testing.T) {
	for _, how := range []string{"logout", "reap"} {
		t.Run(how, func(t *testing.T) {
			m, fc := clockMaster(t, Config{})
			wid := pullWorker(t, m, "never-fetches", "t")
			ids, err := m.Submit(context.Background(), jobs.Spec{Type: "t"}) // no retries
			if err != nil {
				t.Fatal(err)
			}
			leasedTo(t, m, ids[0], wid)
			if how == "logout" {
				if err := m.wire.Logout(context.Background(), &rpcapi.LogoutArgs{WorkerID: wid, Secret: secretOf(wid)}, &rpcapi.Empty{}); err != nil {
					t.Fatal(err)
				}
			} else {
				fc.Advance(35 * time.Second) // silent past dead_after (30 s)
			}
			var j jobs.Job
			testproc.Poll(t, 5*time.Second, "the job pending again", func() bool {
				j = jobNow(t, m, ids[0])
				return j.State != jobs.Running
			})
			if j.State != jobs.Pending || len(j.Attempts) != 0 || workerState(t, m, wid) != rpcapi.WorkerDead {
				t.Fatalf("after the %s: job %s, attempts %+v, worker %s; want pending, none, dead", how, j.State, j.Attempts, workerState(t, m, wid))
			}
		})
	}
}

// TestUnfetchedTasksTakenBack: a pull worker that beats but does not call
// fetch_tasks would hold its leased tasks for good. Per docs/protocol.md
// (fetch_tasks), tasks that waited dead_after for a fetch go back to the
// queue without an attempt, the worker is leased nothing until it
// fetches again, a ready job's waiting says so, and another worker runs
// the job.
func TestUnfetchedTasksTakenBack(t *testing.T) {
	m, fc := clockMaster(t, Config{})
	lazy := pullWorker(t, m, "lazy", "t")
	ids, err := m.Submit(context.Background(), jobs.Spec{Type: "t"})
	if err != nil {
		t.Fatal(err)
	}
	leasedTo(t, m, ids[0], lazy)
	beat := func() {
		t.Helper()
		var r rpcapi.HeartbeatReply
		if err := m.wire.Heartbeat(context.Background(), &rpcapi.HeartbeatArgs{WorkerID: lazy, Secret: secretOf(lazy)}, &r); err != nil || r.Status != "ok" {
			t.Fatalf("heartbeat: %+v, %v", r, err)
		}
	}
	for range 3 { // 30 s, beating every 10 s: alive, and the task waited dead_after
		fc.Advance(10 * time.Second)
		beat()
	}
	fc.Advance(3 * time.Second) // the reaper's next pass
	var j jobs.Job
	testproc.Poll(t, 5*time.Second, "the unfetched task taken back", func() bool {
		j = jobNow(t, m, ids[0])
		return j.State == jobs.Pending
	})
	if len(j.Attempts) != 0 || workerState(t, m, lazy) != rpcapi.WorkerAlive {
		t.Fatalf("attempts %+v, worker %s; want none, alive", j.Attempts, workerState(t, m, lazy))
	}
	var info rpcapi.JobInfo
	if err := m.wire.GetJob(context.Background(), &rpcapi.GetJobArgs{ID: ids[0]}, &info); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info.Waiting, "did not fetch") {
		t.Errorf("waiting %q; want it to say the pull worker did not fetch", info.Waiting)
	}
	// Not leased to lazy again until it fetches: another worker gets it.
	other := pullWorker(t, m, "other", "t")
	if task := fetchTask(t, m, other); task.JobID != ids[0] {
		t.Fatalf("the other worker fetched %+v, want job %s", task, ids[0])
	}
}
