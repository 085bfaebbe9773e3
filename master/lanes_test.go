package master_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// span records when each run of a handler started and ended.
type span struct{ start, end time.Time }

type spans struct {
	mu sync.Mutex
	s  []span
}

func (r *spans) handler(d time.Duration) worker.HandlerFunc {
	return func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		st := time.Now()
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		r.mu.Lock()
		r.s = append(r.s, span{st, time.Now()})
		r.mu.Unlock()
		return jobs.Result{}, nil
	}
}

// maxOverlap returns the most spans running at one instant.
func (r *spans) maxOverlap() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	type ev struct {
		at time.Time
		d  int
	}
	var evs []ev
	for _, s := range r.s {
		evs = append(evs, ev{s.start, 1}, ev{s.end, -1})
	}
	slices.SortFunc(evs, func(a, b ev) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.d - b.d // ends before starts at the same instant
	})
	n, most := 0, 0
	for _, e := range evs {
		n += e.d
		most = max(most, n)
	}
	return most
}

// TestLimitKeyConcurrency: 50 jobs with one limit key over 3 workers of 4
// slots never run more than the key's limit of 2 at once, while jobs
// without the key fill the other slots.
func TestLimitKeyConcurrency(t *testing.T) {
	m := startMaster(t, master.Config{Limits: map[string]master.Limit{"example.com": {Concurrency: 2}}})
	var keyed, free spans
	for i := range 3 {
		startWorker(t, m.Addr(), fmt.Sprint("w", i), 4, map[string]worker.HandlerFunc{
			"crawl": keyed.handler(20 * time.Millisecond),
			"other": free.handler(20 * time.Millisecond),
		})
	}
	mc := client(t, m.Addr())
	var specs []jobs.Spec
	for range 50 {
		specs = append(specs, jobs.Spec{Type: "crawl", LimitKey: "example.com"}, jobs.Spec{Type: "other"})
	}
	ids := submit(t, mc, specs...)
	waitAll(t, mc, ids, 30*time.Second)
	if got := keyed.maxOverlap(); got > 2 || got < 1 {
		t.Errorf("example.com jobs ran %d at once; limit 2", got)
	}
	if got := free.maxOverlap(); got <= 2 {
		t.Logf("jobs without a key ran at most %d at once", got)
	}
	t.Logf("keyed max overlap %d, unkeyed %d", keyed.maxOverlap(), free.maxOverlap())
}

// TestTypeLimitAndRate: a per-type concurrency limit holds, and a rate
// limit of 10/s (burst 10) never lets more than 10 + 10·t starts by time t.
func TestTypeLimitAndRate(t *testing.T) {
	m := startMaster(t, master.Config{
		TypeLimits: map[string]master.Limit{"slow": {Concurrency: 3}},
		Limits:     map[string]master.Limit{"api.example": {Rate: master.Rate{N: 10, Per: time.Second}}},
	})
	var slow, fast spans
	startWorker(t, m.Addr(), "w", 8, map[string]worker.HandlerFunc{
		"slow": slow.handler(20 * time.Millisecond),
		"hit":  fast.handler(0),
	})
	mc := client(t, m.Addr())
	var specs []jobs.Spec
	for range 12 {
		specs = append(specs, jobs.Spec{Type: "slow"})
	}
	for range 25 {
		specs = append(specs, jobs.Spec{Type: "hit", LimitKey: "api.example"})
	}
	first := time.Now()
	ids := submit(t, mc, specs...)
	waitAll(t, mc, ids, 30*time.Second)
	if got := slow.maxOverlap(); got > 3 {
		t.Errorf("type slow ran %d at once; limit 3", got)
	}
	fast.mu.Lock()
	defer fast.mu.Unlock()
	for _, s := range fast.s {
		n := 0
		for _, o := range fast.s {
			if !o.start.After(s.start) {
				n++
			}
		}
		if allowed := 10 + int(s.start.Sub(first).Seconds()*10) + 1; n > allowed {
			t.Errorf("%d rate-limited starts by %s; at most %d allowed", n, s.start.Sub(first), allowed)
		}
	}
	last := fast.s[len(fast.s)-1].start.Sub(first)
	t.Logf("25 jobs at 10/s with a burst of 10: last start after %s", last.Round(time.Millisecond))
}

