package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The raft group's timing: dead_after is what bounds a takeover (2 ×).
// Raft's own timeouts are hashicorp/raft's defaults (1 s to notice a
// silent leader), so these keep the masters' defaults' proportions
// (heartbeat 1 s, dead_after 3 s) at half the heartbeat.
const (
	haBeat      = 500 * time.Millisecond
	haDeadAfter = 3 * time.Second
)

// TestHAKillLeader: three master processes in a raft group and four
// workers given all three addresses run 1,000 jobs and an "@every 1s"
// schedule (catch_up "one") while the leader is killed with kill -9 three
// times (started again each time), then stopped with SIGSTOP past its
// lease and continued, then cut off the others' raft traffic through the
// drovertest proxies and healed. Every acknowledged job is recorded exactly once;
// no fire is doubled; it prints how long after each fault the new leader
// dispatched, against 2 × dead_after.
func TestHAKillLeader(t *testing.T) {
	skipShort(t)
	const n = 1000
	// Every member's raft traffic comes in through a proxy, which can cut
	// one member off the others.
	var proxies []*drovertest.Proxy
	via := func(i int, bind string) string {
		p, err := drovertest.NewProxy(bind)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		proxies = append(proxies, p)
		return p.Addr()
	}
	g := testproc.StartHA(t, testproc.HAConfig{Masters: 3, RaftVia: via, ClusterConfig: testproc.ClusterConfig{Workers: 4, Slots: 4,
		Heartbeat: haBeat, DeadAfter: haDeadAfter, Master: "retry_backoff = \"20ms\"\nmax_backoff = \"200ms\"", Worker: appendCommand}})
	c := &procCluster{Cluster: g.Cluster, t: t, ranLog: filepath.Join(g.Dir, "ran.log")}
	tickLog := filepath.Join(g.Dir, "ticks.log")
	c.Submit(jobs.Spec{Type: "append", Name: "tick", Schedule: "@every 1s", CatchUp: jobs.CatchUpOne, Overlap: jobs.OverlapAllow,
		Args: map[string]string{"log": tickLog, "sleep": "0"}})
	start := time.Now()
	ids := c.submit("ha_kill_leader", n, "0.1")

	var takeovers []time.Duration
	for k := 1; k <= 3; k++ {
		testproc.Poll(t, 2*time.Minute, fmt.Sprintf("%d%% of the jobs final", 20*k), func() bool {
			m := c.Counts()
			return m != nil && final(m) >= k*n/5
		})
		l, term := g.Leader(10 * time.Second)
		killed := time.Now()
		g.KillMember(l)
		nl, nterm := g.Leader(30 * time.Second)
		takeovers = append(takeovers, firstDispatchAfter(t, c.MC, killed))
		t.Logf("%s: kill -9 of leader m%d (term %d); m%d leads (term %d); counts %v", since(start), l+1, term, nl+1, nterm, c.Counts())
		g.StartMember(l)
	}

	// SIGSTOP the leader past its lease: the others elect a new one; when
	// it continues it finds itself deposed and acts no more.
	l, term := g.Leader(10 * time.Second)
	g.Pause(l)
	paused := time.Now()
	nl, nterm := waitOtherLeader(t, g, l)
	takeovers = append(takeovers, firstDispatchAfter(t, c.MC, paused))
	g.Resume(l)
	testproc.Poll(t, 10*time.Second, "the resumed member follows", func() bool {
		s, ok := g.Status(l)
		return ok && s.State == "Follower" && s.Term >= nterm
	})
	t.Logf("%s: SIGSTOP of leader m%d (term %d); m%d leads (term %d)", since(start), l+1, term, nl+1, nterm)

	// Cut the leader off the others: they elect another; its lease lapses
	// and it steps down; healed, it follows.
	l, term = g.Leader(10 * time.Second)
	cutOff(proxies, l, true)
	cut := time.Now()
	nl, nterm = waitOtherLeader(t, g, l)
	takeovers = append(takeovers, firstDispatchAfter(t, c.MC, cut))
	testproc.Poll(t, 10*time.Second, "the cut-off leader to step down", func() bool {
		s, ok := g.Status(l)
		return ok && s.State != "Leader"
	})
	cutOff(proxies, l, false)
	testproc.Poll(t, 15*time.Second, "the healed member follows", func() bool {
		s, ok := g.Status(l)
		return ok && s.State == "Follower" && s.Term >= nterm
	})
	t.Logf("%s: cut leader m%d (term %d) off; m%d leads (term %d); healed", since(start), l+1, term, nl+1, nterm)

	var all []jobs.Job
	testproc.Poll(t, 2*time.Minute, "every job of the batch final", func() bool {
		var err error
		if all, err = listOnce(c.MC); err != nil {
			return false // a call cut short by a leader change: ask again
		}
		done := 0
		for _, j := range all {
			if j.Spec.Group == "ha_kill_leader" && j.State.Final() {
				done++
			}
		}
		return done >= n
	})
	var batch, fires []jobs.Job
	for _, j := range all {
		if strings.HasPrefix(j.Spec.Key, "sched:") {
			fires = append(fires, j)
		} else {
			batch = append(batch, j)
		}
	}
	verify(t, "ha_kill_leader", ids, batch, c.ranLog)
	checkFires(t, fires, takeovers)
	// The takeovers are printed against their bound, not failed on it:
	// under the race detector on a shared machine a process runs several
	// times slower (CI measured up to 7.2 s). A takeover that never comes
	// fails above, in firstDispatchAfter.
	worst, over := slices.Max(takeovers), 0
	for _, d := range takeovers {
		if d > 2*haDeadAfter {
			over++
		}
	}
	line := fmt.Sprintf("scenario=ha_kill_leader takeovers=%v worst=%s bound=%s (2 × dead_after) over_bound=%d race=%v",
		roundAll(takeovers), worst.Round(time.Millisecond), 2*haDeadAfter, over, testproc.Race)
	t.Log(line)
	fmt.Println(line)
}

