package master

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// retainCluster starts a master with cfg (memory store unless set) and one
// worker with 8 slots that runs type "ok" and returns at once.
func retainCluster(t *testing.T, cfg Config) (*Master, rpcapi.MasterClient) {
	t.Helper()
	if cfg.Store == "" && cfg.DataDir == "" {
		cfg.Store = StoreMemory
	}
	// dead_after 10s: a loaded machine must not reap the worker, every
	// job must succeed.
	m, mc := startOn(t, cfg)
	okWorker(t, m.Addr())
	return m, mc
}

// okWorker starts retainCluster's worker, for the master at addr.
func okWorker(t *testing.T, addr string) {
	t.Helper()
	startTestWorker(t, worker.Config{Master: addr, Name: "w", Slots: 8, Logger: quietLog()}, map[string]worker.HandlerFunc{
		"ok": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) { return jobs.Result{Output: "x"}, nil },
		"fail": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{}, worker.Permanent(errors.New("no"))
		},
	})
}

// okAndFail returns n specs of type "ok" (which succeeds at once on
// retainCluster's worker) but for every every-th one, from the first, of
// type "fail" (which fails for good).
func okAndFail(n, every int) []jobs.Spec {
	specs := make([]jobs.Spec, n)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "ok"}
		if i%every == 0 {
			specs[i] = jobs.Spec{Type: "fail"}
		}
	}
	return specs
}

func runAll(t *testing.T, mc rpcapi.MasterClient, specs []jobs.Spec) []string {
	t.Helper()
	r, err := mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: specs})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		w, err := mc.Wait(context.Background(), &rpcapi.WaitArgs{IDs: r.IDs, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if w.Done {
			return r.IDs
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not final: %v", w.Counts)
		}
	}
}

// eventually polls cond under the master's lock until it holds or 10 s
// pass.
func eventually(t *testing.T, m *Master, what string, cond func() bool) {
	t.Helper()
	testproc.Poll(t, 10*time.Second, what, func() bool {
		m.core.mu.Lock()
		defer m.core.mu.Unlock()
		return cond()
	})
}

// TestRetainReleasesEverything: a thousand finished jobs with distinct
// limit keys (each with a rate), groups and unique keys leave memory after
// Retain, with their lanes, buckets, groups and keys; jobs whose
// unique_for still holds stay, and still answer a submit with their key.
// The counts of jobs by state keep the jobs that left.
func TestRetainReleasesEverything(t *testing.T) {
	m, mc := retainCluster(t, Config{Retain: time.Second, RetainJobs: 100000,
		DefaultLimit: Limit{Concurrency: 2, Rate: Rate{N: 50, Per: time.Second}}})
	var specs []jobs.Spec
	for i := range 1000 {
		s := jobs.Spec{Type: "ok", LimitKey: fmt.Sprintf("site-%d.example", i)}
		switch {
		case i%10 == 0:
			s.Group = fmt.Sprintf("g%d", i%4)
		case i%7 == 0:
			s.UniqueKey = fmt.Sprintf("u%d", i)
		}
		specs = append(specs, s)
	}
	held := jobs.Spec{Type: "ok", UniqueKey: "held", UniqueFor: time.Hour}
	specs = append(specs, held)
	ids := runAll(t, mc, specs)

	eventually(t, m, "every job but the one unique_for holds leaves memory", func() bool {
		return m.core.byseq.len() == 1 && m.core.ret.finishedMem == 1
	})
	eventually(t, m, "lanes, buckets, groups and keys released", func() bool {
		return len(m.core.lim.lanes) <= 64 && len(m.core.lim.keyBuckets) == 0 && len(m.core.groups) == 0 &&
			len(m.core.keys.unique) == 1 && len(m.core.lim.runningKey) == 0 && len(m.core.hooks.recs) == 0
	})
	m.core.mu.Lock()
	if n := m.core.counts.of(jobs.Succeeded); n != len(ids) {
		t.Errorf("succeeded count %d, want %d (jobs that left memory still count); counts %v", n, len(ids), m.core.counts)
	}
	m.core.mu.Unlock()
	r, err := mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{held}})
	if err != nil {
		t.Fatal(err)
	}
	if r.IDs[0] != ids[len(ids)-1] {
		t.Errorf("unique_for broken after retention: submit gave %s, want %s", r.IDs[0], ids[len(ids)-1])
	}
}

