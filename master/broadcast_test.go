package master_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/internal/crash"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestBroadcast: one copy per live worker with the type; the broadcast job
// ends when every copy has, failed if any copy failed; a worker that is
// gone fails its copy; cancel takes the copies along.
func TestBroadcast(t *testing.T) {
	m := startMaster(t, master.Config{})
	var mu sync.Mutex
	ran := map[string][]string{} // parent → worker names
	pull := func(name string, fail bool) worker.HandlerFunc {
		return func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			mu.Lock()
			ran[j.Spec.Args["v"]] = append(ran[j.Spec.Args["v"]], name)
			mu.Unlock()
			if fail && j.Spec.Args["v"] == "2" {
				return jobs.Result{}, errors.New("disk full")
			}
			if j.Spec.Args["v"] == "slow" {
				<-ctx.Done()
				return jobs.Result{}, ctx.Err()
			}
			return jobs.Result{Output: "pulled on " + name}, nil
		}
	}
	for i := range 3 {
		name := fmt.Sprint("w", i)
		startWorker(t, m.Addr(), name, 2, map[string]worker.HandlerFunc{"pull-code": pull(name, i == 2)})
	}
	startWorker(t, m.Addr(), "other", 2, map[string]worker.HandlerFunc{"echo": echo})
	mc := client(t, m.Addr())

	ok := submit(t, mc, jobs.Spec{Type: "pull-code", Broadcast: true, Args: map[string]string{"v": "1"}})[0]
	waitAll(t, mc, []string{ok}, 10*time.Second)
	p := getJob(t, mc, ok).Job
	if p.State != jobs.Succeeded || len(p.Children) != 3 || len(p.Attempts) != 0 {
		t.Fatalf("broadcast job: %s, children %v, attempts %d", p.State, p.Children, len(p.Attempts))
	}
	mu.Lock()
	got := slices.Sorted(slices.Values(ran["1"]))
	mu.Unlock()
	if !slices.Equal(got, []string{"w0", "w1", "w2"}) {
		t.Fatalf("copies ran on %v", got)
	}
	for _, c := range p.Children {
		if k := getJob(t, mc, c).Job; k.Parent != ok || k.State != jobs.Succeeded {
			t.Fatalf("copy %s: parent %q state %s", c, k.Parent, k.State)
		}
	}

	bad := submit(t, mc, jobs.Spec{Type: "pull-code", Broadcast: true, Args: map[string]string{"v": "2"}})[0]
	waitAll(t, mc, []string{bad}, 10*time.Second)
	if st := getJob(t, mc, bad).Job.State; st != jobs.Failed {
		t.Fatalf("a broadcast with a failed copy ended %s", st)
	}

	slow := submit(t, mc, jobs.Spec{Type: "pull-code", Broadcast: true, Args: map[string]string{"v": "slow"}})[0]
	pollT(t, 10*time.Second, "copies running", func() bool {
		st, _ := mc.Status(context.Background())
		return st.Counts[jobs.Running] >= 4 // the broadcast job and its three copies
	})
	cr, err := mc.Cancel(context.Background(), &rpcapi.CancelArgs{IDs: []string{slow}})
	if err != nil || len(cr.Cancelled) != 4 {
		t.Fatalf("cancel of a broadcast: %+v %v", cr, err)
	}

	if _, err := mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "nobody", Broadcast: true}}}); !errors.Is(err, rpcapi.ErrBadRequest) {
		t.Fatalf("broadcast to no worker: %v", err)
	}
}

// TestBroadcastWorkerLeaves: a copy whose worker leaves before running it
// fails, and so does the broadcast job.
func TestBroadcastWorkerLeaves(t *testing.T) {
	m := startMaster(t, master.Config{})
	gate := make(chan struct{})
	startWorker(t, m.Addr(), "stays", 1, map[string]worker.HandlerFunc{"pull-code": echo})
	leaver := startWorker(t, m.Addr(), "leaves", 1, map[string]worker.HandlerFunc{
		"pull-code": echo,
		"block": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			select {
			case <-gate:
			case <-ctx.Done():
			}
			return jobs.Result{}, nil
		},
	})
	mc := client(t, m.Addr())
	blocker := submit(t, mc, jobs.Spec{Type: "block"})[0]
	pollT(t, 10*time.Second, "the leaver busy", func() bool { return leaver.Running() == 1 })
	b := submit(t, mc, jobs.Spec{Type: "pull-code", Broadcast: true})[0]
	crash.Worker(leaver) // its copy is still pending (its one slot is taken)
	close(gate)
	waitAll(t, mc, []string{b, blocker}, 15*time.Second)
	p := getJob(t, mc, b).Job
	if p.State != jobs.Failed {
		t.Fatalf("broadcast ended %s", p.State)
	}
	states := map[jobs.State]int{}
	for _, c := range p.Children {
		states[getJob(t, mc, c).Job.State]++
	}
	if states[jobs.Succeeded] != 1 || states[jobs.Failed] != 1 {
		t.Fatalf("copies %v", states)
	}
	// The failed copy never ran: its view's error says why (docs/api.md).
	for _, c := range p.Children {
		if j := newHTTPAPI(t, m).job(c); j.State == jobs.Failed && !strings.Contains(j.Error, "failed without running: worker leaves") {
			t.Errorf("the failed copy %s: error %q; want why it failed without running", c, j.Error)
		}
	}
}

// TestBroadcastWorkerLeavesDuringBackoff: a copy waiting out its retry
// backoff when its worker leaves fails at once, and so does the broadcast
// job, instead of waiting for a worker that is gone.
func TestBroadcastWorkerLeavesDuringBackoff(t *testing.T) {
	m := startMaster(t, master.Config{RetryBackoff: time.Hour, MaxBackoff: time.Hour})
	startWorker(t, m.Addr(), "stays", 1, map[string]worker.HandlerFunc{"pull-code": echo})
	leaver := startWorker(t, m.Addr(), "leaves", 1, map[string]worker.HandlerFunc{
		"pull-code": func(context.Context, *jobs.Job) (jobs.Result, error) {
			return jobs.Result{}, errors.New("the repository is busy")
		},
	})
	mc := client(t, m.Addr())
	b := submit(t, mc, jobs.Spec{Type: "pull-code", Broadcast: true, Retries: 3})[0]
	var copyID string
	pollT(t, 10*time.Second, "the leaver's copy waiting out its backoff", func() bool {
		for _, c := range getJob(t, mc, b).Job.Children {
			if j := getJob(t, mc, c).Job; j.Pin == "leaves" && j.State == jobs.Pending && len(j.Attempts) == 1 {
				copyID = c
				return true
			}
		}
		return false
	})
	crash.Worker(leaver)
	waitAll(t, mc, []string{b}, 15*time.Second)
	if p := getJob(t, mc, b).Job; p.State != jobs.Failed {
		t.Fatalf("broadcast ended %s, want failed", p.State)
	}
	c := getJob(t, mc, copyID).Job
	if last := c.Events[len(c.Events)-1].Text; c.State != jobs.Failed || !strings.Contains(last, "its broadcast target, left") {
		t.Fatalf("the leaver's copy: %s, last event %q; want failed as its worker left", c.State, last)
	}
}
