package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// apiGroup is the group view the tests of this package read back (the
// JSON API's groups), under a short name.
type apiGroup = rpcapi.GroupInfo

// groupReads is what a client reads of the groups, through the JSON API
// and list_jobs / wait_jobs: each group's page, the groups' listing (one
// group a page), each group's jobs and wait_jobs's reply.
type groupReads struct {
	Views map[string]map[string]any
	List  []string // "name:total" of each group listed, newest first
	Jobs  map[string][]string
	Waits map[string]rpcapi.WaitReply
}

func readGroups(t *testing.T, m *Master, mc rpcapi.MasterClient, names ...string) groupReads {
	t.Helper()
	ctx := context.Background()
	r := groupReads{Views: map[string]map[string]any{}, Jobs: map[string][]string{}, Waits: map[string]rpcapi.WaitReply{}}
	for _, g := range names {
		var v map[string]any
		if code := apiGetJSON(t, m, "groups/"+url.PathEscape(g), &v); code != http.StatusOK {
			t.Fatalf("GET groups/%s: %d", g, code)
		}
		r.Views[g] = v
		all, err := mc.ListAllJobs(ctx, rpcapi.ListJobsArgs{Group: g, Limit: 7})
		if err != nil {
			t.Fatalf("list_jobs group %s: %v", g, err)
		}
		for _, j := range all {
			if j.Spec.Group != g {
				t.Fatalf("list_jobs group %s gave job %s of group %q", g, j.ID, j.Spec.Group)
			}
			r.Jobs[g] = append(r.Jobs[g], j.ID+"="+string(j.State))
		}
		w, err := mc.Wait(ctx, &rpcapi.WaitArgs{Group: g, Timeout: time.Second})
		if err != nil {
			t.Fatalf("wait_jobs group %s: %v", g, err)
		}
		slices.Sort(w.Failed)
		r.Waits[g] = *w
	}
	for cursor := ""; ; {
		var p struct {
			Groups []apiGroup `json:"groups"`
			Next   string     `json:"next_cursor"`
		}
		if code := apiGetJSON(t, m, "groups?limit=1&cursor="+url.QueryEscape(cursor), &p); code != http.StatusOK {
			t.Fatalf("GET groups: %d", code)
		}
		for _, g := range p.Groups {
			r.List = append(r.List, fmt.Sprintf("%s:%d", g.Name, g.Total))
		}
		if cursor = p.Next; cursor == "" {
			return r
		}
	}
}

func apiGetJSON(t *testing.T, m *Master, path string, v any) int {
	t.Helper()
	resp, err := http.Get("http://" + m.Addr() + "/api/v1/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// TestGroupsAfterMemory: a group reads the same, by name, in listings and
// to wait_jobs, before and after its jobs leave memory (retain), after a
// restart, after it gets jobs again and after a retry of one of its jobs;
// history and purge take it away with its last job.
func TestGroupsAfterMemory(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testGroupsAfterMemory(t, Config{StoreImpl: jobs.NewMemStore()}) })
	t.Run("bolt", func(t *testing.T) { testGroupsAfterMemory(t, Config{DataDir: t.TempDir()}) })
}

