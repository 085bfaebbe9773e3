package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestGroupOnDoneOnceAfterMemory: jobs added to a group after it was
// final are counted but do not run its on_done again (README), also when
// the group had left memory in between, and after a restart: one webhook
// post and one follow-up job in all, and the group's on_done record keeps
// the first follow-up.
func TestGroupOnDoneOnceAfterMemory(t *testing.T) {
	var posts atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		posts.Add(1)
	}))
	t.Cleanup(hook.Close)
	cfg := Config{DataDir: t.TempDir(), Retain: time.Second, RetainJobs: 100,
		Notify: Notify{Webhooks: []Webhook{{URL: hook.URL}}}}
	m, mc := retainCluster(t, cfg)
	runAll(t, mc, []jobs.Spec{{Type: "ok", Group: "g", Then: &jobs.Spec{Type: "ok"}}})
	left := func(m *Master) {
		t.Helper()
		eventually(t, m, "group g leaves memory", func() bool { return len(m.core.groups["g"]) == 0 })
	}
	left(m)
	first, err := m.core.getGroup("g")
	if err != nil || first.OnDone == nil || first.OnDone.Then == "" || posts.Load() != 1 {
		t.Fatalf("group g after its on_done: %+v, %v; %d posts", first.OnDone, err, posts.Load())
	}
	check := func(m *Master, total int) {
		t.Helper()
		left(m) // a second on_done would hold the group in memory until done
		g, err := m.core.getGroup("g")
		switch {
		case err != nil:
			t.Fatal(err)
		case g.Total != total:
			t.Fatalf("group g has %d jobs, want %d", g.Total, total)
		case posts.Load() != 1:
			t.Fatalf("on_done ran again: %d webhook posts", posts.Load())
		case g.OnDone == nil || g.OnDone.Then != first.OnDone.Then || g.OnDone.Result != first.OnDone.Result:
			t.Fatalf("on_done record %+v, want the first one %+v", g.OnDone, first.OnDone)
		}
	}
	runAll(t, mc, []jobs.Spec{{Type: "ok", Group: "g"}})
	check(m, 2)
	// A job added while the group was out of memory, still pending when
	// the master stops: the restart loads it, and the group with it.
	r, err := mc.Submit(t.Context(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "ok", Group: "g", Delay: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	m2, mc2 := startOn(t, cfg)
	okWorker(t, m2.Addr())
	waitIDs(t, mc2, r.IDs)
	check(m2, 3)
	runAll(t, mc2, []jobs.Spec{{Type: "fail", Group: "g"}})
	check(m2, 4)
}

// waitIDs waits until every job of ids is final.
func waitIDs(t *testing.T, mc rpcapi.MasterClient, ids []string) {
	t.Helper()
	testproc.PollErr(t, 30*time.Second, "the jobs final", func() error {
		w, err := mc.Wait(t.Context(), &rpcapi.WaitArgs{IDs: ids, Timeout: time.Second})
		if err == nil && !w.Done {
			err = fmt.Errorf("not final: %v", w.Counts)
		}
		return err
	})
}

// TestGroupAgainAfterMemoryAndPurge: a group that left memory, then had
// all its jobs purged, is gone (docs/api.md); a job submitted later with
// its name starts a new group, whose on_done runs when it is final: its
// own follow-up job and its own webhook delivery.
func TestGroupAgainAfterMemoryAndPurge(t *testing.T) {
	deliveries := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		deliveries <- r.Header.Get("X-Drover-Delivery")
	}))
	t.Cleanup(hook.Close)
	cfg := Config{DataDir: t.TempDir(), Retain: time.Second, RetainJobs: 100,
		Notify: Notify{Webhooks: []Webhook{{URL: hook.URL}}}}
	m, mc := retainCluster(t, cfg)
	delivered := func() string {
		t.Helper()
		select {
		case d := <-deliveries:
			return d
		case <-time.After(20 * time.Second):
			t.Fatal("no group_done webhook")
			return ""
		}
	}
	spec := []jobs.Spec{{Type: "ok", Group: "g", Then: &jobs.Spec{Type: "ok"}}}
	runAll(t, mc, spec)
	d1 := delivered()
	eventually(t, m, "group g leaves memory", func() bool { return len(m.core.groups["g"]) == 0 })
	first, err := m.core.getGroup("g")
	if err != nil || first.OnDone == nil || first.OnDone.Then == "" {
		t.Fatalf("group g after its on_done: %+v, %v", first, err)
	}
	if p, err := mc.Purge(t.Context(), &rpcapi.PurgeArgs{Group: "g"}); err != nil || p.Purged != 1 {
		t.Fatalf("purge of group g: %+v, %v: want 1 purged", p, err)
	}
	if _, err := mc.GetGroup(t.Context(), "g"); !errors.Is(err, rpcapi.ErrNotFound) {
		t.Fatalf("group g after its purge: %v, want not found", err)
	}

	runAll(t, mc, spec)
	if d2 := delivered(); d2 == d1 {
		t.Fatalf("the new group's delivery ID is the old one's, %q", d1)
	}
	var second rpcapi.GroupInfo
	testproc.Poll(t, 20*time.Second, "the new group's on_done done", func() bool {
		second, err = m.core.getGroup("g")
		return err == nil && second.OnDone != nil && second.OnDone.State == onDoneDone
	})
	if second.OnDone.Then == "" || second.OnDone.Then == first.OnDone.Then || second.Total != 1 {
		t.Fatalf("the new group %+v, on_done %+v: want 1 job and a follow-up other than %s",
			second, second.OnDone, first.OnDone.Then)
	}
	waitIDs(t, mc, []string{second.OnDone.Then})
}

