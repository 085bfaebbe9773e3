package master_test

import (
	"context"
	"net"
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

// ranLog records the jobs a handler ran, by ID.
type ranLog struct {
	mu  sync.Mutex
	ids []string
}

func (r *ranLog) add(id string) {
	r.mu.Lock()
	r.ids = append(r.ids, id)
	r.mu.Unlock()
}

func (r *ranLog) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// workerClientT dials a worker's endpoint at addr over transport, closed
// at cleanup.
func workerClientT(t *testing.T, addr, transport string) rpcapi.WorkerClient {
	t.Helper()
	c, err := rpcapi.NewCaller(addr, transport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return rpcapi.WorkerClient{C: c}
}

// TestDirectAssignRunsNothing: assign_task and cancel_task made straight
// to a Go worker's endpoint, over either transport, without the secret of
// its registration (none, or a made-up one) are fault 6: nothing runs,
// nothing stops. The master's own assignments run as before.
func TestDirectAssignRunsNothing(t *testing.T) {
	m := startMaster(t, master.Config{})
	var ran ranLog
	release := make(chan struct{})
	w := startWorker(t, m.Addr(), "w", 2, map[string]worker.HandlerFunc{
		"echo": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			ran.add(j.ID)
			return jobs.Result{Output: "ran " + j.ID}, nil
		},
		"block": blockUntil(release, "released", func(j *jobs.Job) { ran.add(j.ID) }),
	})
	mc := client(t, m.Addr())
	blocked := submit(t, mc, jobs.Spec{Type: "block"})[0]
	pollT(t, 10*time.Second, "the blocking job to run", func() bool { return w.Running() == 1 })
	attempt := getJob(t, mc, blocked).Job.Attempt
	ctx := context.Background()
	for _, tr := range transports {
		wc := workerClientT(t, w.Addr(), tr)
		for _, secret := range []string{"", "deadbeef", strings.Repeat("0", 64)} {
			_, err := wc.Assign(ctx, &rpcapi.AssignArgs{WorkerID: w.ID(), Secret: secret,
				Tasks: []rpcapi.Task{{JobID: "made-up", Attempt: 1, Type: "echo"}}})
			wantFault(t, tr+" assign_task", err, rpcapi.ErrUnauthorized)
			err = wc.Cancel(ctx, &rpcapi.WorkerCancelArgs{Secret: secret, Jobs: []rpcapi.JobRef{{JobID: blocked, Attempt: attempt}}})
			wantFault(t, tr+" cancel_task", err, rpcapi.ErrUnauthorized)
			if n := w.Running(); n != 1 {
				t.Fatalf("%s: %d jobs running after refused calls, want the 1 the master gave", tr, n)
			}
		}
	}
	if n := metricT(t, w.Addr(), "", "drover_worker_calls_refused_total"); n != 12 {
		t.Errorf("drover_worker_calls_refused_total %v, want 12", n)
	}
	close(release)
	id := submit(t, mc, jobs.Spec{Type: "echo"})[0]
	waitAll(t, mc, []string{blocked, id}, 10*time.Second)
	for _, x := range []string{blocked, id} {
		if j := getJob(t, mc, x).Job; j.State != jobs.Succeeded || j.Attempts[0].Worker != w.ID() {
			t.Errorf("job %s: %s on %+v, want succeeded on %s", x, j.State, j.Attempts, w.ID())
		}
	}
	if got := ran.list(); !slices.Equal(got, []string{blocked, id}) {
		t.Fatalf("the worker ran %v, want only the master's jobs %v", got, []string{blocked, id})
	}
}

// TestAssignBeforeRegistration: a worker that has not registered yet
// (its master is not there) has no secret to check: it rejects every
// task of an assign_task, and runs none.
func TestAssignBeforeRegistration(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := ln.Addr().String()
	ln.Close() // nothing listens there: the worker keeps trying to register
	var ran ranLog
	w, err := worker.New(worker.Config{Master: nobody, Listen: "127.0.0.1:0", Name: "early", Logger: master.LogTo(t, "early")})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("echo", func(ctx context.Context, j *jobs.Job) (jobs.Result, error) { ran.add(j.ID); return jobs.Result{}, nil })
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { crash.Worker(w) })
	for _, tr := range transports {
		r, err := workerClientT(t, w.Addr(), tr).Assign(context.Background(), &rpcapi.AssignArgs{WorkerID: "w1-x", Secret: "anything",
			Tasks: []rpcapi.Task{{JobID: "1", Attempt: 1, Type: "echo"}, {JobID: "2", Attempt: 1, Type: "echo"}}})
		if err != nil || len(r.Accepted) != 0 || len(r.Rejected) != 2 || !strings.Contains(r.Rejected[0].Reason, "not registered") {
			t.Fatalf("%s: assign before registration: %+v %v, want both tasks rejected", tr, r, err)
		}
	}
	if n := w.Running(); n != 0 || len(ran.list()) != 0 {
		t.Fatalf("%d running, ran %v; want nothing", n, ran.list())
	}
}

// TestReportAcrossMasterRestart: a result a Go worker sends under its ID
// of before a master restart is refused with fault 1 (the new master
// never gave that ID, and has no secret for it); the worker registers
// again naming the result, the master adopts the attempt, and the result
// is recorded once, under the new ID.
func TestReportAcrossMasterRestart(t *testing.T) {
	dir := t.TempDir()
	// Beats far apart: the report, not a beat, finds the master changed.
	cfg := master.Config{DataDir: dir, HeartbeatInterval: 5 * time.Second, DeadAfter: 15 * time.Second}
	m1 := startMaster(t, cfg)
	cfg.Listen = m1.Addr()
	release := make(chan struct{})
	var ran ranLog
	w := startWorker(t, m1.Addr(), "w", 1, map[string]worker.HandlerFunc{
		"block": blockUntil(release, "done", func(j *jobs.Job) { ran.add(j.ID) }),
	})
	before := w.ID()
	id := submit(t, client(t, m1.Addr()), jobs.Spec{Type: "block"})[0]
	pollT(t, 10*time.Second, "the job to run", func() bool { return w.Running() == 1 })
	m1.Close()
	m2 := startMaster(t, cfg)
	mc := client(t, m2.Addr())
	close(release)
	// Sooner than the worker's next beat (4.5 s at the soonest after it
	// registered): the refused report itself makes it register again.
	waitAll(t, mc, []string{id}, 3*time.Second)
	j := getJob(t, mc, id).Job
	if j.State != jobs.Succeeded || len(j.Attempts) != 1 || j.Attempts[0].Output != "done" || j.Attempts[0].Worker == before {
		t.Fatalf("job %s, attempts %+v; want succeeded once, under the worker's new ID (not %s)", j.State, j.Attempts, before)
	}
	if j.Attempts[0].Worker != w.ID() || len(ran.list()) != 1 {
		t.Fatalf("recorded under %s, the worker is now %s and ran %v; want its new ID, one run", j.Attempts[0].Worker, w.ID(), ran.list())
	}
}