func testGroupsAfterMemory(t *testing.T, cfg Config) {
	cfg.Retain, cfg.RetainJobs, cfg.HistoryJobs = time.Second, 100, 100
	m, mc := retainCluster(t, cfg)
	ctx := context.Background()
	specs := func(n int, group string) []jobs.Spec {
		s := make([]jobs.Spec, n)
		for i := range s {
			s[i] = jobs.Spec{Type: "ok", Group: group}
			if group == "a" && i%5 == 0 {
				s[i].Type = "fail"
			}
		}
		return s
	}
	// Group a lies in two spans, with others' jobs between them.
	runAll(t, mc, specs(15, "a"))
	runAll(t, mc, specs(30, ""))
	runAll(t, mc, specs(10, "b"))
	runAll(t, mc, specs(15, "a"))
	gone := func() {
		t.Helper()
		eventually(t, m, "the groups leave memory and their entries are written", func() bool {
			return len(m.core.groups) == 0 && len(m.core.left) == 0 && m.core.byseq.len() == 0
		})
	}
	settled := func(gs ...string) { // on_done ran: the group's page shows it done
		t.Helper()
		eventually(t, m, "on_done of "+fmt.Sprint(gs)+" done", func() bool {
			for _, g := range gs {
				if r := m.core.onDoneStatus(g); r == nil || r.State != onDoneDone {
					return false
				}
			}
			return true
		})
	}
	settled("a", "b")
	before := readGroups(t, m, mc, "a", "b")
	if v := before.Views["a"]; v["total"] != 30.0 || v["final"] != true || len(before.Waits["a"].Failed) != 6 {
		t.Fatalf("group a in memory: %v, wait %+v", v, before.Waits["a"])
	}
	if !slices.Equal(before.List, []string{"b:10", "a:30"}) {
		t.Fatalf("groups listed in memory: %v", before.List)
	}
	gone()
	after := readGroups(t, m, mc, "a", "b")
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("groups read differently once they left memory:\nbefore %+v\nafter  %+v", before, after)
	}
	if code := apiGetJSON(t, m, "groups/zz", new(any)); code != http.StatusNotFound {
		t.Fatalf("GET groups/zz: %d, want 404", code)
	}
	if _, err := mc.Wait(ctx, &rpcapi.WaitArgs{Group: "zz"}); !errors.Is(err, rpcapi.ErrNotFound) {
		t.Fatalf("wait_jobs group zz: %v, want not found", err)
	}
	if r, err := mc.Cancel(ctx, &rpcapi.CancelArgs{Group: "a"}); err != nil || len(r.Cancelled) != 0 {
		t.Fatalf("cancel of group a, all final and on disk: %+v, %v", r, err)
	}

	if cfg.DataDir != "" { // a restart leaves them on disk, reading the same
		m.Close()
		m, mc = retainCluster(t, cfg)
		m.core.mu.Lock()
		inMem := m.core.byseq.len()
		m.core.mu.Unlock()
		if inMem != 0 {
			t.Fatalf("after a restart %d jobs are in memory, want 0 (their groups had left it)", inMem)
		}
		if again := readGroups(t, m, mc, "a", "b"); !reflect.DeepEqual(before, again) {
			t.Fatalf("groups read differently after a restart:\nbefore %+v\nafter  %+v", before, again)
		}
	}

	// Group a gets jobs again: listed once, at its first job, its old jobs
	// and new ones together, in memory and after it leaves again.
	runAll(t, mc, specs(5, "a"))
	settled("a")
	now := readGroups(t, m, mc, "a")
	if now.Views["a"]["total"] != 35.0 || len(now.Jobs["a"]) != 35 || !slices.Equal(now.List, []string{"b:10", "a:35"}) {
		t.Fatalf("group a with 5 more jobs: total %v, %d jobs listed, groups %v", now.Views["a"]["total"], len(now.Jobs["a"]), now.List)
	}
	gone()
	if later := readGroups(t, m, mc, "a"); !reflect.DeepEqual(now, later) {
		t.Fatalf("group a read differently once it left memory again:\nbefore %+v\nafter  %+v", now, later)
	}

	// A retry of a failed job that left memory brings it back; the group
	// still counts it once.
	failed := now.Waits["a"].Failed[0]
	if err := m.Retry(ctx, failed); err != nil {
		t.Fatal(err)
	}
	if w, err := mc.Wait(ctx, &rpcapi.WaitArgs{IDs: []string{failed}, Timeout: 5 * time.Second}); err != nil || !w.Done {
		t.Fatalf("the retried job: %+v, %v", w, err)
	}
	if v := readGroups(t, m, mc, "a").Views["a"]; v["total"] != 35.0 {
		t.Fatalf("group a with a job retried: total %v, want 35", v["total"])
	}
	gone()
	if v := readGroups(t, m, mc, "a").Views["a"]; v["total"] != 35.0 {
		t.Fatalf("group a with a retried job, left memory again: total %v, want 35", v["total"])
	}

	// Purge takes group b, and its entry, away.
	if n, err := m.Purge(ctx, PurgeFilter{Group: "b"}); err != nil || n != 10 {
		t.Fatalf("purge of group b: %d, %v", n, err)
	}
	if code := apiGetJSON(t, m, "groups/b", new(any)); code != http.StatusNotFound {
		t.Fatalf("GET groups/b after its purge: %d, want 404", code)
	}
	ms := m.core.store.(jobs.MetaStore)
	if v, err := ms.GetMeta(metaLeft, "b"); v != nil || err != nil {
		t.Fatalf("group b's entry after its purge: %q, %v", v, err)
	}
	// History (history_jobs 100) deletes the oldest: group a's first 15.
	runAll(t, mc, specs(80, ""))
	eventually(t, m, "the ungrouped jobs leave memory", func() bool { return m.core.byseq.len() == 0 })
	if _, err := m.core.sweepHistory(time.Now()); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if code := apiGetJSON(t, m, "groups/a", &v); code != http.StatusOK || v["total"] != 20.0 {
		t.Fatalf("group a after history took its first 15 jobs: %d, total %v, want 20", code, v["total"])
	}
	if n, err := m.Purge(ctx, PurgeFilter{Group: "a"}); err != nil || n != 20 {
		t.Fatalf("purge of group a: %d, %v", n, err)
	}
	var list struct {
		Groups []apiGroup `json:"groups"`
	}
	if apiGetJSON(t, m, "groups", &list); len(list.Groups) != 0 {
		t.Fatalf("groups listed after both were purged: %+v", list.Groups)
	}
	var left []string
	ms.RangeMeta(metaLeftOrder, "", false, func(k string, _ []byte) bool { left = append(left, k); return true })
	if len(left) != 0 {
		t.Fatalf("entries left after both groups were purged: %v", left)
	}
}
