package master_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// workerCall posts to /api/v1/workers/{id}/op and returns the status and
// the worker's state in the reply.
func workerCall(t *testing.T, m *master.Master, id, op string) (int, string) {
	t.Helper()
	status, body := apiOp(t, m, "workers", id, op)
	var w apiWorker
	if status == 200 {
		if err := json.Unmarshal([]byte(body), &w); err != nil || w.ID != id {
			t.Fatalf("%s %s: %s", op, id, body)
		}
	}
	return status, w.State
}

// logged reports whether hook holds an entry with msg.
func logged(hook *logtest.Hook, msg string) bool {
	for _, e := range hook.AllEntries() {
		if e.Message == msg {
			return true
		}
	}
	return false
}

// TestUndrain: a worker the master drained takes jobs again after an
// undrain, in push and in pull mode: the master leases to it, and its
// heartbeat reply tells it so.
func TestUndrain(t *testing.T) {
	for _, mode := range []string{rpcapi.ModePush, rpcapi.ModePull} {
		t.Run(mode, func(t *testing.T) {
			m := startAPIMaster(t, master.Config{})
			log, hook := logtest.NewNullLogger()
			log.SetLevel(logrus.DebugLevel)
			a := master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "a", Slots: 2, Mode: mode, Logger: log},
				map[string]worker.HandlerFunc{"echo": echo})
			mc := client(t, m.Addr())

			if status, state := workerCall(t, m, a.ID(), "undrain"); status != 200 || state != rpcapi.WorkerAlive {
				t.Fatalf("undrain of a live worker: %d %s", status, state)
			}
			if status, state := workerCall(t, m, a.ID(), "drain"); status != 200 || state != rpcapi.WorkerDraining {
				t.Fatalf("drain: %d %s", status, state)
			}
			testproc.Poll(t, 10*time.Second, "the worker told to drain", func() bool {
				return logged(hook, "master asked us to drain; taking no new jobs")
			})
			if status, state := workerCall(t, m, a.ID(), "undrain"); status != 200 || state != rpcapi.WorkerAlive {
				t.Fatalf("undrain: %d %s", status, state)
			}
			testproc.Poll(t, 10*time.Second, "the worker told it is undrained", func() bool {
				return logged(hook, "master undrained us; taking jobs again")
			})
			ids := submit(t, mc, jobs.Spec{Type: "echo", Args: map[string]string{"x": "1"}})
			if r := waitAll(t, mc, ids, 20*time.Second); r.Counts[jobs.Succeeded] != 1 {
				t.Fatalf("the job after the undrain: %+v", r)
			}
			if j := getJob(t, mc, ids[0]).Job; j.Attempts[0].Worker != a.ID() {
				t.Fatalf("ran on %s, want %s", j.Attempts[0].Worker, a.ID())
			}
			// Beats go on: the master keeps the worker alive.
			if status, state := workerCall(t, m, a.ID(), "undrain"); status != 200 || state != rpcapi.WorkerAlive {
				t.Fatalf("the worker after its job: %d %s", status, state)
			}
			if status, _ := workerCall(t, m, "nope", "undrain"); status != 404 {
				t.Fatalf("undrain of an unknown worker: %d", status)
			}
		})
	}
}

// TestUndrainSelfDrain: a worker that drains itself (shutting down)
// cannot be undrained: 409, and it stays draining.
func TestUndrainSelfDrain(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	release := make(chan struct{})
	b := startWorker(t, m.Addr(), "b", 1, map[string]worker.HandlerFunc{
		"block": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			<-release
			return jobs.Result{}, nil
		}})
	mc := client(t, m.Addr())
	submit(t, mc, jobs.Spec{Type: "block"})
	testproc.Poll(t, 10*time.Second, "the job running", func() bool { return b.Running() == 1 })
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(release)
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	})
	testproc.Poll(t, 10*time.Second, "the worker draining", func() bool {
		status, _, body := httpDo(t, m, "", "GET", "/api/v1/workers/"+b.ID(), "")
		return status == 200 && strings.Contains(body, `"state":"draining"`)
	})
	status, _, body := httpDo(t, m, "", "POST", "/api/v1/workers/"+b.ID()+"/undrain", "")
	if status != 409 || !strings.Contains(body, "drains itself") {
		t.Fatalf("undrain of a worker shutting down: %d %s; want 409", status, body)
	}
	if _, state := workerCall(t, m, b.ID(), "drain"); state != rpcapi.WorkerDraining {
		t.Fatalf("after the refused undrain: %s", state)
	}

}
