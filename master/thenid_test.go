package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// submitReply submits specs over mc and returns the whole reply.
func submitReply(t *testing.T, mc rpcapi.MasterClient, specs ...jobs.Spec) *rpcapi.SubmitReply {
	t.Helper()
	r, err := mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: specs})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSubmitNamesFollowUpID: the submit of a group's first job with a
// then names, in then_ids, the ID its follow-up will have; later thens of
// the group, and a group whose on_done ran, reserve none; a lookup of the
// ID before the follow-up is made is a not-found that says so; the
// follow-up is made with that ID (docs/protocol.md, submit_jobs).
func TestSubmitNamesFollowUpID(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	mc := client(t, m.Addr())
	r := submitReply(t, mc, pageSpecs("g", 2, &jobs.Spec{Type: "merge"})...)
	if len(r.ThenIDs) != 1 || r.ThenIDs[0].Group != "g" || r.ThenIDs[0].ID == "" || slices.Contains(r.IDs, r.ThenIDs[0].ID) {
		t.Fatalf("submit of a group with a then: ids %v, then_ids %+v", r.IDs, r.ThenIDs)
	}
	then := r.ThenIDs[0].ID

	// A later then of g does not count; of two thens of h in one call,
	// the first does.
	more := []jobs.Spec{{Type: "page", Group: "g", Then: &jobs.Spec{Type: "other"}}}
	more = append(more, pageSpecs("h", 1, &jobs.Spec{Type: "merge"})...)
	more = append(more, pageSpecs("h", 1, &jobs.Spec{Type: "other"})...)
	r2 := submitReply(t, mc, more...)
	if len(r2.ThenIDs) != 1 || r2.ThenIDs[0].Group != "h" || r2.ThenIDs[0].ID == then ||
		slices.Contains(r2.IDs, r2.ThenIDs[0].ID) || slices.Contains(r.IDs, r2.ThenIDs[0].ID) {
		t.Fatalf("second submit: ids %v, then_ids %+v (the first reserved %s)", r2.IDs, r2.ThenIDs, then)
	}

	_, err := mc.GetJob(context.Background(), then)
	if !errors.Is(err, rpcapi.ErrNotFound) || !strings.Contains(err.Error(), `follow-up of group "g", not made yet`) {
		t.Fatalf("get_job of the reserved ID before the group ended: %v", err)
	}

	startWorker(t, m.Addr(), "a", 4, map[string]worker.HandlerFunc{"page": page, "merge": page, "other": page})
	for _, f := range append(r.ThenIDs, r2.ThenIDs...) {
		od := waitOnDone(t, m, f.Group).OnDone
		if od.Then != f.ID || len(od.Errors) != 0 {
			t.Fatalf("group %s's follow-up is %q (errors %v), want the reserved %s", f.Group, od.Then, od.Errors, f.ID)
		}
		info, err := mc.GetJob(context.Background(), f.ID)
		if err != nil || info.Job.Spec.Type != "merge" || info.Job.Spec.Key != master.ThenKey(f.Group) {
			t.Fatalf("get_job of group %s's follow-up %s: %+v, %v", f.Group, f.ID, info, err)
		}
	}
	if js := thenJobs(t, mc, "g"); len(js) != 1 {
		t.Fatalf("group g has %d follow-ups", len(js))
	}

	// g's on_done ran: a new job of g with a then reserves nothing.
	if r3 := submitReply(t, mc, pageSpecs("g", 1, &jobs.Spec{Type: "merge"})...); len(r3.ThenIDs) != 0 {
		t.Fatalf("a then after the group's on_done ran: then_ids %+v", r3.ThenIDs)
	}
}

// TestSubmitFollowUpIDRefused: a follow-up the master refuses when the
// group ends leaves its reserved ID unused: no job gets it, and a lookup
// says it was not made.
func TestSubmitFollowUpIDRefused(t *testing.T) {
	m := startAPIMaster(t, master.Config{MaxArgsBytes: 100})
	mc := client(t, m.Addr())
	r := submitReply(t, mc, pageSpecs("g", 2, &jobs.Spec{Type: "merge", Args: map[string]string{"x": strings.Repeat("y", 99)}})...)
	if len(r.ThenIDs) != 1 {
		t.Fatalf("then_ids %+v", r.ThenIDs)
	}
	startWorker(t, m.Addr(), "a", 4, map[string]worker.HandlerFunc{"page": page})
	if od := waitOnDone(t, m, "g").OnDone; od.Then != "" || len(od.Errors) != 1 {
		t.Fatalf("on_done %+v", od)
	}
	_, err := mc.GetJob(context.Background(), r.ThenIDs[0].ID)
	if !errors.Is(err, rpcapi.ErrNotFound) || !strings.Contains(err.Error(), `which the master did not make`) {
		t.Fatalf("get_job of the unused reserved ID: %v", err)
	}
	next := submit(t, mc, jobs.Spec{Type: "page"})
	if next[0] == r.ThenIDs[0].ID {
		t.Fatalf("a new job got the reserved ID %s", next[0])
	}
}

// TestAPISubmitThenIDs: POST /api/v1/jobs names the reserved follow-up ID
// in then_ids, always present ([] without one), and GET of the ID is a
// 404 that says it is the group's follow-up, not made yet (docs/api.md).
func TestAPISubmitThenIDs(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	api := newHTTPAPI(t, m)
	var r struct {
		IDs     []string           `json:"ids"`
		ThenIDs *[]rpcapi.FollowUp `json:"then_ids"`
	}
	api.call("POST", "jobs", `{"type": "page"}`, http.StatusCreated, &r)
	if r.ThenIDs == nil || len(*r.ThenIDs) != 0 {
		t.Fatalf("submit without a then: then_ids %v", r.ThenIDs)
	}
	r.ThenIDs = nil
	api.call("POST", "jobs", `{"jobs": [{"type": "page", "group": "g", "then": {"type": "merge"}}, {"type": "page", "group": "g"}]}`,
		http.StatusCreated, &r)
	if r.ThenIDs == nil || len(*r.ThenIDs) != 1 || (*r.ThenIDs)[0].Group != "g" || slices.Contains(r.IDs, (*r.ThenIDs)[0].ID) {
		t.Fatalf("submit with a then: %+v %v", r.IDs, r.ThenIDs)
	}
	then := (*r.ThenIDs)[0].ID
	status, body := api.do("GET", "jobs/"+then, "")
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || status != http.StatusNotFound || e.Error.Code != "not_found" ||
		!strings.Contains(e.Error.Message, `follow-up of group "g", not made yet`) {
		t.Fatalf("GET of the reserved ID: %d %s", status, body)
	}
	startWorker(t, m.Addr(), "a", 4, map[string]worker.HandlerFunc{"page": page, "merge": page})
	if od := waitOnDone(t, m, "g").OnDone; od.Then != then {
		t.Fatalf("the follow-up is %q, want the reserved %s", od.Then, then)
	}
	if j := api.waitState(then, jobs.Succeeded); j.ID != then || j.Type != "merge" {
		t.Fatalf("follow-up %+v", j)
	}
}