// TestPurgeKeepsALiveGroupOnDisk: TestPurgeKeepsALiveGroup for a group
// whose finished jobs have left memory: a job that joins it later keeps
// them from a purge until it is final.
func TestPurgeKeepsALiveGroupOnDisk(t *testing.T) {
	m, mc := retainCluster(t, Config{DataDir: t.TempDir(), Retain: time.Second, RetainJobs: 100})
	runAll(t, mc, []jobs.Spec{{Type: "ok", Group: "g"}, {Type: "ok", Group: "g"}})
	eventually(t, m, "group g leaves memory", func() bool { return len(m.core.groups["g"]) == 0 })
	r, err := mc.Submit(t.Context(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "nobody", Group: "g"}}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := mc.Purge(t.Context(), &rpcapi.PurgeArgs{Group: "g"}); err != nil || p.Purged != 0 {
		t.Fatalf("purge of group g with a pending job: %+v, %v; want 0 purged", p, err)
	}
	if g, err := m.core.getGroup("g"); err != nil || g.Total != 3 {
		t.Fatalf("group g after the purge: %+v, %v; want its 3 jobs", g, err)
	}
	if _, err := mc.Cancel(t.Context(), &rpcapi.CancelArgs{IDs: r.IDs}); err != nil {
		t.Fatal(err)
	}
	purgeGroupOnceFinal(t, mc, "g", 3)
}

// purgeGroupOnceFinal purges group g, which is final, until want jobs are
// purged: its on_done, which holds its jobs while it runs, may still run
// (if it had not before a late job came, it runs once that job is final).
func purgeGroupOnceFinal(t testing.TB, mc rpcapi.MasterClient, g string, want int) {
	t.Helper()
	purged := 0
	testproc.Poll(t, 20*time.Second, "group "+g+" purged once final", func() bool {
		p, err := mc.Purge(context.Background(), &rpcapi.PurgeArgs{Group: g})
		if err != nil {
			t.Fatal(err)
		}
		purged += p.Purged
		return purged >= want
	})
	if purged != want {
		t.Fatalf("purged %d jobs of group %s once final; want %d", purged, g, want)
	}
}
