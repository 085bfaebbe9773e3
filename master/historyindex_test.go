package master

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestHistoryFiltersIndexed: a listing filtered by state, type, state and
// type, group or worker reads only the matching jobs of history (the
// store's index), not every job: five failed jobs among a thousand that
// left memory come in one page with no cursor, even when the call may
// examine only ten jobs; so do a group's four, and none for a worker that
// ran nothing. Without the index each of those would stop after ten jobs
// with a cursor.
func TestHistoryFiltersIndexed(t *testing.T) {
	m, mc := retainCluster(t, Config{DataDir: t.TempDir(), Retain: time.Second, RetainJobs: 100})
	var specs []jobs.Spec
	for i := range 1000 {
		s := jobs.Spec{Type: "ok"}
		if i%200 == 7 {
			s = jobs.Spec{Type: "fail"}
		}
		if i%250 == 3 {
			s.Group = "gx"
		}
		specs = append(specs, s)
	}
	ids := runAll(t, mc, specs)
	eventually(t, m, "the finished jobs leave memory", func() bool { return m.core.byseq.len() == 0 })
	var failed, grouped []string
	for i, s := range specs {
		if s.Type == "fail" {
			failed = append(failed, ids[i])
		}
		if s.Group == "gx" {
			grouped = append(grouped, ids[i])
		}
	}
	slices.Reverse(failed)
	slices.Reverse(grouped)
	info, err := mc.GetJob(t.Context(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	wid := info.Job.Attempts[0].Worker
	for _, c := range []struct {
		name string
		q    jobQuery
		want []string
	}{
		{"state failed", jobQuery{State: jobs.Failed}, failed},
		{"type fail", jobQuery{Type: "fail"}, failed},
		{"failed of type fail", jobQuery{State: jobs.Failed, Type: "fail"}, failed},
		{"succeeded of type fail", jobQuery{State: jobs.Succeeded, Type: "fail"}, nil},
		{"group gx", jobQuery{Group: "gx"}, grouped},
		{"worker nobody", jobQuery{Worker: "nobody"}, nil},
		{"failed on the worker", jobQuery{State: jobs.Failed, Worker: wid}, nil}, // worker first: bounded by Examine
	} {
		c.q.Limit, c.q.Examine = 100, 10
		var got []string
		next, err := m.core.pageJobs(&c.q, func(j *jobs.Job) { got = append(got, j.ID) })
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.name == "failed on the worker" { // a thousand to look at: a cursor after ten
			if next == "" || len(got) > 10 {
				t.Fatalf("%s: %d jobs, cursor %q: want at most 10 and a cursor", c.name, len(got), next)
			}
			continue
		}
		if next != "" || !slices.Equal(got, c.want) {
			t.Fatalf("%s, examining at most 10: %v, next %q; want %v and no cursor", c.name, got, next, c.want)
		}
	}
	// Oldest first, and from a cursor.
	q := jobQuery{State: jobs.Failed, Asc: true, Limit: 2, Examine: 10}
	var got []string
	for pages := 0; pages < 10; pages++ {
		next, err := m.core.pageJobs(&q, func(j *jobs.Job) { got = append(got, j.ID) })
		if err != nil {
			t.Fatal(err)
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	want := slices.Clone(failed)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("failed jobs oldest first, two a page: %v, want %v", got, want)
	}
}

// TestCancelHistory: cancelling a job that has left memory says it is
// final already, as for a job in memory; an ID no job ever had is no
// such job.
func TestCancelHistory(t *testing.T) {
	m, mc := retainCluster(t, Config{DataDir: t.TempDir(), Retain: time.Second, RetainJobs: 100})
	ids := runAll(t, mc, okAndFail(150, 7)) // the first fails, the last succeeds
	eventually(t, m, "the finished jobs leave memory", func() bool { return m.core.byseq.len() == 0 })
	r, err := mc.Cancel(t.Context(), &rpcapi.CancelArgs{IDs: []string{ids[0], "999999", ids[len(ids)-1]}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ids[0] + ": already failed", "999999: no such job", ids[len(ids)-1] + ": already succeeded"}
	if len(r.Cancelled) != 0 || !slices.Equal(r.Errors, want) {
		t.Fatalf("cancel of jobs in history: cancelled %v, errors %q; want none and %q", r.Cancelled, r.Errors, want)
	}
}

// TestGroupCursorOfAnotherGroup: a cursor of one group's job listing, or
// of the listing of all jobs, is refused by another group's listing
// (docs/api.md, docs/protocol.md), both while the groups are in memory
// and once they are read from the store; the group's own cursor goes on.
func TestGroupCursorOfAnotherGroup(t *testing.T) {
	m, mc := retainCluster(t, Config{DataDir: t.TempDir(), Retain: time.Second, RetainJobs: 100})
	var specs []jobs.Spec
	for i := range 20 {
		specs = append(specs, jobs.Spec{Type: "ok", Group: []string{"g1", "g2"}[i%2]})
	}
	page := func(q jobQuery) ([]string, string, error) {
		q.Limit = 3
		var ids []string
		next, err := m.core.pageJobs(&q, func(j *jobs.Job) { ids = append(ids, j.ID) })
		return ids, next, err
	}
	try := func(where string) {
		t.Helper()
		_, c1, err := page(jobQuery{Group: "g1"})
		if err != nil || c1 == "" {
			t.Fatalf("%s: g1's first page: cursor %q, %v", where, c1, err)
		}
		_, all, err := page(jobQuery{})
		if err != nil || all == "" {
			t.Fatalf("%s: the first page of all jobs: cursor %q, %v", where, all, err)
		}
		for _, c := range []string{c1, all} {
			if _, _, err := page(jobQuery{Group: "g2", Cursor: c}); !errors.Is(err, rpcapi.ErrBadRequest) {
				t.Fatalf("%s: g2's listing with cursor %q: %v, want a bad request", where, c, err)
			}
		}
		ids, _, err := page(jobQuery{Group: "g1", Cursor: c1})
		if err != nil || len(ids) != 3 {
			t.Fatalf("%s: g1's second page: %v, %v", where, ids, err)
		}
	}
	runAll(t, mc, specs)
	try("in memory")
	eventually(t, m, "the groups leave memory", func() bool { return m.core.byseq.len() == 0 })
	try("from the store")
}
