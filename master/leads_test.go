package master_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// A master whose Config.Leads turns false (a raft leader whose lease
// lapsed) acts no more: it leases nothing, refuses the workers' calls, and
// takes up again when it leads again.
func TestDeposedMasterActsNoMore(t *testing.T) {
	var leads atomic.Bool
	leads.Store(true)
	c := drovertest.Start(t, drovertest.Options{Workers: 1, HeartbeatInterval: 50 * time.Millisecond, DeadAfter: 2 * time.Second,
		Handlers: map[string]worker.HandlerFunc{"echo": func(context.Context, *jobs.Job) (jobs.Result, error) {
			return jobs.Result{Output: "ok"}, nil
		}},
		ConfigureMaster: func(cfg *master.Config) { cfg.Leads = leads.Load }})
	first := c.Submit(jobs.Spec{Type: "echo"})
	if r := c.WaitAll(first, 10*time.Second); !r.Done || r.Counts[jobs.Succeeded] != 1 {
		t.Fatalf("while leading: %+v", r)
	}

	leads.Store(false)
	deposed := time.Now()
	before := c.Metric(`drover_rpc_errors_total{method="heartbeat"}`)
	held := c.Submit(jobs.Spec{Type: "echo"})
	// Over several heartbeats, each refused, the job stays pending.
	drovertest.Eventually(t, 10*time.Second, "three refused heartbeats", func() bool {
		if j := c.Job(held[0]); j.State != jobs.Pending {
			t.Fatalf("a deposed master leased job %s: %s", held[0], j.State)
		}
		return c.Metric(`drover_rpc_errors_total{method="heartbeat"}`) >= before+3
	})
	var hr rpcapi.HeartbeatReply
	w, _ := c.WorkerInfo(0)
	err := c.Client().C.Call(context.Background(), rpcapi.MasterHeartbeat, &rpcapi.HeartbeatArgs{WorkerID: w.ID}, &hr)
	if err == nil {
		t.Fatal("a deposed master answered a heartbeat")
	}
	if j := c.Job(held[0]); j.State != jobs.Pending {
		t.Fatalf("a deposed master leased job %s: %s", held[0], j.State)
	}
	// Its heartbeats refused for longer than dead_after, the worker is
	// still not reaped: the workers are the new leader's to judge.
	drovertest.Eventually(t, 10*time.Second, "dead_after and a half since the master was deposed", func() bool {
		if n := c.Metric("drover_workers_reaped_total"); n != 0 {
			t.Fatalf("a deposed master reaped %v workers", n)
		}
		return time.Since(deposed) > 3*time.Second
	})

	leads.Store(true)
	if r := c.WaitAll(held, 15*time.Second); !r.Done || r.Counts[jobs.Succeeded] != 1 {
		t.Fatalf("leading again: %+v", r)
	}
}