// TestRetainJobsCap: with Retain long, RetainJobs bounds the finished jobs
// in memory, the oldest-finished leaving first.
func TestRetainJobsCap(t *testing.T) {
	m, mc := retainCluster(t, Config{Retain: time.Hour, RetainJobs: 100})
	specs := specsOf(1000, jobs.Spec{Type: "ok"})
	ids := runAll(t, mc, specs)
	eventually(t, m, "at most 100 finished jobs in memory", func() bool {
		return m.core.ret.finishedMem <= 100 && m.core.byseq.len() <= 100
	})
	m.core.mu.Lock()
	defer m.core.mu.Unlock()
	if m.core.job(ids[len(ids)-1]) == nil {
		t.Errorf("the newest job left memory before older ones")
	}
	if m.core.job(ids[0]) != nil {
		t.Errorf("the oldest job is still in memory")
	}
}

// TestHistory: jobs that left memory are read from the store (a job's
// page, Wait); the store keeps at most HistoryJobs finished jobs; Purge
// deletes by filter from memory and store; a retry of a job that left
// memory brings it back and runs it.
func TestHistory(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testHistory(t, Config{StoreImpl: jobs.NewMemStore()}) })
	t.Run("bolt", func(t *testing.T) { testHistory(t, Config{DataDir: t.TempDir()}) })
}

// storeLen counts the records in m's store.
type storeLen struct{ m *Master }

func (s storeLen) Len() int {
	n := 0
	s.m.core.store.(jobs.HistoryStore).Ascend(0, func(uint64, []byte) bool { n++; return true })
	return n
}

