package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// bulkDo posts body to a bulk endpoint and decodes its 200 reply.
func bulkDo(t *testing.T, m *master.Master, token, path, body string) (count, skipped int) {
	t.Helper()
	status, _, got := httpDo(t, m, token, "POST", path, body)
	var r struct {
		Count   int  `json:"count"`
		DryRun  bool `json:"dry_run"`
		Skipped int  `json:"skipped"`
	}
	if err := json.Unmarshal([]byte(got), &r); status != 200 || err != nil {
		t.Fatalf("POST %s %s: %d %s", path, body, status, got)
	}
	if r.DryRun != strings.Contains(body, `"dry_run": true`) {
		t.Fatalf("POST %s %s: dry_run %v in %s", path, body, r.DryRun, got)
	}
	return r.Count, r.Skipped
}

// listCount counts the jobs GET /api/v1/jobs lists with query.
func listCount(t *testing.T, m *master.Master, query string) int {
	t.Helper()
	n := 0
	for cursor := ""; ; {
		q := query + "&limit=1000"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		status, _, body := httpDo(t, m, "", "GET", "/api/v1/jobs?"+q, "")
		var p apiPage
		if err := json.Unmarshal([]byte(body), &p); status != 200 || err != nil {
			t.Fatalf("GET /api/v1/jobs?%s: %d %s", q, status, body)
		}
		n += len(p.Jobs)
		if cursor = p.NextCursor; cursor == "" {
			return n
		}
	}
}

// TestBulkRetryByFilter: POST /api/v1/jobs/retry with a filter counts
// (dry_run) and then retries exactly the failed jobs the same filter
// lists in GET /api/v1/jobs, error text included; bad bodies are 400s
// that change nothing.
func TestBulkRetryByFilter(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	fail := func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		if j.Attempt == 1 || j.Spec.Type == "other" {
			return jobs.Result{}, worker.Permanent(fmt.Errorf("%s trouble", j.Spec.Args["kind"]))
		}
		return jobs.Result{Output: "ok"}, nil
	}
	startWorker(t, m.Addr(), "a", 8, map[string]worker.HandlerFunc{"crawl": fail, "other": fail})
	mc := client(t, m.Addr())
	var specs []jobs.Spec
	for i := range 60 {
		switch {
		case i < 30:
			specs = append(specs, jobs.Spec{Type: "crawl", Args: map[string]string{"kind": "Disk"}})
		case i < 50:
			specs = append(specs, jobs.Spec{Type: "crawl", Args: map[string]string{"kind": "net"}})
		default:
			specs = append(specs, jobs.Spec{Type: "other", Args: map[string]string{"kind": "disk"}})
		}
	}
	ids := submit(t, mc, specs...)
	waitAll(t, mc, ids, 30*time.Second)
	if c := m.Counts(); c[jobs.Failed] != 60 {
		t.Fatalf("counts %v; want 60 failed", c)
	}

	filter := `"state": "failed", "type": "crawl", "error": "DISK"`
	if n := listCount(t, m, "state=failed&type=crawl&error=DISK"); n != 30 {
		t.Fatalf("the listing's error filter: %d jobs, want 30", n)
	}
	if n, _ := bulkDo(t, m, "", "/api/v1/jobs/retry", `{`+filter+`, "dry_run": true}`); n != 30 {
		t.Fatalf("dry run: count %d, want 30", n)
	}
	if c := m.Counts(); c[jobs.Failed] != 60 {
		t.Fatalf("a dry run changed the counts: %v", c)
	}
	for _, body := range []string{``, `{}`, `{"all": true, "type": "crawl"}`, `{"state": "running"}`, `{"state": "lost"}`,
		`{"type": "crawl", "older_than": "-1h"}`, `{"type": "crawl", "older_than": "soon"}`, `{"type": "crawl", "bogus": 1}`,
		`{"type": "crawl"} {}`} {
		status, _, got := httpDo(t, m, "", "POST", "/api/v1/jobs/retry", body)
		if status != 400 || !strings.Contains(got, "bad_request") {
			t.Errorf("retry %q: %d %s; want 400", body, status, got)
		}
	}
	if n, _ := bulkDo(t, m, "", "/api/v1/jobs/retry", `{"state": "failed", "older_than": "1h"}`); n != 0 {
		t.Fatalf("retry of jobs older than an hour: %d", n)
	}
	if c := m.Counts(); c[jobs.Failed] != 60 {
		t.Fatalf("refused or empty retries changed the counts: %v", c)
	}

	if n, _ := bulkDo(t, m, "", "/api/v1/jobs/retry", `{`+filter+`}`); n != 30 {
		t.Fatalf("retry: count %d, want 30", n)
	}
	testproc.Poll(t, 30*time.Second, "the 30 retried jobs to succeed", func() bool { return m.Counts()[jobs.Succeeded] == 30 })
	for i, id := range ids {
		j := getJob(t, mc, id).Job
		want := jobs.Failed
		if i < 30 {
			want = jobs.Succeeded
		}
		if j.State != want {
			t.Errorf("job %s (%s %v) is %s, want %s", id, j.Spec.Type, j.Spec.Args, j.State, want)
		}
	}
	// all: every failed or cancelled job.
	if n, _ := bulkDo(t, m, "", "/api/v1/jobs/retry", `{"all": true, "dry_run": true}`); n != 30 {
		t.Fatalf("all, dry run: count %d, want 30", n)
	}
}

