package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// testLog is a logger whose lines the test prints if it fails.
func testLog(t *testing.T) *logrus.Logger {
	var mu sync.Mutex
	var buf bytes.Buffer
	l := logrus.New()
	l.SetOutput(lockedWriter{&mu, &buf})
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			t.Logf("logs:\n%s", buf.String())
			mu.Unlock()
		}
	})
	return l
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// startWorker starts a worker with cfg, its LogDir in dir and its Logger
// log's, running handlers; it is shut down at the test's end.
func startWorker(t *testing.T, dir string, log *logrus.Logger, cfg worker.Config, handlers map[string]worker.HandlerFunc) *worker.Worker {
	t.Helper()
	cfg.LogDir, cfg.Logger = filepath.Join(dir, "logs"), log.WithField("node", "worker")
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for typ, h := range handlers {
		w.Handle(typ, h)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	})
	return w
}

// startLeader starts a master with the bolt store in dir on 127.0.0.1:0,
// closed at the test's end.
func startLeader(t *testing.T, dir string, log *logrus.Logger) *master.Master {
	t.Helper()
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", Store: master.StoreBolt, DataDir: dir,
		HeartbeatInterval: 100 * time.Millisecond, DeadAfter: 10 * time.Second, RetryBackoff: 20 * time.Millisecond,
		Logger: log.WithField("node", "master")})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestWorkerFollowsLeader: a worker given "standby,leader" registers with
// the leader and runs its jobs; then the leader stops and a new master
// starts on its store at another address, which the standby now names.
// Without a restart the worker moves to the new leader, registers with
// it holding the job it runs, takes new jobs from it (assign_task from
// the master it registered with last), and the running job's report is
// recorded once, over both transports.
func TestWorkerFollowsLeader(t *testing.T) {
	for _, tr := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			dir, log := t.TempDir(), testLog(t)
			m1 := startLeader(t, filepath.Join(dir, "data"), log)
			var leader atomic.Value
			leader.Store(m1.Addr())
			sb := drovertest.ServeStandby(t, func() string { return leader.Load().(string) })

			started, release := make(chan struct{}), make(chan struct{})
			var runs atomic.Int32
			w := startWorker(t, dir, log, worker.Config{Master: sb + "," + m1.Addr(), Transport: tr, Slots: 2},
				map[string]worker.HandlerFunc{
					"quick": func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{Output: "quick"}, nil },
					"held": func(ctx context.Context, _ *jobs.Job) (jobs.Result, error) {
						if runs.Add(1) == 1 {
							close(started)
						}
						select {
						case <-release:
							return jobs.Result{Output: "released"}, nil
						case <-ctx.Done():
							return jobs.Result{}, ctx.Err()
						}
					},
				})

			mc1 := rpcapi.MasterClient{C: rpcapi.NewClient(m1.Addr())}
			defer mc1.C.Close()
			quick := submitOne(t, mc1, "quick")
			awaitState(t, mc1, quick, jobs.Succeeded)
			held := submitOne(t, mc1, "held")
			select {
			case <-started:
			case <-time.After(20 * time.Second):
				t.Fatal("the held job did not start within 20s")
			}
			firstID := w.ID()

			// The leader goes; a new one takes its store at another address.
			m1.Close()
			m2 := startLeader(t, filepath.Join(dir, "data"), log)
			leader.Store(m2.Addr())
			mc2 := rpcapi.MasterClient{C: rpcapi.NewClient(m2.Addr())}
			defer mc2.C.Close()
			poll.Until(t, 20*time.Second, "the worker to register with the new leader", func() bool {
				return w.ID() != "" && w.ID() != firstID
			})
			after := submitOne(t, mc2, "quick")
			awaitState(t, mc2, after, jobs.Succeeded)
			close(release)
			awaitState(t, mc2, held, jobs.Succeeded)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			j, err := mc2.GetJob(ctx, held)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(j.Job.Attempts); n != 1 || j.Job.Attempts[0].Outcome != jobs.OK || j.Job.Attempts[0].Output != "released" {
				t.Errorf("the held job's attempts: %+v; want one, ok, released", j.Job.Attempts)
			}
			if n := runs.Load(); n != 1 {
				t.Errorf("the held job ran %d times, want once", n)
			}
			if a, err := mc2.GetJob(ctx, after); err != nil || a.Job.Attempts[0].Worker != w.ID() {
				t.Errorf("the job submitted to the new leader ran on %+v (%v), want worker %s", a.Job.Attempts, err, w.ID())
			}
		})
	}
}

// submitOne submits a job of type typ to mc and returns its ID.
func submitOne(t *testing.T, mc rpcapi.MasterClient, typ string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: typ}}})
	if err != nil {
		t.Fatalf("submit %s: %v", typ, err)
	}
	return r.IDs[0]
}

// awaitState polls mc until job id is in state.
func awaitState(t *testing.T, mc rpcapi.MasterClient, id string, state jobs.State) {
	t.Helper()
	poll.UntilErr(t, 20*time.Second, "job "+id+" to be "+string(state), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		j, err := mc.GetJob(ctx, id)
		if err == nil && j.Job.State != state {
			if j.Job.State.Final() {
				return fmt.Errorf("%w: state %s, attempts %+v", poll.ErrStop, j.Job.State, j.Job.Attempts)
			}
			return errState{j.Job.State}
		}
		return err
	})
}

type errState struct{ s jobs.State }

func (e errState) Error() string { return "state " + string(e.s) }