func testHistory(t *testing.T, cfg Config) {
	cfg.Retain, cfg.RetainJobs, cfg.HistoryJobs = time.Second, 100, 300
	m, mc := retainCluster(t, cfg)
	st := storeLen{m}
	ids := runAll(t, mc, okAndFail(600, 6))
	eventually(t, m, "jobs leave memory", func() bool { return m.core.byseq.len() == 0 })

	ctx := context.Background()
	info, err := mc.GetJob(ctx, ids[1])
	if err != nil || info.Job.State != jobs.Succeeded || len(info.Job.Attempts) != 1 || info.Job.Attempts[0].Output != "x" {
		t.Fatalf("job %s from history: %+v, %v", ids[1], info, err)
	}
	if w, err := mc.Wait(ctx, &rpcapi.WaitArgs{IDs: ids[:12], Timeout: time.Second}); err != nil || !w.Done || len(w.Failed) != 2 {
		t.Fatalf("wait on jobs in history: %+v, %v", w, err)
	}

	all, err := mc.ListAllJobs(ctx, rpcapi.ListJobsArgs{Limit: 70})
	if err != nil || len(all) != len(ids) || all[0].ID != ids[len(ids)-1] || all[len(all)-1].ID != ids[0] {
		t.Fatalf("listing jobs from history: %d jobs (%v), want %d newest first", len(all), err, len(ids))
	}
	failed, err := mc.ListAllJobs(ctx, rpcapi.ListJobsArgs{State: jobs.Failed, Order: rpcapi.OrderAsc})
	if err != nil || len(failed) != 100 || failed[0].ID != ids[0] {
		t.Fatalf("failed jobs from history: %d (%v), want 100 oldest first", len(failed), err)
	}
	grp, err := mc.ListJobs(ctx, &rpcapi.ListJobsArgs{Group: "none"})
	if err != nil || len(grp.Jobs) != 0 || grp.NextCursor != "" {
		t.Fatalf("a group with no jobs: %+v, %v", grp, err)
	}

	n, err := m.core.sweepHistory(time.Now())
	if err != nil || n != 300 || st.Len() != 300 {
		t.Fatalf("history sweep deleted %d (%v); store holds %d, want 300", n, err, st.Len())
	}
	if _, err := mc.GetJob(ctx, ids[0]); !errors.Is(err, rpcapi.ErrNotFound) {
		t.Fatalf("job %s past history: %v, want not found", ids[0], err)
	}
	m.core.mu.Lock()
	total := m.core.counts.of(jobs.Succeeded) + m.core.counts.of(jobs.Failed)
	m.core.mu.Unlock()
	if total != 300 {
		t.Fatalf("counts after the sweep: %d finished, want 300", total)
	}

	// The last 300 jobs hold 50 failed ones; retry one that left memory.
	last := ids[len(ids)-6]
	if err := m.Retry(ctx, last); err != nil {
		t.Fatal(err)
	}
	if w, err := mc.Wait(ctx, &rpcapi.WaitArgs{IDs: []string{last}, Timeout: 5 * time.Second}); err != nil || !w.Done {
		t.Fatalf("retried job: %+v, %v", w, err)
	}
	info, err = mc.GetJob(ctx, last)
	if err != nil || len(info.Job.Attempts) != 2 {
		t.Fatalf("retried job %s: %+v, %v", last, info, err)
	}

	// A filtered listing goes by the disk (docs/protocol.md): let the
	// retried job's outcome reach it.
	if err := m.core.commit.settled().wait(); err != nil {
		t.Fatal(err)
	}
	// The 300 kept are the last to finish: about the last 300 submitted,
	// which hold about 50 failed ones (the worker's slots finish them out
	// of order at the edge).
	kept, err := mc.ListAllJobs(ctx, rpcapi.ListJobsArgs{State: jobs.Failed})
	if err != nil || len(kept) < 45 || len(kept) > 55 {
		t.Fatalf("failed jobs kept: %d, %v; want about 50", len(kept), err)
	}
	n, err = m.Purge(ctx, PurgeFilter{State: jobs.Failed})
	if err != nil || n != len(kept) {
		t.Fatalf("purge failed: %d, %v; want %d", n, err, len(kept))
	}
	if st.Len() != 300-n {
		t.Fatalf("store holds %d after purge, want %d", st.Len(), 300-n)
	}
	if _, err := m.Purge(ctx, PurgeFilter{State: jobs.Running}); !errors.Is(err, rpcapi.ErrBadRequest) {
		t.Fatalf("purge of running jobs: %v, want bad request", err)
	}
	// An empty filter is refused, as purge_jobs refuses one; All says
	// every finished job, alone.
	for _, f := range []PurgeFilter{{}, {All: true, Type: "t"}} {
		if n, err := m.Purge(ctx, f); !errors.Is(err, rpcapi.ErrBadRequest) || n != 0 || st.Len() != 300-len(kept) {
			t.Fatalf("purge %+v: %d, %v, store holds %d; want bad request, nothing deleted", f, n, err, st.Len())
		}
	}
	n, err = m.Purge(ctx, PurgeFilter{Before: time.Now()})
	if err != nil || n != 300-len(kept) || st.Len() != 0 {
		t.Fatalf("purge of everything finished: %d, %v; store holds %d", n, err, st.Len())
	}
	if cfg.DataDir == "" {
		return
	}
	// A restart on the emptied store: nothing comes back, and job IDs go
	// on above every ID ever handed out.
	m.Close()
	m2 := startT(t, Config{DataDir: cfg.DataDir, Listen: "127.0.0.1:0", Logger: m.log})
	var r rpcapi.SubmitReply
	if err := m2.wire.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "ok"}}}, &r); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(len(ids) + 1); r.IDs[0] != want {
		t.Fatalf("first job after a restart on an emptied store: ID %s, want %s", r.IDs[0], want)
	}
	var ls rpcapi.ListJobsReply
	if err := m2.wire.ListJobs(ctx, &rpcapi.ListJobsArgs{}, &ls); err != nil || len(ls.Jobs) != 1 {
		t.Fatalf("jobs after the restart: %d, %v; want the 1 new", len(ls.Jobs), err)
	}
}

