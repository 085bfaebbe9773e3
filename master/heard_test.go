package master

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/rpcapi"
)

// TestBeatWaitingForTheLockCounts: docs/protocol.md, dead_after is how
// long the master waits without hearing from the worker. A heartbeat that
// arrived but waits for the master's lock (held by a big read: an event
// stream's first view, a listing) is heard: the reaper does not reap its
// worker, though the beat has not been served yet. A call without the
// worker's secret is not heard.
func TestBeatWaitingForTheLockCounts(t *testing.T) {
	m, fc := clockMaster(t, Config{HeartbeatInterval: 10 * time.Second, DeadAfter: 30 * time.Second})
	wid := pullWorker(t, m, "w", "t")
	other := pullWorker(t, m, "forged", "t")
	reg := m.core.reg
	heard := func(id string) int64 {
		m.core.mu.Lock()
		defer m.core.mu.Unlock()
		return reg.workers[id].heard.Load()
	}
	fc.Advance(25 * time.Second)
	m.core.mu.Lock()
	locked := true
	defer func() {
		if locked {
			m.core.mu.Unlock()
		}
	}()
	beat := func(id, secret string) chan error {
		done := make(chan error, 1)
		go func() {
			var r rpcapi.HeartbeatReply
			done <- m.wire.Heartbeat(context.Background(), &rpcapi.HeartbeatArgs{WorkerID: id, Secret: secret}, &r)
		}()
		return done
	}
	done := beat(wid, secretOf(wid))
	forged := beat(other, "not its secret")
	testproc.Poll(t, 5*time.Second, "the beat to be heard", func() bool {
		w := reg.workers[wid] // the workers map does not change while the test holds the lock
		return w.heard.Load() == fc.Now().UnixNano()
	})
	fc.Advance(15 * time.Second) // 40 s since the registration, 15 s since the beat came
	reg.reapHeld(fc.Now())
	if w := reg.workers[wid]; w.state != rpcapi.WorkerAlive {
		t.Fatalf("worker %s is %s: reaped while its beat, heard 15 s ago, waited for the lock", wid, w.state)
	}
	if w := reg.workers[other]; w.state != rpcapi.WorkerDead {
		t.Fatalf("worker %s is %s: a beat without its secret kept it from being reaped", other, w.state)
	}
	m.core.mu.Unlock()
	locked = false
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-forged
	if h := heard(other); h != 0 {
		t.Fatalf("a beat without the secret was heard at %d", h)
	}
}

// TestNoWorkerNamesTenTypes: the reason "no live worker has type" names
// the first ten of the live workers' types, then how many more: it is
// repeated by every lane of the status, the queues and the event streams.
func TestNoWorkerNamesTenTypes(t *testing.T) {
	m, _ := clockMaster(t, Config{})
	var types []string
	for i := range 15 {
		types = append(types, fmt.Sprintf("t%02d", i))
	}
	pullWorker(t, m, "w", types...)
	m.core.mu.Lock()
	got := m.core.noWorker("ocr", "")
	m.core.mu.Unlock()
	want := `no live worker has type "ocr" (live workers have: t00, t01, t02, t03, t04, t05, t06, t07, t08, t09 and 5 more)`
	if got != want {
		t.Fatalf("reason:\n got %s\nwant %s", got, want)
	}
}
