package master

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/drover/drover/jobs"
)

// newIdle returns a master that is not started (New only).
func newIdle(t *testing.T, cfg Config) *Master {
	t.Helper()
	cfg.Store, cfg.Logger = StoreMemory, quietLog()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// same reports whether a and b are the same map.
func same(a, b any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// TestCompactMap: a map is copied once it holds fewer than half its peak,
// and the peak restarts from the copy.
func TestCompactMap(t *testing.T) {
	m := make(map[int]int)
	peak := 0
	for i := range 100 {
		m[i] = i
		peak = max(peak, len(m))
	}
	for i := range 50 {
		delete(m, i)
	}
	if c := compactMap(m, &peak); !same(c, m) || peak != 100 {
		t.Fatalf("at half the peak: copied %v, peak %d", !same(c, m), peak)
	}
	delete(m, 50)
	c := compactMap(m, &peak)
	if same(c, m) || len(c) != 49 || peak != 49 || c[99] != 99 {
		t.Fatalf("below half the peak: copied %v, %d entries, peak %d", !same(c, m), len(c), peak)
	}
	empty := map[int]int{}
	zero := 0
	if got := compactMap(empty, &zero); !same(got, empty) {
		t.Error("an empty map that never grew was copied")
	}
}

// TestReleaseLanesRebuilds: a sweep that empties the lanes and the rate
// buckets of a thousand limit keys leaves new maps behind; one that
// sweeps nothing leaves the maps as they were.
func TestReleaseLanesRebuilds(t *testing.T) {
	m := newIdle(t, Config{DefaultLimit: Limit{Concurrency: 1, Rate: Rate{N: 10, Per: time.Second}}})
	now := time.Now()
	m.core.mu.Lock()
	defer m.core.mu.Unlock()
	for i := range 1000 {
		l := m.core.lim.laneOf(&jobs.Job{Spec: jobs.Spec{Type: "crawl", LimitKey: fmt.Sprintf("k%d.example", i)}})
		if why, _ := m.core.lim.blocked(l, now); why != "" {
			t.Fatalf("lane %d blocked: %s", i, why)
		}
		m.core.lim.took(l)
	}
	m.core.lim.laneOf(&jobs.Job{Spec: jobs.Spec{Type: "crawl"}})
	if len(m.core.lim.lanes) != 1001 || len(m.core.lim.keyBuckets) != 1000 || len(m.core.lim.plainLanes) != 1 {
		t.Fatalf("%d lanes, %d buckets, %d plain lanes; want 1001, 1000, 1", len(m.core.lim.lanes), len(m.core.lim.keyBuckets), len(m.core.lim.plainLanes))
	}
	lanes, buckets := m.core.lim.lanes, m.core.lim.keyBuckets
	m.core.lim.release(m.core.queue, now) // the buckets are not full yet; no lane is swept (none ready, but the sweep waits for 64)
	if len(m.core.lim.keyBuckets) != 1000 || !same(m.core.lim.keyBuckets, buckets) {
		t.Fatalf("buckets not yet full: %d left, copied %v", len(m.core.lim.keyBuckets), !same(m.core.lim.keyBuckets, buckets))
	}
	m.core.lim.release(m.core.queue, now.Add(time.Minute))
	if len(m.core.lim.lanes) != 0 || len(m.core.lim.plainLanes) != 0 || len(m.core.lim.keyBuckets) != 0 {
		t.Fatalf("after the sweep: %d lanes, %d plain lanes, %d buckets; want none", len(m.core.lim.lanes), len(m.core.lim.plainLanes), len(m.core.lim.keyBuckets))
	}
	if same(m.core.lim.lanes, lanes) || same(m.core.lim.keyBuckets, buckets) {
		t.Errorf("emptied maps kept: lanes %v, buckets %v", same(m.core.lim.lanes, lanes), same(m.core.lim.keyBuckets, buckets))
	}
	// A lane made again after the rebuild works as before.
	l := m.core.lim.laneOf(&jobs.Job{Spec: jobs.Spec{Type: "crawl", LimitKey: "k1.example"}})
	if why, _ := m.core.lim.blocked(l, now.Add(time.Minute)); why != "" || m.core.lim.lanes[l.name] != l || !l.limited {
		t.Errorf("lane made after the rebuild: blocked %q, in lanes %v, limited %v", why, m.core.lim.lanes[l.name] == l, l.limited)
	}
}

// TestAccountRenewsEmptyCounts: the running counts by key and type are
// new maps once their last running job ends.
func TestAccountRenewsEmptyCounts(t *testing.T) {
	m := newIdle(t, Config{TypeLimits: map[string]Limit{"crawl": {Concurrency: 100}}})
	m.core.mu.Lock()
	defer m.core.mu.Unlock()
	var js []*jobs.Job
	for i := range 100 {
		j := &jobs.Job{State: jobs.Running, Spec: jobs.Spec{Type: "crawl", LimitKey: fmt.Sprintf("k%d", i)}}
		m.core.lim.account(j, jobs.Pending)
		js = append(js, j)
	}
	keys, types := m.core.lim.runningKey, m.core.lim.runningType
	if len(keys) != 100 || types["crawl"] != 100 {
		t.Fatalf("running: %d keys, %d of the type", len(keys), types["crawl"])
	}
	for i, j := range js {
		j.State = jobs.Succeeded
		m.core.lim.account(j, jobs.Running)
		if i < len(js)-1 && (!same(m.core.lim.runningKey, keys) || !same(m.core.lim.runningType, types)) {
			t.Fatalf("maps renewed with %d jobs still running", len(js)-1-i)
		}
	}
	if len(m.core.lim.runningKey) != 0 || len(m.core.lim.runningType) != 0 || same(m.core.lim.runningKey, keys) || same(m.core.lim.runningType, types) {
		t.Errorf("after the last job: %d keys, %d types, same maps %v %v", len(m.core.lim.runningKey), len(m.core.lim.runningType),
			same(m.core.lim.runningKey, keys), same(m.core.lim.runningType, types))
	}
}

// TestRunTimeHistogram: drover_job_run_seconds has the buckets, count
// and sum a Prometheus histogram fed the same run times has, and its
// series leave, with their map, once their types are released.
func TestRunTimeHistogram(t *testing.T) {
	m := newIdle(t, Config{})
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ref", Buckets: runBuckets})
	start := time.Now()
	m.core.mu.Lock()
	for i, d := range []time.Duration{500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 3 * time.Second,
		100 * time.Second, 2 * time.Hour} {
		j := &jobs.Job{State: jobs.Succeeded, Spec: jobs.Spec{Type: "crawl"},
			Attempts: []jobs.Attempt{{N: 1, Started: start, Ended: start.Add(d), Outcome: jobs.OK}}}
		m.core.metrics.observeFinish(j)
		ref.Observe(d.Seconds())
		if i == 0 {
			for k := range 40 {
				j := &jobs.Job{State: jobs.Failed, Spec: jobs.Spec{Type: fmt.Sprintf("t%d", k)},
					Attempts: []jobs.Attempt{{N: 1, Started: start, Ended: start, Outcome: jobs.Error}}}
				m.core.metrics.observeFinish(j)
			}
		}
	}
	m.core.mu.Unlock()
	fams, err := m.core.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got *dto.Histogram
	series := 0
	for _, f := range fams {
		if f.GetName() != "drover_job_run_seconds" {
			continue
		}
		for _, mt := range f.GetMetric() {
			series++
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == "crawl" && labels["outcome"] == string(jobs.OK) {
				got = mt.GetHistogram()
			}
		}
	}
	var want dto.Metric
	if err := ref.Write(&want); err != nil {
		t.Fatal(err)
	}
	if got == nil || series != 41 {
		t.Fatalf("%d series, crawl/ok found %v; want 41", series, got != nil)
	}
	w := want.GetHistogram()
	if got.GetSampleCount() != w.GetSampleCount() || got.GetSampleSum() != w.GetSampleSum() || len(got.GetBucket()) != len(w.GetBucket()) {
		t.Fatalf("count %d sum %v buckets %d; want %d, %v, %d", got.GetSampleCount(), got.GetSampleSum(), len(got.GetBucket()),
			w.GetSampleCount(), w.GetSampleSum(), len(w.GetBucket()))
	}
	for i, b := range got.GetBucket() {
		if b.GetUpperBound() != w.GetBucket()[i].GetUpperBound() || b.GetCumulativeCount() != w.GetBucket()[i].GetCumulativeCount() {
			t.Errorf("bucket %d: le %v count %d; want le %v count %d", i, b.GetUpperBound(), b.GetCumulativeCount(),
				w.GetBucket()[i].GetUpperBound(), w.GetBucket()[i].GetCumulativeCount())
		}
	}

	m.core.mu.Lock()
	defer m.core.mu.Unlock()
	x := m.core.metrics
	runs, types := x.runs, x.types
	x.types["crawl"] = start.Add(time.Hour) // observed later: stays
	x.release(start.Add(time.Minute))
	if len(x.runs) != 1 || len(x.types) != 1 || same(x.runs, runs) || same(x.types, types) {
		t.Errorf("after the release: %d series, %d types, same maps %v %v; want 1, 1, new maps", len(x.runs), len(x.types),
			same(x.runs, runs), same(x.types, types))
	}
}