// TestMetricTypesBounded: per-type series stop at MetricTypes (the rest
// share type="other") and leave once their types have been idle for
// Retain; /metrics carries the Go runtime and process metrics.
func TestMetricTypesBounded(t *testing.T) {
	m, mc := retainCluster(t, Config{Retain: time.Second, MetricTypes: 5})
	specs := make([]jobs.Spec, 40)
	for i := range specs {
		specs[i] = jobs.Spec{Type: fmt.Sprintf("t%d", i)}
	}
	handlers := map[string]worker.HandlerFunc{}
	for i := range specs {
		handlers[specs[i].Type] = func(ctx context.Context, j *jobs.Job) (jobs.Result, error) { return jobs.Result{}, nil }
	}
	startTestWorker(t, worker.Config{Master: m.Addr(), Name: "many", Slots: 4, Logger: m.log}, handlers)
	runAll(t, mc, specs)
	typesIn := func() map[string]bool {
		fams, err := m.core.metrics.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, f := range fams {
			if f.GetName() == "drover_job_run_seconds" {
				for _, mt := range f.GetMetric() {
					for _, l := range mt.GetLabel() {
						if l.GetName() == "type" {
							seen[l.GetValue()] = true
						}
					}
				}
			}
		}
		return seen
	}
	seen := typesIn()
	if len(seen) != 6 || !seen[otherType] {
		t.Fatalf("run-time series for types %v: want 5 types and %q", seen, otherType)
	}
	// Gather takes the master's lock: not under eventually.
	testproc.PollErr(t, 10*time.Second, "the per-type series released", func() error {
		if seen := typesIn(); len(seen) > 0 {
			return fmt.Errorf("series of %v", seen)
		}
		return nil
	})
	fams, err := m.core.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range fams {
		have[f.GetName()] = true
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_open_fds", "process_resident_memory_bytes"} {
		if !have[name] {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// TestHistoryEarlySweep: finished jobs more than history_jobs by 10,000
// leave the disk within seconds, not at the next minute's sweep.
func TestHistoryEarlySweep(t *testing.T) {
	m, mc := retainCluster(t, Config{DataDir: t.TempDir(), Retain: time.Hour, RetainJobs: 100, HistoryJobs: 100})
	st := storeLen{m}
	specs := specsOf(10200, jobs.Spec{Type: "ok"})
	start := time.Now()
	if _, err := mc.Submit(t.Context(), &rpcapi.SubmitArgs{Specs: specs}); err != nil {
		t.Fatal(err)
	}
	// Counted, not waited for by ID: the sweep may delete a finished job
	// before a wait_jobs call sees it, which then answers "not found".
	succeeded := m.core.metrics.finished.WithLabelValues(string(jobs.Succeeded))
	testproc.PollErr(t, 30*time.Second, "every job succeeded", func() error {
		var pm dto.Metric
		if err := succeeded.Write(&pm); err != nil {
			return err
		}
		if n := pm.GetCounter().GetValue(); n < float64(len(specs)) {
			return fmt.Errorf("%v of %d jobs succeeded", n, len(specs))
		}
		return nil
	})
	// The sweep leaves history_jobs, give or take the jobs that finished
	// while it ran.
	testproc.PollErr(t, 20*time.Second, "the store down to about history_jobs 100", func() error {
		if n := st.Len(); n > 200 {
			return fmt.Errorf("%s after the jobs finished, the store holds %d jobs", time.Since(start), n)
		}
		return nil
	})
	if waited := time.Since(start); waited >= historyEvery {
		t.Fatalf("the sweep came after %s, not before the minute's", waited)
	}
}

// TestPurgeHistory: purge by type, group, state and age reaches jobs that
// left memory (read from the store by their records' heads).
func TestPurgeHistory(t *testing.T) {
	for _, cfg := range []Config{{StoreImpl: jobs.NewMemStore()}, {DataDir: t.TempDir()}} {
		cfg.Retain, cfg.RetainJobs = time.Hour, 100
		m, mc := retainCluster(t, cfg)
		st := storeLen{m}
		specs := make([]jobs.Spec, 400)
		for i := range specs {
			specs[i] = jobs.Spec{Type: "ok"}
			switch i % 4 {
			case 1:
				specs[i] = jobs.Spec{Type: "fail"}
			case 2:
				specs[i] = jobs.Spec{Type: "ok", Group: "g"}
			}
		}
		runAll(t, mc, specs)
		eventually(t, m, "jobs leave memory, group g's on_done done", func() bool {
			r := m.core.onDoneStatus("g")
			return m.core.ret.finishedMem <= 100 && (r == nil || r.State == onDoneDone)
		})
		ctx := context.Background()
		if n, err := m.Purge(ctx, PurgeFilter{Type: "fail", Before: time.Now().Add(-time.Hour)}); err != nil || n != 0 {
			t.Fatalf("purge of failed jobs older than an hour: %d, %v; want 0", n, err)
		}
		if n, err := m.Purge(ctx, PurgeFilter{Type: "fail", State: jobs.Succeeded}); err != nil || n != 0 {
			t.Fatalf("purge of succeeded jobs of type fail: %d, %v; want 0", n, err)
		}
		if n, err := m.Purge(ctx, PurgeFilter{Type: "fail", Before: time.Now()}); err != nil || n != 100 {
			t.Fatalf("purge of type fail: %d, %v; want 100", n, err)
		}
		if n, err := m.Purge(ctx, PurgeFilter{Group: "g"}); err != nil || n != 100 {
			t.Fatalf("purge of group g: %d, %v; want 100", n, err)
		}
		if got := st.Len(); got != 200 {
			t.Fatalf("the store holds %d jobs after the purges, want 200", got)
		}
	}
}

// TestLiveFilterFromMemory: every live job is in memory, so a listing
// filtered on a live state reads no history: three pending jobs behind a
// thousand that left memory come in one page, with no cursor, even when
// the call may examine only ten jobs.
func TestLiveFilterFromMemory(t *testing.T) {
	m, mc := retainCluster(t, Config{DataDir: t.TempDir(), Retain: time.Second, RetainJobs: 100})
	specs := specsOf(1000, jobs.Spec{Type: "ok"})
	runAll(t, mc, specs)
	pend, err := mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: specsOf(3, jobs.Spec{Type: "nobody-runs-this"})})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, m, "the finished jobs leave memory", func() bool { return m.core.byseq.len() == 3 })
	var got []string
	next, err := m.core.pageJobs(&jobQuery{State: jobs.Pending, Limit: 100, Examine: 10}, func(j *jobs.Job) { got = append(got, j.ID) })
	if err != nil || next != "" || len(got) != 3 || got[0] != pend.IDs[2] {
		t.Fatalf("pending jobs, examining at most 10: %v, next %q, %v; want %v newest first and no cursor", got, next, err, pend.IDs)
	}
}

