package bench

import (
	"os"
	"slices"
	"testing"
	"time"
)

// TestBenchMasters runs the e2e scenario against three masters: every job
// succeeds, the report says masters=3, and its leader is one of three
// distinct members, the only one that said it leads, while the other two
// answered GET /api/v1/cluster as followers naming it; the leader wrote
// the CPU profile.
func TestBenchMasters(t *testing.T) {
	cfg := Config{Masters: 3, Jobs: 300, Workers: 2, Batch: 100, LatencySamples: 5, CeilingTime: 50 * time.Millisecond,
		Profile: t.TempDir() + "/cpu.pprof"}
	r := runSmall(t, 30*time.Second, cfg)
	e := r.E2E
	if e == nil {
		t.Fatalf("no e2e block: %+v", r)
	}
	if e.Succeeded != 300 || e.Failed != 0 || e.BadJobs != 0 || e.Attempts != 300 {
		t.Errorf("succeeded %d, failed %d, bad %d, attempts %d; want 300, 0, 0, 300", e.Succeeded, e.Failed, e.BadJobs, e.Attempts)
	}
	if r.Masters != 3 || len(e.Members) != 3 {
		t.Fatalf("masters %d, members %+v; want 3 and 3", r.Masters, e.Members)
	}
	var rpcs []string
	leaders := 0
	for _, m := range e.Members {
		rpcs = append(rpcs, m.RPC, m.Raft)
		switch {
		case m.RPC == e.LeaderRPC && m.State == "Leader":
			leaders++
		case m.RPC == e.LeaderRPC || m.State != "Follower":
			t.Errorf("member %+v: state %s, want Leader at the leader's address %s and Follower elsewhere", m, m.State, e.LeaderRPC)
		}
		if m.LeaderRPC != e.LeaderRPC {
			t.Errorf("member %s named %q as the leader; the report says %q", m.ID, m.LeaderRPC, e.LeaderRPC)
		}
	}
	slices.Sort(rpcs)
	if leaders != 1 || len(slices.Compact(rpcs)) != 6 {
		t.Errorf("%d members lead (want 1); addresses %v, want 6 distinct", leaders, rpcs)
	}
	if !(e.StandbysCPUSeconds > 0) {
		t.Errorf("standbys_cpu_s = %v: the followers replicated nothing?", e.StandbysCPUSeconds)
	}
	if fi, err := os.Stat(cfg.Profile); err != nil || fi.Size() == 0 {
		t.Errorf("the leader's CPU profile: %v", err)
	}
	checkReport(t, r, `"masters": 3`, `"leader_rpc": "`+e.LeaderRPC+`"`, `"standbys_cpu_s"`,
		"3 masters (raft group), the leader at "+e.LeaderRPC, "standby masters CPU")
}
