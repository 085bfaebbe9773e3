package master

import (
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
)

// TestBulkOverStore: the bulk actions reach the jobs that left memory
// (read a page at a time from the store): a retry by filter brings them
// back to run, and a purge by a filter that only a decoded record can
// match (error text) deletes them from the store.
func TestBulkOverStore(t *testing.T) {
	m, mc := retainCluster(t, Config{DataDir: t.TempDir(), Retain: time.Hour, RetainJobs: 100})
	specs := specsOf(1500, jobs.Spec{Type: "fail"})
	ids := runAll(t, mc, specs)
	eventually(t, m, "at most 100 finished jobs in memory", func() bool {
		return m.core.ret.finishedMem <= 100 && m.core.byseq.len() <= 100
	})
	ctx := t.Context()
	q := jobQuery{State: jobs.Failed, Error: "no"}
	if n, err := m.ops.retryJobs(ctx, q, true); err != nil || n != 1500 {
		t.Fatalf("retry dry run: %d, %v; want 1500", n, err)
	}
	if n, err := m.ops.retryJobs(ctx, q, false); err != nil || n != 1500 {
		t.Fatalf("retry: %d, %v; want 1500", n, err)
	}
	// Each fails again, at its second attempt.
	testproc.Poll(t, 30*time.Second, "the 1500 jobs failed again", func() bool {
		n, err := m.ops.retryJobs(ctx, jobQuery{State: jobs.Failed}, true)
		m.core.mu.Lock()
		live := m.core.counts.of(jobs.Pending) + m.core.counts.of(jobs.Running)
		m.core.mu.Unlock()
		return err == nil && n == 1500 && live == 0
	})
	for _, id := range []string{ids[0], ids[len(ids)-1]} {
		if info, err := mc.GetJob(ctx, id); err != nil || len(info.Job.Attempts) != 2 {
			t.Fatalf("job %s after the retry: %+v, %v; want 2 attempts", id, info, err)
		}
	}
	st := storeLen{m}
	if n, err := m.ops.purgeJobs(ctx, jobQuery{Error: "nothing like it"}, false); err != nil || n != 0 {
		t.Fatalf("purge of no match: %d, %v", n, err)
	}
	if n, err := m.ops.purgeJobs(ctx, jobQuery{Error: "no"}, true); err != nil || n != 1500 {
		t.Fatalf("purge dry run: %d, %v; want 1500", n, err)
	}
	if n, err := m.ops.purgeJobs(ctx, jobQuery{Error: "no"}, false); err != nil || n != 1500 {
		t.Fatalf("purge: %d, %v; want 1500", n, err)
	}
	if n := st.Len(); n != 0 {
		t.Fatalf("the store holds %d jobs after the purge", n)
	}
}
