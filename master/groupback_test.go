package master

import (
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