// TestHistoryKeepsWhatFinishedLast: beyond history_jobs, the jobs that
// finished first leave the store first (README, the retention table),
// and a job retried after it left memory counts from its last finish:
// retried and failed again after 150 others finished, it outlives them.
func TestHistoryKeepsWhatFinishedLast(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Retain: time.Second, RetainJobs: 100, HistoryJobs: 100}
	m, mc := retainCluster(t, cfg)
	ctx := context.Background()
	a := runAll(t, mc, []jobs.Spec{{Type: "fail"}})[0]
	first := runAll(t, mc, okAndFail(150, 1000)[1:]) // 149 that succeed
	eventually(t, m, "jobs leave memory", func() bool { return m.core.byseq.len() == 0 })
	if err := m.Retry(ctx, a); err != nil {
		t.Fatal(err)
	}
	if w, err := mc.Wait(ctx, &rpcapi.WaitArgs{IDs: []string{a}, Timeout: 10 * time.Second}); err != nil || !w.Done {
		t.Fatalf("the retried job: %+v, %v", w, err)
	}
	later := runAll(t, mc, okAndFail(21, 1000)[1:]) // 20 more
	eventually(t, m, "jobs leave memory again", func() bool { return m.core.byseq.len() == 0 })
	n, err := m.core.sweepHistory(time.Now())
	if err != nil || n != 70 { // 1 + 149 + 20 finished, 100 kept
		t.Fatalf("history sweep: %d deleted, %v; want 70", n, err)
	}
	if info, err := mc.GetJob(ctx, a); err != nil || len(info.Job.Attempts) != 2 {
		t.Fatalf("job %s, retried and finished after 169 others of which 70 left: %+v, %v; want it kept, with 2 attempts", a, info, err)
	}
	for _, id := range later {
		if _, err := mc.GetJob(ctx, id); err != nil {
			t.Fatalf("job %s, among the last to finish: %v", id, err)
		}
	}
	gone := 0
	for _, id := range first {
		if _, err := mc.GetJob(ctx, id); errors.Is(err, rpcapi.ErrNotFound) {
			gone++
		}
	}
	if gone != 70 {
		t.Fatalf("%d of the 149 that finished first left the store; want 70", gone)
	}
}
