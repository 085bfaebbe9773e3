package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/rpcapi"
)

// stuckFake is the report model's fake (calm) whose task_complete never
// answers until the test ends.
type stuckFake struct {
	*wmFake
	entered chan struct{} // receives once per task_complete that blocks
	release chan struct{}
}

func (f *stuckFake) Complete(ctx context.Context, a *rpcapi.CompleteArgs, r *rpcapi.CompleteReply) error {
	select {
	case f.entered <- struct{}{}:
	default:
	}
	<-f.release
	return rpcapi.ErrUnavailable
}

// TestRunnerCallEndsWhenWorkerStops checks that a runner's own
// task_complete call in flight (over gob, on the runner's serial
// connection) ends as soon as the worker stops, not at the call's
// timeout (callTimeout): stopping waits for the runners.
func TestRunnerCallEndsWhenWorkerStops(t *testing.T) {
	f := &stuckFake{wmFake: newWMFake(1, 1), entered: make(chan struct{}, 1), release: make(chan struct{})}
	f.calm = true
	addr := serveMaster(t, f)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(f.release) }) }) // first: the fake's calls return
	log := logrus.New()
	log.SetOutput(testWriter{t})
	w, err := New(Config{Master: addr, Transport: rpcapi.TransportGob, Slots: 1, Name: "stuck", NoFence: true,
		LogDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle(wmType, wmHandler)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		once.Do(func() { close(f.release) })
		w.crash() // waits for the crash below if it has begun
	})
	wc := rpcapi.WorkerClient{C: mustCaller(t, w.Addr(), rpcapi.TransportGob)}
	fakeUntil(t, f.wmFake, "the worker registered", func() bool { return f.id != "" })
	if n, err := termAssign(f.wmFake, wc, termTask(f.wmFake, "0"), 0); err != nil || n != 1 {
		t.Fatalf("assign_task: %d accepted, %v", n, err)
	}
	select {
	case <-f.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no task_complete call 10s after the job was assigned")
	}

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		w.crash() // stops the worker: ends w.ctx, then waits for the runners
	}()
	// Well under callTimeout (10s), which would end the call anyway.
	select {
	case <-stopped:
	case <-time.After(callTimeout / 2):
		t.Fatalf("the worker has not stopped %v after it was told to: its runner's call in flight was not broken", callTimeout/2)
	}
}
