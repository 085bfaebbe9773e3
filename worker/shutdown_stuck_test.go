package worker_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestShutdownLeavesAStuckHandler: Shutdown's ctx ends while a handler
// that ignores its ctx runs. Per Shutdown's doc, the job has KillGrace and
// a second more to end; then Shutdown returns without it, logs out (the
// master ends the attempt as lost and, with a retry left, requeues the
// job), and the handler's late result is never sent.
func TestShutdownLeavesAStuckHandler(t *testing.T) {
	dir, log := t.TempDir(), testLog(t)
	m := startLeader(t, filepath.Join(dir, "data"), log)
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	w := startWorker(t, dir, log, worker.Config{Master: m.Addr(), Slots: 1, KillGrace: 200 * time.Millisecond},
		map[string]worker.HandlerFunc{"stuck": func(ctx context.Context, _ *jobs.Job) (jobs.Result, error) {
			close(started)
			<-release // ignores ctx
			return jobs.Result{Output: "late"}, nil
		}})
	mc := rpcapi.MasterClient{C: rpcapi.NewClient(m.Addr())}
	defer mc.C.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "stuck", Retries: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	id := r.IDs[0]
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the job did not start within 20s")
	}

	sctx, scancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer scancel()
	begun := time.Now()
	done := make(chan error, 1)
	go func() { done <- w.Shutdown(sctx) }()
	// 300ms of ctx, 200ms of KillGrace and a second, with room for a slow
	// machine; without the bound, Shutdown waits for the handler for good.
	select {
	case err := <-done:
		t.Logf("Shutdown returned after %v (%v)", time.Since(begun).Round(time.Millisecond), err)
	case <-time.After(15 * time.Second):
		t.Fatal("Shutdown did not return within 15s of a 300ms ctx while a handler ignored its ctx")
	}
	// Logged out: the attempt is lost and the job, with a retry left, is
	// pending again (no other worker runs it).
	awaitState(t, mc, id, jobs.Pending)
	j, err := mc.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(j.Job.Attempts); n != 1 || j.Job.Attempts[0].Outcome != jobs.Lost {
		t.Fatalf("attempts %+v, want one, lost", j.Job.Attempts)
	}
}
