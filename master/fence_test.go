package master_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// TestReapedFencingWorkerHoldsItsJobs: a worker that fences itself
// (fence_grace) and goes silent is reaped after dead_after, but its job
// stays running, leased to it, until last heartbeat + dead_after +
// fence_grace + 2% of (dead_after + fence_grace); then it is requeued as
// lost. A worker that does not fence has its job requeued when it is
// reaped. The master runs on a fake clock.
func TestReapedFencingWorkerHoldsItsJobs(t *testing.T) {
	const deadAfter, grace = 30 * time.Second, 6 * time.Second
	// The hold ends at 36.72 s after the registration.
	for _, fenceGrace := range []time.Duration{0, grace} {
		m, fc := startClockMaster(t, master.Config{HeartbeatInterval: 10 * time.Second, DeadAfter: deadAfter})
		mc := client(t, m.Addr())
		fake := &fakeWorker{}
		start := fc.Now()
		if _, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "silent", Addr: serveFake(t, fake),
			Types: []string{"echo"}, Slots: 1, FenceGrace: fenceGrace}); err != nil {
			t.Fatal(err)
		}
		id := leaseThenReap(t, mc, fc, fake)
		j := jobOf(t, mc, id)
		if fenceGrace == 0 {
			if j.State == jobs.Running {
				t.Errorf("no fence: the job of a reaped worker is still running: %+v", j)
			}
			continue
		}
		if j.State != jobs.Running || j.Attempt != 1 {
			t.Fatalf("fence %s: the job left the reaped worker before its fence ended: %s, attempt %d", fenceGrace, j.State, j.Attempt)
		}
		fc.AdvanceTo(start.Add(36500 * time.Millisecond))
		fc.AdvanceTo(start.Add(37500 * time.Millisecond))
		pollT(t, 5*time.Second, "the job requeued once the fence ended", func() bool {
			j = jobOf(t, mc, id)
			return j.State != jobs.Running
		})
		if len(j.Attempts) != 1 || j.Attempts[0].Outcome != jobs.Lost || !strings.Contains(j.Attempts[0].Error, "fence ended") {
			t.Errorf("attempts after the fence: %+v; want one lost, its fence ended", j.Attempts)
		}
	}
}

// TestRegisterFenceGraceBounds: a fence_grace below zero or above an
// hour is refused and registers nothing.
func TestRegisterFenceGraceBounds(t *testing.T) {
	m := startMaster(t, master.Config{})
	mc := client(t, m.Addr())
	for _, g := range []time.Duration{-time.Second, rpcapi.MaxFenceGrace + time.Second} {
		_, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "w", Mode: rpcapi.ModePull,
			Types: []string{"echo"}, Slots: 1, FenceGrace: g})
		if !errors.Is(err, rpcapi.ErrBadRequest) || !strings.Contains(err.Error(), "fence_grace") {
			t.Errorf("fence_grace %s: %v; want a bad request naming fence_grace", g, err)
		}
	}
	s, err := mc.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Workers) != 0 {
		t.Errorf("workers registered: %+v", s.Workers)
	}
}
