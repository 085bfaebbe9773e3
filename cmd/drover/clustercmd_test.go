package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/internal/testproc"
)

// TestClusterCommands: on a raft group of three master processes,
// `drover cluster status` given every address shows one leader that all
// three name; `drover cluster remove` of an unknown member is refused by
// the leader and changes nothing; given only dead addresses it exits 1.
func TestClusterCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts master processes")
	}
	g := testproc.StartHA(t, testproc.HAConfig{Masters: 3})
	l, _ := g.Leader(20 * time.Second)
	r := runDrover(t, g.Addr, "cluster", "status", "--json")
	if r.Code != 0 {
		t.Fatalf("cluster status: exit %d: %s", r.Code, r.Stderr)
	}
	var out []struct {
		Addr   string
		Status *struct {
			ID, State, Leader string
			LeaderRPC         string `json:"leader_rpc"`
			Members           []struct{ ID, Raft, RPC string }
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || len(out) != 3 {
		t.Fatalf("cluster status --json: %v\n%s", err, r.Stdout)
	}
	leaders := 0
	for i, m := range out {
		if m.Status == nil || m.Status.LeaderRPC != g.RPC[l] || len(m.Status.Members) != 3 {
			t.Fatalf("member %d (%s) says %+v, want the leader at %s and 3 members", i, m.Addr, m.Status, g.RPC[l])
		}
		if m.Status.State == "Leader" {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d members say they lead", leaders)
	}
	text := runDrover(t, g.Addr, "cluster", "status")
	if !strings.Contains(text.Stdout, "Leader") || !strings.Contains(text.Stdout, "members:") {
		t.Fatalf("cluster status:\n%s", text.Stdout)
	}
	if r := runDrover(t, g.Addr, "cluster", "remove", "--id", "m9"); r.Code == 0 || !strings.Contains(r.Stderr, `no member "m9"`) {
		t.Fatalf("cluster remove of an unknown member: exit %d: %s", r.Code, r.Stderr)
	}
	dead := testnet.RefusedAddr(t)
	if r := runDrover(t, dead, "cluster", "status"); r.Code != 1 {
		t.Fatalf("cluster status of a dead address: exit %d, want 1: %s", r.Code, r.Stderr)
	}

	// A stopped member takes the call and never answers: the others are
	// shown all the same, and it as unreachable, after 5 s, not the 30 s
	// of a call's deadline.
	f := (l + 1) % 3
	g.Pause(f)
	defer g.Resume(f)
	start := time.Now()
	r = runDrover(t, g.Addr, "cluster", "status")
	took := time.Since(start)
	if r.Code != 0 || !strings.Contains(r.Stdout, g.RPC[f]+"  -   unreachable") || strings.Count(r.Stdout, "Follower")+strings.Count(r.Stdout, "Leader") < 2 {
		t.Fatalf("cluster status with member %d stopped: exit %d after %s:\n%s%s", f, r.Code, took, r.Stdout, r.Stderr)
	}
	if took > 20*time.Second {
		t.Errorf("cluster status with a member stopped took %s, want about 5 s", took)
	}
}
