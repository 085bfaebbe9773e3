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
	"github.com/drover/drover/worker"
)

// waitGroup makes one wait_jobs call for group g with a short timeout.
func waitGroup(t *testing.T, mc rpcapi.MasterClient, g string, d time.Duration) *rpcapi.WaitReply {
	t.Helper()
	r, err := mc.Wait(context.Background(), &rpcapi.WaitArgs{Group: g, Timeout: d})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitGroupDone makes wait_jobs calls for group g until one says done,
// and returns that reply.
func waitGroupDone(t *testing.T, mc rpcapi.MasterClient, g string) *rpcapi.WaitReply {
	t.Helper()
	var r *rpcapi.WaitReply
	pollT(t, 20*time.Second, "the wait to be done", func() bool {
		r = waitGroup(t, mc, g, time.Second)
		return r.Done
	})
	return r
}

// refusedFollowUp starts a master whose max_args_bytes is below the args
// of group "g"'s follow-up, a worker of pages, and submits the group:
// two pages and the follow-up the master will refuse.
func refusedFollowUp(t *testing.T) (*master.Master, rpcapi.MasterClient) {
	t.Helper()
	m := startAPIMaster(t, master.Config{MaxArgsBytes: 100})
	startWorker(t, m.Addr(), "a", 4, map[string]worker.HandlerFunc{"page": page})
	mc := client(t, m.Addr())
	submit(t, mc, pageSpecs("g", 2, &jobs.Spec{Type: "merge", Args: map[string]string{"x": strings.Repeat("y", 99)}})...)
	return m, mc
}

// TestWaitGroupFollowUp: wait_jobs on a group with a follow-up (then) is
// not done when the group's jobs are, but when the follow-up is; it names
// the follow-up, counts it, and the group's view shows its ID and state
// (docs/protocol.md, wait_jobs and GroupInfo).
func TestWaitGroupFollowUp(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	release := make(chan struct{})
	started := make(chan string, 1)
	startWorker(t, m.Addr(), "a", 4, map[string]worker.HandlerFunc{
		"page": page,
		"merge": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			started <- j.ID
			select {
			case <-release:
			case <-ctx.Done():
			}
			return jobs.Result{Output: "merged"}, nil
		},
	})
	mc := client(t, m.Addr())
	ids := submit(t, mc, pageSpecs("g", 2, &jobs.Spec{Type: "merge"})...)
	var then string
	select {
	case then = <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the follow-up did not start")
	}
	waitAll(t, mc, ids, 10*time.Second) // the group's own jobs are final

	r := waitGroup(t, mc, "g", 200*time.Millisecond)
	if r.Done || r.Then != then || r.ThenState != jobs.Running || r.Counts[jobs.Succeeded] != 2 ||
		r.Counts[jobs.Running] != 1 || len(r.Failed) != 0 || r.ThenError != "" {
		t.Fatalf("wait while the follow-up runs: %+v", r)
	}
	if g := getGroup(t, m, "g"); g.OnDone == nil || g.OnDone.Then != then || g.OnDone.ThenState != jobs.Running {
		t.Fatalf("group view while the follow-up runs: %+v", g.OnDone)
	}

	close(release)
	var err error
	pollT(t, 20*time.Second, "the wait to be done", func() bool {
		r, err = mc.Wait(context.Background(), &rpcapi.WaitArgs{Group: "g", Timeout: time.Second})
		return err != nil || r.Done
	})
	if err != nil || r.Then != then || r.ThenState != jobs.Succeeded || r.Counts[jobs.Succeeded] != 3 || len(r.Failed) != 0 {
		t.Fatalf("wait when done: %+v, %v", r, err)
	}
	if g := getGroup(t, m, "g"); g.OnDone.ThenState != jobs.Succeeded {
		t.Fatalf("group view when done: %+v", g.OnDone)
	}
}

// TestWaitGroupFollowUpFails: a follow-up that fails is in the wait's
// failed list, so a client that checks failed sees the group's outcome
// as a whole.
func TestWaitGroupFollowUpFails(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	startWorker(t, m.Addr(), "a", 4, map[string]worker.HandlerFunc{
		"page": page,
		"merge": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{}, worker.Permanent(errors.New("merge broke"))
		},
	})
	mc := client(t, m.Addr())
	submit(t, mc, pageSpecs("g", 2, &jobs.Spec{Type: "merge"})...)
	r := waitGroupDone(t, mc, "g")
	if r.Then == "" || r.ThenState != jobs.Failed || len(r.Failed) != 1 || r.Failed[0] != r.Then ||
		r.Counts[jobs.Succeeded] != 2 || r.Counts[jobs.Failed] != 1 {
		t.Fatalf("wait: %+v", r)
	}
}

// TestWaitGroupFollowUpRefused: a follow-up the master refuses ends the
// wait, with the reason in then_error.
func TestWaitGroupFollowUpRefused(t *testing.T) {
	_, mc := refusedFollowUp(t)
	r := waitGroupDone(t, mc, "g")
	if r.Then != "" || r.ThenState != "" || !strings.Contains(r.ThenError, "max_args_bytes") || r.Counts[jobs.Succeeded] != 2 {
		t.Fatalf("wait: %+v", r)
	}
}

// TestWaitGroupWithoutFollowUp: a group without then is done when its
// jobs are, with no follow-up named.
func TestWaitGroupWithoutFollowUp(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	startWorker(t, m.Addr(), "a", 4, map[string]worker.HandlerFunc{"page": page})
	mc := client(t, m.Addr())
	submit(t, mc, pageSpecs("g", 3, nil)...)
	r := waitGroupDone(t, mc, "g")
	if r.Then != "" || r.ThenState != "" || r.ThenError != "" || r.Counts[jobs.Succeeded] != 3 || len(r.Counts) != 1 {
		t.Fatalf("wait: %+v", r)
	}
}
