package raftstore

import (
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
)

// pausedFor makes l's guard see a pause of d, as after a SIGSTOP of the
// process: its ticker last ran d ago.
func pausedFor(l *member, d time.Duration) {
	g := l.node.pause
	g.mu.Lock()
	g.last = time.Now().Add(-d)
	g.mu.Unlock()
}

// TestAPausedLeaderActsOnlyOnceAQuorumConfirmsIt: right after a pause
// longer than half the lease, the leader that raft still calls leader may
// not act (Leads is false) until a quorum confirms it; without a quorum it
// never acts again, up to raft deposing it.
func TestAPausedLeaderActsOnlyOnceAQuorumConfirmsIt(t *testing.T) {
	g, _ := group(t, 3)
	l := leader(t, g)
	poll.Until(t, 5*time.Second, "the leader may act", l.node.Leads)

	pausedFor(l, time.Second)
	if !l.node.IsLeader() {
		t.Skip("the leadership moved under the test (a loaded machine); nothing to check")
	}
	if l.node.Leads() {
		t.Fatal("right after a pause the leader may act before a quorum confirmed it")
	}
	poll.Until(t, 5*time.Second, "the quorum confirms the leader", func() bool { return l.node.Leads() || !l.node.IsLeader() })

	// Now without a quorum: the followers are gone when the pause ends.
	l = leader(t, g)
	poll.Until(t, 5*time.Second, "the leader may act", l.node.Leads)
	for _, mb := range g {
		if mb != l {
			mb.stop()
		}
	}
	pausedFor(l, time.Second)
	poll.Until(t, 10*time.Second, "raft deposes the leader that lost its quorum", func() bool {
		if l.node.Leads() {
			t.Fatal("a paused leader without a quorum may act")
		}
		return !l.node.IsLeader()
	})
}
