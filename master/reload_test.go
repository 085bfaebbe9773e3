package master_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// TestSetLimits: limits set on a running master bound what is dispatched
// from then on. A type limit added where there was none counts the jobs
// already running; a raised limit lets waiting jobs go at once; a bad
// limit is an error naming it and changes nothing.
func TestSetLimits(t *testing.T) {
	m := startMaster(t, master.Config{})
	release := make(chan struct{})
	startWorker(t, m.Addr(), "w", 4, map[string]worker.HandlerFunc{
		"x": holdUntil(release),
	})
	mc := client(t, m.Addr())
	running := func(n int) func() bool {
		return func() bool {
			st, err := mc.Status(context.Background())
			return err == nil && st.Counts[jobs.Running] == n
		}
	}
	ids := submit(t, mc, jobs.Spec{Type: "x"}, jobs.Spec{Type: "x"})
	pollT(t, 10*time.Second, "two x jobs running, no limit yet", running(2))

	// Limit 1 with two running: when one ends, a third must wait for
	// the other.
	if err := m.SetLimits(nil, map[string]master.Limit{"x": {Concurrency: 1}}, master.Limit{}); err != nil {
		t.Fatal(err)
	}
	third := submit(t, mc, jobs.Spec{Type: "x"})[0]
	release <- struct{}{}
	pollT(t, 10*time.Second, "one of the first two to finish", func() bool {
		st, err := mc.Status(context.Background())
		return err == nil && st.Counts[jobs.Succeeded] == 1
	})
	pollT(t, 10*time.Second, "the third job to wait on the type limit", func() bool {
		return strings.Contains(getJob(t, mc, third).Waiting, `type "x" is at its limit of 1 running`)
	})
	if st, _ := mc.Status(context.Background()); st.Counts[jobs.Running] != 1 {
		t.Errorf("after SetLimits(x: 1), %d running; want 1", st.Counts[jobs.Running])
	}

	// A bad limit: an error naming it, and the limit of 1 stays.
	bad := map[string]master.Limit{"x": {Concurrency: 5}, "y": {Concurrency: -1}}
	if err := m.SetLimits(nil, bad, master.Limit{}); err == nil || !strings.Contains(err.Error(), `type_limits "y"`) {
		t.Errorf("SetLimits with a negative concurrency: %v; want an error naming type_limits \"y\"", err)
	}
	if w := getJob(t, mc, third).Waiting; !strings.Contains(w, "at its limit of 1 running") {
		t.Errorf("after a refused SetLimits, the third job: waiting %q; want the limit of 1", w)
	}

	// Raised to 2: the third goes at once, beside the one still running.
	if err := m.SetLimits(nil, map[string]master.Limit{"x": {Concurrency: 2}}, master.Limit{}); err != nil {
		t.Fatal(err)
	}
	pollT(t, 10*time.Second, "two x jobs running under the raised limit", running(2))
	close(release)
	if r := waitAll(t, mc, append(ids, third), 10*time.Second); r.Counts[jobs.Succeeded] != 3 {
		t.Errorf("counts %v; want 3 succeeded", r.Counts)
	}
}