// TestRoutingByTags: a job that requires tags goes only to a worker with
// all of them, and waits, saying why, while there is none.
func TestRoutingByTags(t *testing.T) {
	m := startMaster(t, master.Config{})
	ran := map[string]string{}
	var mu sync.Mutex
	h := func(name string) worker.HandlerFunc {
		return func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			mu.Lock()
			ran[j.ID] = name
			mu.Unlock()
			return jobs.Result{}, nil
		}
	}
	master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "us", Slots: 2, Tags: []string{"region=us"}},
		map[string]worker.HandlerFunc{"crawl": h("us")})
	mc := client(t, m.Addr())
	ids := submit(t, mc,
		jobs.Spec{Type: "crawl", Tags: []string{"region=eu"}},
		jobs.Spec{Type: "crawl", Tags: []string{"region=us"}},
		jobs.Spec{Type: "crawl"})
	waitAll(t, mc, ids[1:], 10*time.Second)
	if w := getJob(t, mc, ids[0]).Waiting; !strings.Contains(w, `no live worker has type "crawl" with tags region=eu`) {
		t.Fatalf("waiting: %q", w)
	}
	master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "eu", Slots: 2, Tags: []string{"region=eu", "gpu"}},
		map[string]worker.HandlerFunc{"crawl": h("eu")})
	waitAll(t, mc, ids, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if ran[ids[0]] != "eu" || ran[ids[1]] != "us" {
		t.Fatalf("ran on %v", ran)
	}
	ws, _ := mc.ListWorkers(context.Background())
	for _, w := range ws.Workers {
		if w.Name == "eu" && !slices.Equal(w.Tags, []string{"gpu", "region=eu"}) {
			t.Errorf("eu worker tags %v", w.Tags)
		}
	}
}

// TestUniqueDelayCancelGroup: unique keys return the live job; delay holds
// a job and says so; cancel by group stops every live job of the group.
func TestUniqueDelayCancelGroup(t *testing.T) {
	m := startMaster(t, master.Config{})
	mc := client(t, m.Addr())
	a := submit(t, mc, jobs.Spec{Type: "nobody", UniqueKey: "u1"})
	b, err := mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "nobody", UniqueKey: "u1"}}})
	if err != nil || b.IDs[0] != a[0] || !b.Existing[0] {
		t.Fatalf("second unique submit: %+v %v", b, err)
	}
	d := submit(t, mc, jobs.Spec{Type: "nobody", Delay: time.Hour, Group: "g"})[0]
	if w := getJob(t, mc, d).Waiting; !strings.Contains(w, "held by run_at/delay") {
		t.Fatalf("delayed job waiting: %q", w)
	}
	submit(t, mc, jobs.Spec{Type: "nobody", Group: "g"}, jobs.Spec{Type: "nobody", Group: "g"})
	cr, err := mc.Cancel(context.Background(), &rpcapi.CancelArgs{Group: "g"})
	if err != nil || len(cr.Cancelled) != 3 {
		t.Fatalf("cancel group: %+v %v", cr, err)
	}
	if _, err := mc.Cancel(context.Background(), &rpcapi.CancelArgs{IDs: a}); err != nil {
		t.Fatal(err)
	}
	c := submit(t, mc, jobs.Spec{Type: "nobody", UniqueKey: "u1"})
	if c[0] == a[0] {
		t.Fatal("a unique key still held by a cancelled job")
	}
}

// TestUniqueFor: a unique key stays taken for unique_for after its job
// succeeded, then frees.
func TestUniqueFor(t *testing.T) {
	m := startMaster(t, master.Config{})
	startWorker(t, m.Addr(), "w", 2, map[string]worker.HandlerFunc{"echo": echo})
	mc := client(t, m.Addr())
	long := submit(t, mc, jobs.Spec{Type: "echo", UniqueKey: "long", UniqueFor: time.Hour})[0]
	short := submit(t, mc, jobs.Spec{Type: "echo", UniqueKey: "short", UniqueFor: 200 * time.Millisecond})[0]
	waitAll(t, mc, []string{long, short}, 10*time.Second)
	if again := submit(t, mc, jobs.Spec{Type: "echo", UniqueKey: "long", UniqueFor: time.Hour})[0]; again != long {
		t.Fatalf("within unique_for a submit made job %s, want %s", again, long)
	}
	done := getJob(t, mc, short).Job.Updated
	pollT(t, 10*time.Second, "unique_for to pass", func() bool { return time.Since(done) > 200*time.Millisecond })
	if again := submit(t, mc, jobs.Spec{Type: "echo", UniqueKey: "short"})[0]; again == short {
		t.Fatal("after unique_for the old job still holds the key")
	}
}