// cutOff cuts member i's raft traffic to and from the others through
// their proxies, or heals it.
func cutOff(proxies []*drovertest.Proxy, i int, cut bool) {
	for j, p := range proxies {
		switch {
		case j == i && cut:
			p.Partition()
		case j == i:
			p.Heal()
		case cut:
			p.Block(testproc.RaftIP(i))
		default:
			p.Unblock(testproc.RaftIP(i))
		}
	}
}

// listOnce lists every job of the master behind mc.
func listOnce(mc rpcapi.MasterClient) ([]jobs.Job, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return mc.ListAllJobs(ctx, rpcapi.ListJobsArgs{Limit: rpcapi.MaxPageSize})
}

// waitOtherLeader waits until a member other than old leads.
func waitOtherLeader(t *testing.T, g *testproc.HACluster, old int) (int, uint64) {
	t.Helper()
	at, term := -1, uint64(0)
	testproc.Poll(t, 30*time.Second, "another member to lead", func() bool {
		for i := range g.Members {
			if s, ok := g.Status(i); i != old && ok && s.State == "Leader" {
				at, term = i, s.Term
				return true
			}
		}
		return false
	})
	return at, term
}

// firstDispatchAfter waits until some attempt of the jobs of the leader
// (mc follows it) has started after t0 and returns how long after t0 the
// first did.
func firstDispatchAfter(t *testing.T, mc rpcapi.MasterClient, t0 time.Time) time.Duration {
	t.Helper()
	var first time.Time
	testproc.Poll(t, 30*time.Second, "a dispatch by the new leader", func() bool {
		all, err := listOnce(mc)
		if err != nil {
			return false // the leadership moved under the call: ask again
		}
		for _, j := range all {
			for _, a := range j.Attempts {
				if a.Started.After(t0) && (first.IsZero() || a.Started.Before(first)) {
					first = a.Started
				}
			}
		}
		return !first.IsZero()
	})
	return first.Sub(t0)
}

// checkFires checks the schedule's jobs: at most one per instant, each
// run once, and instants no further apart than the longest takeover and
// a second (catch_up "one" fires once for the instants a takeover
// missed).
func checkFires(t *testing.T, fires []jobs.Job, takeovers []time.Duration) {
	t.Helper()
	seen := map[string]int{}
	var instants []time.Time
	for _, j := range fires {
		inst := j.Spec.Key[strings.LastIndexByte(j.Spec.Key, '@')+1:]
		seen[inst]++
		at, err := time.Parse(time.RFC3339, inst)
		if err != nil {
			t.Fatalf("fire key %q: %v", j.Spec.Key, err)
		}
		instants = append(instants, at)
		if j.State.Final() && j.State != jobs.Succeeded {
			t.Errorf("fire %s: %s", inst, j.State)
		}
	}
	doubled := 0
	for inst, k := range seen {
		if k > 1 {
			doubled++
			t.Errorf("instant %s fired %d times", inst, k)
		}
	}
	slices.SortFunc(instants, func(a, b time.Time) int { return a.Compare(b) })
	var maxGap time.Duration
	for i := 1; i < len(instants); i++ {
		maxGap = max(maxGap, instants[i].Sub(instants[i-1]))
	}
	bound := slices.Max(takeovers) + 2*time.Second
	line := fmt.Sprintf("scenario=ha_schedule fires=%d doubled=%d max_gap=%s", len(fires), doubled, maxGap)
	t.Log(line)
	fmt.Println(line)
	if len(fires) < 10 {
		t.Errorf("only %d fires", len(fires))
	}
	if maxGap > bound {
		t.Errorf("instants %s apart: a takeover skipped fires that catch_up \"one\" should have caught up (bound %s)", maxGap, bound)
	}
}

func since(t0 time.Time) time.Duration { return time.Since(t0).Round(time.Millisecond) }

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