// TestBulkCancelAndPurge: cancel by filter ends the live jobs it selects
// and no other; purge by filter deletes the finished ones it selects.
func TestBulkCancelAndPurge(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	mc := client(t, m.Addr())
	var specs []jobs.Spec
	for i := range 150 {
		specs = append(specs, jobs.Spec{Type: "nobody", Group: fmt.Sprintf("g%d", i%3)})
	}
	ids := submit(t, mc, specs...)
	if n, _ := bulkDo(t, m, "", "/api/v1/jobs/cancel", `{"group": "g1", "dry_run": true}`); n != 50 {
		t.Fatalf("cancel dry run: %d, want 50", n)
	}
	for _, body := range []string{`{}`, `{"state": "failed"}`, `{"worker": "w", "all": true}`} {
		if status, _, got := httpDo(t, m, "", "POST", "/api/v1/jobs/cancel", body); status != 400 {
			t.Errorf("cancel %s: %d %s; want 400", body, status, got)
		}
	}
	if n, _ := bulkDo(t, m, "", "/api/v1/jobs/cancel", `{"group": "g1"}`); n != 50 {
		t.Fatalf("cancel: %d, want 50", n)
	}
	for i, id := range ids {
		if st, want := getJob(t, mc, id).Job.State, map[bool]jobs.State{true: jobs.Cancelled, false: jobs.Pending}[i%3 == 1]; st != want {
			t.Fatalf("job %s of group g%d is %s, want %s", id, i%3, st, want)
		}
	}
	// Purge takes only finished jobs: the pending ones of g0 stay.
	if status, _, got := httpDo(t, m, "", "POST", "/api/v1/jobs/purge", `{"state": "pending"}`); status != 400 {
		t.Errorf("purge of pending jobs: %d %s; want 400", status, got)
	}
	if n, _ := bulkDo(t, m, "", "/api/v1/jobs/purge", `{"type": "nobody", "dry_run": true}`); n != 50 {
		t.Fatalf("purge dry run: %d, want 50", n)
	}
	if n, _ := bulkDo(t, m, "", "/api/v1/jobs/purge", `{"type": "nobody"}`); n != 50 {
		t.Fatalf("purge: %d, want 50", n)
	}
	for i, id := range ids {
		_, err := mc.GetJob(t.Context(), id)
		if gone := errors.Is(err, rpcapi.ErrNotFound); gone != (i%3 == 1) {
			t.Fatalf("job %s of group g%d: get_job %v after the purge", id, i%3, err)
		}
	}
}

// TestBulkCancelOwn: with client_cancel = "own", a client token's cancel
// by filter cancels its own jobs and skips (counts) the others'; one that
// selects only others' jobs is refused and cancels nothing.
func TestBulkCancelOwn(t *testing.T) {
	m := startAPIMaster(t, master.Config{Tokens: ownerCreds(), ClientCancel: master.ClientCancelOwn})
	c := dialOwners(t, m.Addr(), rpcapi.TransportGob)
	mine := submitAs(t, c.alice, jobs.Spec{Type: "nobody"}, jobs.Spec{Type: "nobody"})
	theirs := submitAs(t, c.bob, jobs.Spec{Type: "nobody"}, jobs.Spec{Type: "nobody"}, jobs.Spec{Type: "nobody"})
	if n, skipped := bulkDo(t, m, aliceToken, "/api/v1/jobs/cancel", `{"type": "nobody", "dry_run": true}`); n != 2 || skipped != 3 {
		t.Fatalf("dry run as alice: count %d skipped %d, want 2 and 3", n, skipped)
	}
	if n, skipped := bulkDo(t, m, aliceToken, "/api/v1/jobs/cancel", `{"type": "nobody"}`); n != 2 || skipped != 3 {
		t.Fatalf("cancel as alice: count %d skipped %d, want 2 and 3", n, skipped)
	}
	status, _, got := httpDo(t, m, aliceToken, "POST", "/api/v1/jobs/cancel", `{"type": "nobody"}`)
	if status != 403 || !strings.Contains(got, "only the jobs it submitted") {
		t.Fatalf("cancel of only bob's jobs as alice: %d %s; want 403", status, got)
	}
	for _, id := range mine {
		if st := jobState(t, c.root, id); st != jobs.Cancelled {
			t.Errorf("alice's job %s is %s", id, st)
		}
	}
	for _, id := range theirs {
		if st := jobState(t, c.root, id); st != jobs.Pending {
			t.Errorf("bob's job %s is %s", id, st)
		}
	}
	if n, skipped := bulkDo(t, m, rootToken, "/api/v1/jobs/cancel", `{"type": "nobody"}`); n != 3 || skipped != 0 {
		t.Fatalf("cancel as root: count %d skipped %d, want 3 and 0", n, skipped)
	}
}
