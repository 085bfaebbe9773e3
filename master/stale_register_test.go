package master_test

import (
	"context"
	"testing"
	"time"

	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// TestReRegisterCountsStale: a reaped worker that comes back holding the
// attempt it lost (its result unsent) is told to drop it, and the master
// counts it as a stale report, as it would have counted the late report.
// The master runs on a fake clock: the reaping takes no real time.
func TestReRegisterCountsStale(t *testing.T) {
	m, fc := startClockMaster(t, master.Config{HeartbeatInterval: 10 * time.Second, DeadAfter: 30 * time.Second})
	mc := client(t, m.Addr())
	fake := &fakeWorker{}
	addr := serveFake(t, fake)
	reg, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "stalled", Addr: addr,
		Types: []string{"echo"}, Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The fake never beats: past dead_after it is reaped and the attempt
	// is lost.
	id := leaseThenReap(t, mc, fc, fake)
	rr, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "stalled", Addr: addr,
		Types: []string{"nothing"}, Slots: 1, Running: []rpcapi.JobRef{{JobID: id, Attempt: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if rr.WorkerID == reg.WorkerID || len(rr.Cancel) != 1 || rr.Cancel[0].JobID != id {
		t.Fatalf("re-registration: %+v; want a new ID and job %s cancelled", rr, id)
	}
	s, err := mc.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Dropped != 1 {
		t.Errorf("stale reports dropped %d, want 1", s.Dropped)
	}
}
