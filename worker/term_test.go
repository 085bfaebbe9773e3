package worker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/rpcapi"
)

// TestWorkerRefusesADeposedMaster checks the worker's side of the raft
// term (docs/protocol.md, "Several masters"): a worker keeps the highest
// term a master has named to it and refuses assign_task and cancel_task
// calls, and a register_worker reply, of a lower term, even with its
// registration's secret; calls of the current term still run. The master
// is the report model's fake (calm: it never fails a call), whose replies
// name the term the test sets, over both transports.
func TestWorkerRefusesADeposedMaster(t *testing.T) {
	for _, tr := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			f := newWMFake(1, 3)
			f.calm, f.term = true, 4
			addr := serveMaster(t, f)
			log := logrus.New()
			log.SetOutput(testWriter{t})
			w, err := New(Config{Master: addr, Transport: tr, Slots: f.slots, Name: "term", NoFence: true,
				LogDir: t.TempDir(), Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			w.Handle(wmType, wmHandler)
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.crash)
			wc := rpcapi.WorkerClient{C: mustCaller(t, w.Addr(), tr)}
			registered := func() bool { return f.id != "" && w.ID() == f.id }
			fakeUntil(t, f, "the worker registered at term 4", registered)

			// A long task under term 4, the registration's.
			long := termTask(f, "600000000")
			if n, err := termAssign(f, wc, long, 4); err != nil || n != 1 {
				t.Fatalf("assign_task of term 4 after a registration of term 4: %d accepted, %v", n, err)
			}

			// A new leader of term 5 answers the heartbeats: two more
			// beats and the worker has read a reply that names it.
			f.mu.Lock()
			f.term = 5
			b0 := f.beats
			f.mu.Unlock()
			fakeUntil(t, f, "two heartbeats answered at term 5", func() bool { return f.beats >= b0+2 })
			n, err := termAssign(f, wc, termTask(f, "0"), 4)
			if !errors.Is(err, rpcapi.ErrNotLeader) || n != 0 || !strings.Contains(err.Error(), "term 4") {
				t.Errorf("assign_task of term 4 after term 5 was seen: %d accepted, error %v; want fault not_leader naming term 4", n, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = wc.Cancel(ctx, &rpcapi.WorkerCancelArgs{Secret: secretOf(f), Jobs: []rpcapi.JobRef{long.ref()}, Term: 4})
			if !errors.Is(err, rpcapi.ErrNotLeader) {
				t.Errorf("cancel_task of term 4 after term 5 was seen: %v; want fault not_leader", err)
			}
			if p, err := wc.Ping(ctx); err != nil || p.Running != 1 {
				t.Errorf("after the refused cancel the worker runs %d jobs (%v); want the long one still running", p.Running, err)
			}
			if n, err := termAssign(f, wc, termTask(f, "0"), 5); err != nil || n != 1 {
				t.Errorf("assign_task of term 5: %d accepted, %v", n, err)
			}
			if err := wc.Cancel(ctx, &rpcapi.WorkerCancelArgs{Secret: secretOf(f), Jobs: []rpcapi.JobRef{long.ref()}, Term: 5}); err != nil {
				t.Errorf("cancel_task of term 5: %v", err)
			}
			poll.Until(t, 10*time.Second, "the long job stopped by the cancel of term 5", func() bool {
				p, err := wc.Ping(ctx)
				return err == nil && p.Running == 0
			})

			// The master forgets the worker and answers its new
			// register_worker at term 3: a deposed master's registration
			// is refused, however often it is tried.
			f.mu.Lock()
			f.term, f.id, f.secret = 3, "", ""
			g0 := f.gen
			f.mu.Unlock()
			fakeUntil(t, f, "two register_worker calls answered at term 3", func() bool { return f.gen >= g0+2 })
			if id := w.ID(); id != "" {
				t.Errorf("the worker took the registration %q of term 3 after term 5 was seen", id)
			}
			f.mu.Lock()
			f.term = 6
			f.mu.Unlock()
			fakeUntil(t, f, "the worker registered at term 6", registered)
		})
	}
}

// fakeUntil polls cond, under the fake's lock, until it holds.
func fakeUntil(t *testing.T, f *wmFake, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return cond()
	})
}

// termTaskArgs is a task made for the term test and its attempt.
type termTaskArgs struct{ task rpcapi.Task }

func (a termTaskArgs) ref() rpcapi.JobRef {
	return rpcapi.JobRef{JobID: a.task.JobID, Attempt: a.task.Attempt}
}

// termTask makes one task of the fake's that runs delayUS microseconds.
func termTask(f *wmFake, delayUS string) termTaskArgs {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slots++ // room for it whatever the fake counts as open
	task := f.newTasks(1)[0]
	f.slots--
	task.Args = map[string]string{"delay_us": delayUS, "fail": "false"}
	return termTaskArgs{task}
}

// termAssign sends task by assign_task with the registration's secret and
// term, and returns how many tasks the worker accepted.
func termAssign(f *wmFake, wc rpcapi.WorkerClient, a termTaskArgs, term int64) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.mu.Lock()
	args := &rpcapi.AssignArgs{WorkerID: f.id, Secret: f.secret, Tasks: []rpcapi.Task{a.task}, Term: term}
	f.mu.Unlock()
	r, err := wc.Assign(ctx, args)
	return len(r.Accepted), err
}

func secretOf(f *wmFake) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.secret
}
