package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// regroup is a master on a bolt store with a webhook, and what a test of
// a group submitted again after a purge needs.
type regroup struct {
	t      *testing.T
	dir    string
	hook   *hookServer
	cfg    master.Config
	m      *master.Master
	mc     rpcapi.MasterClient
	merges atomic.Int32
}

func (r *regroup) start(pages bool) {
	r.m = startAPIMaster(r.t, r.cfg)
	r.mc = client(r.t, r.m.Addr())
	h := map[string]worker.HandlerFunc{"merge": func(context.Context, *jobs.Job) (jobs.Result, error) {
		r.merges.Add(1)
		return jobs.Result{}, nil
	}}
	if pages {
		h["page"] = page
	}
	startWorker(r.t, r.m.Addr(), "w", 4, h)
}

// submit submits the group's 3 page jobs, the first with a then, and
// returns the follow-up ID the submit reserved.
func (r *regroup) submit() string {
	r.t.Helper()
	rep := submitReply(r.t, r.mc, pageSpecs("g", 3, &jobs.Spec{Type: "merge"})...)
	if len(rep.ThenIDs) != 1 || rep.ThenIDs[0].Group != "g" || rep.ThenIDs[0].ID == "" {
		r.t.Fatalf("then_ids %+v: want one for group g", rep.ThenIDs)
	}
	return rep.ThenIDs[0].ID
}

// done waits for the group's on_done and its webhook, and checks that it
// made the follow-up then, which ran; it returns the delivery's ID.
func (r *regroup) done(then string, merges int32) string {
	r.t.Helper()
	g := waitOnDone(r.t, r.m, "g")
	if g.OnDone.Then != then || len(g.OnDone.Errors) != 0 {
		r.t.Fatalf("on_done %+v: want the follow-up %s", g.OnDone, then)
	}
	var n struct {
		ID, Event, Then string
		Jobs            int
	}
	select {
	case b := <-r.hook.posts:
		if err := json.Unmarshal(b, &n); err != nil || n.Event != "group_done" || n.Then != then || n.Jobs != 3 {
			r.t.Fatalf("webhook %s (%v): want group_done with then %s and 3 jobs", b, err, then)
		}
	case <-time.After(20 * time.Second):
		r.t.Fatal("no group_done webhook")
	}
	waitAll(r.t, r.mc, []string{then}, 20*time.Second)
	if got := r.merges.Load(); got != merges {
		r.t.Fatalf("%d follow-ups ran, want %d", got, merges)
	}
	// Each group of the name made one follow-up, and the purges leave
	// them (they are not members of the group); the latest is this one.
	if fj := thenJobs(r.t, r.mc, "g"); len(fj) != int(merges) || fj[0].ID != then {
		r.t.Fatalf("%d jobs with the follow-up's key, the latest %+v: want %d, the latest %s", len(fj), fj[0], merges, then)
	}
	return n.ID
}

func (r *regroup) purge() {
	r.t.Helper()
	p, err := r.mc.Purge(context.Background(), &rpcapi.PurgeArgs{Group: "g"})
	if err != nil || p.Purged != 3 {
		r.t.Fatalf("purge of group g: %+v, %v: want 3 purged", p, err)
	}
	if _, err := r.mc.GetGroup(context.Background(), "g"); !errors.Is(err, rpcapi.ErrNotFound) {
		r.t.Fatalf("group g after its purge: %v, want not found", err)
	}
}

// TestGroupAgainAfterPurge: a group whose jobs were all purged is gone
// (docs/api.md); jobs submitted later with its name are a new group,
// whose on_done runs when it is final: its own follow-up job, made with
// the ID its submit reserved, and its own group_done notice, with a
// delivery ID of its own (receivers dedupe on it). Also when the master
// restarts between the purge and the new group's end.
func TestGroupAgainAfterPurge(t *testing.T) {
	r := &regroup{t: t, dir: t.TempDir(), hook: newHookServer(t)}
	r.cfg = master.Config{Store: master.StoreBolt, DataDir: r.dir,
		Notify: master.Notify{Webhooks: []master.Webhook{{URL: r.hook.URL}}}}
	r.start(true)
	then1 := r.submit()
	d1 := r.done(then1, 1)
	r.purge()

	then2 := r.submit()
	if then2 == then1 {
		t.Fatalf("the new group reserved %s, its old follow-up's ID", then2)
	}
	d2 := r.done(then2, 2)
	if d2 == d1 {
		t.Fatalf("the new group's notice has the old one's delivery ID %q", d1)
	}

	// Again, with a restart between the purge and the new group's end:
	// the old group's record must not pass for the new group's.
	if err := r.m.Close(); err != nil {
		t.Fatal(err)
	}
	r.start(false) // no worker runs the pages
	r.purge()
	then3 := r.submit()
	if err := r.m.Close(); err != nil {
		t.Fatal(err)
	}
	r.start(true)
	d3 := r.done(then3, 3)
	if d3 == d1 || d3 == d2 {
		t.Fatalf("delivery IDs %q, %q, %q: want three", d1, d2, d3)
	}
}
