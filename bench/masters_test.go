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
	// Jobs enough that the followers' share of the run is tens of
	// milliseconds of CPU: /proc counts it in 10 ms ticks, and 300 jobs
	// (40 ms in all) once read as none.
	const jobs = 3000
	cfg := Config{Masters: 3, Jobs: jobs, Workers: 2, Batch: 500, LatencySamples: 5, CeilingTime: 50 * time.Millisecond,
		Profile: t.TempDir() + "/cpu.pprof"}
	r := runSmall(t, 30*time.Second, cfg)
	e := r.E2E
	if e == nil {
		t.Fatalf("no e2e block: %+v", r)
	}
	if e.Succeeded != jobs || e.Failed != 0 || e.BadJobs != 0 || e.Attempts != jobs {
		t.Errorf("succeeded %d, failed %d, bad %d, attempts %d; want %d, 0, 0, %d", e.Succeeded, e.Failed, e.BadJobs, e.Attempts, jobs, jobs)
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
