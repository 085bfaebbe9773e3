package master_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// assignLog is a worker endpoint that accepts every task and hands each
// assign_task call's tasks to the test.
type assignLog struct{ calls chan []rpcapi.Task }

func (a *assignLog) Assign(_ context.Context, args *rpcapi.AssignArgs, r *rpcapi.AssignReply) error {
	for _, t := range args.Tasks {
		r.Accepted = append(r.Accepted, rpcapi.JobRef{JobID: t.JobID, Attempt: t.Attempt})
	}
	a.calls <- args.Tasks
	return nil
}

// assigned returns the task of the next assign_task call, which must
// carry job id alone; it fails the test when none comes before ctx ends.
func (a *assignLog) assigned(ctx context.Context, t *testing.T, id string) rpcapi.Task {
	t.Helper()
	select {
	case ts := <-a.calls:
		if len(ts) != 1 || ts[0].JobID != id {
			t.Fatalf("assign_task %+v, want job %s", ts, id)
		}
		return ts[0]
	case <-ctx.Done():
		t.Fatalf("no assign_task for job %s", id)
		return rpcapi.Task{}
	}
}

func (*assignLog) Cancel(context.Context, *rpcapi.WorkerCancelArgs, *rpcapi.Empty) error { return nil }
func (*assignLog) Ping(context.Context, *rpcapi.Empty, *rpcapi.PingReply) error          { return nil }
func (*assignLog) ReadLog(context.Context, *rpcapi.ReadLogArgs, *rpcapi.ReadLogReply) error {
	return nil
}

// TestIdleReportTakesTheNextTask checks docs/protocol.md's task_complete
// from a worker's side, over both transports: a report that asks for tasks
// (want 1) when there are none is answered once its outcome is on disk
// (commit 0, and Wait sees the job succeeded), and a job submitted while
// that answer waits comes in it, with the number of a commit, and with no
// assign_task call.
func TestIdleReportTakesTheNextTask(t *testing.T) {
	for _, tr := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		t.Run(tr, func(t *testing.T) {
			m := startMaster(t, master.Config{DataDir: t.TempDir()}) // bolt: "on disk" means it
			ep := &assignLog{calls: make(chan []rpcapi.Task, 16)}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			gob, _ := rpcapi.NewGoRPCHandler(nil, ep)
			mux := http.NewServeMux()
			mux.Handle(rpcapi.GoRPCPath, gob)
			mux.Handle(rpcapi.XMLRPCPath, rpcapi.NewXMLRPCHandler(nil, ep, rpcapi.XMLRPCOptions{}))
			srv := &http.Server{Handler: mux}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })

			c, err := rpcapi.NewCaller(m.Addr(), tr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			mc := rpcapi.MasterClient{C: c}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			reg, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: "idle", Addr: ln.Addr().String(), Transport: tr,
				Types: []string{"t"}, Slots: 1, Mode: rpcapi.ModePush})
			if err != nil {
				t.Fatal(err)
			}
			report := func(task rpcapi.Task) *rpcapi.CompleteReply {
				t.Helper()
				r, err := mc.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: reg.WorkerID, Secret: reg.Secret, Want: 1,
					Reports: []rpcapi.Report{{JobID: task.JobID, Attempt: task.Attempt, Outcome: jobs.OK}}})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}

			// The first job comes by assign_task: no report waits yet.
			first := submit(t, mc, jobs.Spec{Type: "t"})[0]
			task := ep.assigned(ctx, t, first)

			// Nothing else queued: the answer comes with the outcome on disk.
			r := report(task)
			if len(r.Tasks) != 0 || r.Commit != 0 || r.Accepted != 1 {
				t.Fatalf("idle report: %+v, want no tasks, commit 0, 1 accepted", r)
			}
			if w := waitAll(t, mc, []string{first}, 5*time.Second); w.Counts[jobs.Succeeded] != 1 {
				t.Fatalf("first job: %v", w.Counts)
			}

			// A job submitted while a report's answer waits comes in it. The
			// answer waits up to the commit linger (10 ms): a slow machine
			// may let it pass before the submit, so try a few times.
			type answer struct {
				r   *rpcapi.CompleteReply
				err error
			}
			next := submit(t, mc, jobs.Spec{Type: "t"})[0]
			task = ep.assigned(ctx, t, next)
			parked := 0
			for range 5 {
				got := make(chan answer, 1)
				go func() {
					r, err := mc.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: reg.WorkerID, Secret: reg.Secret, Want: 1,
						Reports: []rpcapi.Report{{JobID: task.JobID, Attempt: task.Attempt, Outcome: jobs.OK}}})
					got <- answer{r, err}
				}()
				if w := waitAll(t, mc, []string{next}, 5*time.Second); w.Counts[jobs.Succeeded] != 1 {
					t.Fatalf("job %s: %v", next, w.Counts)
				}
				next = submit(t, mc, jobs.Spec{Type: "t"})[0]
				a := <-got
				if a.err != nil {
					t.Fatal(a.err)
				}
				if len(a.r.Tasks) == 1 {
					if a.r.Tasks[0].JobID != next || a.r.Commit == 0 || a.r.Accepted != 1 {
						t.Fatalf("answer %+v: want job %s with a commit number", a.r, next)
					}
					parked++
					task = a.r.Tasks[0]
					continue
				}
				// The linger ended first: the answer says the outcome is on
				// disk, and the job comes by assign_task.
				if len(a.r.Tasks) != 0 || a.r.Commit != 0 {
					t.Fatalf("answer %+v: want no tasks and commit 0", a.r)
				}
				task = ep.assigned(ctx, t, next)
			}
			if parked == 0 {
				t.Fatal("no answer carried the next job in 5 tries")
			}
			select {
			case ts := <-ep.calls:
				t.Fatalf("assign_task %+v: every job went by an answer or one assign_task each", ts)
			case <-time.After(50 * time.Millisecond):
			}
			t.Logf("%d of 5 answers carried the next job", parked)
		})
	}
}
