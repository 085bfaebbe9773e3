package raftstore

import (
	"sync"
	"time"
)

// pauseGuard keeps a leader that was paused from acting on its stale
// view. raft checks its leader lease on a timer: after this process did
// not run for a while (SIGSTOP, a paused VM, a stall in swap), raft still
// calls it leader until that timer's goroutine runs, though the others may
// have elected another meanwhile. The guard's ticker notes each time it
// runs; a gap longer than half the lease between two runs, or between the
// last run and a Leads call, means such a pause. Then Leads answers false
// until a round trip to a quorum (raft's VerifyLeader), begun after the
// pause, confirms the leadership.
//
// Half the lease is safe: the others elect a new leader only after they
// have not heard from this one for their heartbeat timeout, which is at
// least the lease, so a shorter pause cannot hide an election.
type pauseGuard struct {
	n      *Node
	maxGap time.Duration
	stop   chan struct{}
	done   chan struct{}

	mu        sync.Mutex
	last      time.Time // the ticker's last run (monotonic)
	gen       int       // pauses seen
	suspect   bool      // a pause was seen and no VerifyLeader since confirmed the leadership
	verifying bool
}

// pauseTick is how often the guard's ticker runs.
const pauseTick = 20 * time.Millisecond

func newPauseGuard(n *Node, lease time.Duration) *pauseGuard {
	g := &pauseGuard{n: n, maxGap: max(lease/2, 5*pauseTick), stop: make(chan struct{}), done: make(chan struct{}), last: time.Now()}
	go g.run()
	return g
}

func (g *pauseGuard) run() {
	defer close(g.done)
	t := time.NewTicker(pauseTick)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		g.mu.Lock()
		g.check(time.Now())
		g.last = time.Now()
		g.mu.Unlock()
	}
}

// check notes a pause if the ticker has not run for maxGap at now, and
// starts a VerifyLeader while one is suspected. The caller holds mu.
func (g *pauseGuard) check(now time.Time) {
	if now.Sub(g.last) > g.maxGap {
		g.suspect = true
		g.gen++
	}
	if g.suspect && !g.verifying && g.n.IsLeader() {
		g.verifying = true
		go g.verify(g.gen)
	}
}

// verify asks a quorum whether this member still leads; a yes clears the
// suspicion unless another pause came since gen.
func (g *pauseGuard) verify(gen int) {
	err := g.n.raft.VerifyLeader().Error()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.verifying = false
	if err == nil && g.gen == gen {
		g.suspect = false
	}
}

// ok reports whether no pause is suspected now.
func (g *pauseGuard) ok() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.check(time.Now())
	return !g.suspect
}

func (g *pauseGuard) close() {
	close(g.stop)
	<-g.done
}
