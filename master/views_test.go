package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	droverclient "github.com/drover/drover/client"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestWorkerViewsAgree: a worker with tags holding a job reads the same,
// field for field, from list_workers over gob and XML-RPC and from the
// JSON API's listing and detail.
func TestWorkerViewsAgree(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	release := make(chan struct{})
	defer close(release)
	w := master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "tagged", Slots: 2, Tags: []string{"region=eu", "gpu"}},
		map[string]worker.HandlerFunc{"hold": holdUntil(release)})
	_ = w
	mc := client(t, m.Addr())
	ids := submit(t, mc, jobs.Spec{Type: "hold", Tags: []string{"gpu"}})
	ctx := context.Background()
	var gobView rpcapi.WorkerInfo
	pollT(t, 10*time.Second, "the job running on the worker", func() bool {
		r, err := mc.ListWorkers(ctx)
		if err != nil || len(r.Workers) != 1 || len(r.Workers[0].Jobs) != 1 {
			return false
		}
		gobView = r.Workers[0]
		return gobView.Jobs[0].State == jobs.Running
	})
	want := rpcapi.WorkerJob{JobID: ids[0], Attempt: 1, Type: "hold", State: jobs.Running}
	if gobView.Jobs[0] != want || !reflect.DeepEqual(gobView.Tags, []string{"gpu", "region=eu"}) &&
		!reflect.DeepEqual(gobView.Tags, []string{"region=eu", "gpu"}) {
		t.Fatalf("list_workers over gob: jobs %+v tags %v; want %+v and the worker's two tags", gobView.Jobs, gobView.Tags, want)
	}
	x, err := rpcapi.NewXMLClient(m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	xr, err := rpcapi.MasterClient{C: x}.ListWorkers(ctx)
	if err != nil || len(xr.Workers) != 1 {
		t.Fatalf("list_workers over XML-RPC: %+v, %v", xr, err)
	}
	api := newHTTPAPI(t, m)
	var list struct {
		Workers []map[string]any `json:"workers"`
	}
	api.get("workers", &list)
	var detail map[string]any
	api.get("workers/"+gobView.ID, &detail)
	asJSON := func(v any) map[string]any {
		b, _ := json.Marshal(v)
		var out map[string]any
		json.Unmarshal(b, &out)
		return out
	}
	g, xv := asJSON(gobView), asJSON(xr.Workers[0])
	delete(g, "last_heartbeat") // it moves between the calls
	for name, v := range map[string]map[string]any{"xml-rpc": xv, "json listing": list.Workers[0], "json detail": detail} {
		delete(v, "last_heartbeat")
		if !reflect.DeepEqual(g, v) {
			t.Errorf("%s shows the worker as\n%v\nlist_workers over gob as\n%v", name, v, g)
		}
	}
}

// asJSONMap is v encoded as JSON and read back as a generic object: the
// form in which two views are compared field by field.
func asJSONMap(t testing.TB, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// agree fails t for every view in views that differs from want.
func agree(t testing.TB, what string, want map[string]any, views map[string]map[string]any) {
	t.Helper()
	for name, v := range views {
		if !reflect.DeepEqual(want, v) {
			t.Errorf("%s: %s shows\n%v\nthe JSON API shows\n%v", what, name, v, want)
		}
	}
}

// viewKeys fails t unless v has exactly the members keys.
func viewKeys(t testing.TB, what string, v map[string]any, keys ...string) {
	t.Helper()
	got := slices.Sorted(maps.Keys(v))
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("%s has members %v, want %v (docs/api.md)", what, got, keys)
	}
}

// TestJobViewsAgree: a job that failed twice, with every member of the
// detail set, reads the same, field by field, from the JSON API's detail
// and listing, from get_job and list_jobs over gob and XML-RPC, and from
// the client package (each RPC reply through rpcapi's one mapping). The
// master runs on a fake clock, which the test moves through the retry's
// backoff.
func TestJobViewsAgree(t *testing.T) {
	m, fc := startClockMaster(t, master.Config{})
	master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "views", Slots: 1, Tags: []string{"gpu"}},
		map[string]worker.HandlerFunc{"flaky": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{ExitCode: 3, Output: fmt.Sprintf("attempt %d\n", j.Attempt)}, errors.New("boom")
		}})
	mc := client(t, m.Addr())
	ids := submit(t, mc, jobs.Spec{Type: "flaky", Args: map[string]string{"a": "1"}, Group: "views", Priority: 3,
		Retries: 1, Timeout: 30 * time.Second, Key: "views-1", Tags: []string{"gpu"}, LimitKey: "example.org"})
	retryDue(t, mc, fc, ids[0])
	waitAll(t, mc, ids, 20*time.Second)
	ctx := context.Background()
	xc, cc := viewClients(t, m)
	api := newHTTPAPI(t, m)

	var detail map[string]any
	api.get("jobs/"+ids[0], &detail)
	viewKeys(t, "the job detail", detail, "id", "type", "state", "attempts", "attempt", "worker", "args", "group",
		"priority", "retries", "submitted", "updated", "error", "timeout", "key", "tags", "limit_key",
		"output_tail", "history", "timeline", "timeout_applied", "timeout_from", "submitter")
	details := map[string]map[string]any{}
	for name, mc := range map[string]rpcapi.MasterClient{"get_job over gob": mc, "get_job over XML-RPC": xc} {
		info, err := mc.GetJob(ctx, ids[0])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		details[name] = asJSONMap(t, info.View())
	}
	info, err := cc.Job(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	details["client.Job"] = asJSONMap(t, info.View())
	agree(t, "job "+ids[0], detail, details)

	var list struct {
		Jobs []map[string]any `json:"jobs"`
	}
	api.get("jobs?group=views", &list)
	if len(list.Jobs) != 1 {
		t.Fatalf("GET jobs?group=views: %v", list.Jobs)
	}
	viewKeys(t, "a job in a listing", list.Jobs[0], "id", "type", "state", "attempts", "attempt", "worker", "args",
		"group", "priority", "retries", "submitted", "updated", "error")
	listed := map[string]map[string]any{}
	for name, mc := range map[string]rpcapi.MasterClient{"list_jobs over gob": mc, "list_jobs over XML-RPC": xc} {
		r, err := mc.ListJobs(ctx, &rpcapi.ListJobsArgs{Group: "views"})
		if err != nil || len(r.Jobs) != 1 {
			t.Fatalf("%s: %+v, %v", name, r, err)
		}
		listed[name] = asJSONMap(t, rpcapi.ViewJob(&r.Jobs[0]))
	}
	p, err := cc.JobsPage(ctx, droverclient.Query{Group: "views"})
	if err != nil || len(p.Jobs) != 1 {
		t.Fatalf("client.JobsPage: %+v, %v", p, err)
	}
	listed["client.JobsPage"] = asJSONMap(t, rpcapi.ViewJob(&p.Jobs[0]))
	agree(t, "job "+ids[0]+" in a listing", list.Jobs[0], listed)
}

// TestScheduleViewsAgree: a schedule that has fired reads the same, field
// by field, from GET /api/v1/schedules, from list_schedules over gob and
// XML-RPC and from the client package; its spec, which JSON shows as its
// type, args and group, comes whole over both transports.
func TestScheduleViewsAgree(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	mc := client(t, m.Addr())
	spec := jobs.Spec{Name: "views", Schedule: "@every 1s", Timezone: "Europe/Paris", Type: "noop",
		Args: map[string]string{"site": "example.org"}, Group: "fired", Priority: 2, Retries: 1}
	submit(t, mc, spec)
	ctx := context.Background()
	pollT(t, 10*time.Second, "the schedule's first fire", func() bool {
		r, err := mc.ListSchedules(ctx)
		return err == nil && len(r.Schedules) == 1 && r.Schedules[0].LastJob != ""
	})
	// A new timetable keeps the last fire, and the next is an hour away:
	// the views stay still while the test reads them.
	spec.Schedule = "@every 1h"
	submit(t, mc, spec)
	xc, cc := viewClients(t, m)
	var list struct {
		Schedules []map[string]any `json:"schedules"`
	}
	newHTTPAPI(t, m).get("schedules", &list)
	if len(list.Schedules) != 1 {
		t.Fatalf("GET schedules: %v", list.Schedules)
	}
	viewKeys(t, "a schedule", list.Schedules[0], "name", "schedule", "timezone", "overlap", "catch_up", "paused",
		"next", "last_fire", "last_job", "type", "args", "group")
	views := map[string]map[string]any{}
	specs := map[string]jobs.Spec{}
	for name, mc := range map[string]rpcapi.MasterClient{"list_schedules over gob": mc, "list_schedules over XML-RPC": xc} {
		r, err := mc.ListSchedules(ctx)
		if err != nil || len(r.Schedules) != 1 {
			t.Fatalf("%s: %+v, %v", name, r, err)
		}
		views[name], specs[name] = asJSONMap(t, r.Schedules[0]), r.Schedules[0].Spec
	}
	s, err := cc.Schedules(ctx)
	if err != nil || len(s) != 1 {
		t.Fatalf("client.Schedules: %+v, %v", s, err)
	}
	views["client.Schedules"] = asJSONMap(t, s[0])
	agree(t, "schedule views", list.Schedules[0], views)
	want := jobs.Spec{Type: "noop", Args: spec.Args, Group: "fired", Priority: 2, Retries: 1}
	for name, got := range specs {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: spec %+v, want %+v", name, got, want)
		}
	}
	var back rpcapi.ScheduleInfo
	if b, _ := json.Marshal(list.Schedules[0]); json.Unmarshal(b, &back) != nil ||
		!reflect.DeepEqual(asJSONMap(t, back), list.Schedules[0]) {
		t.Errorf("GET schedules read into rpcapi.ScheduleInfo and written again: %v", asJSONMap(t, back))
	}
}

// TestGroupViewsAgree: a final group with a failed job and an on_done
// that has run reads the same, field by field, from GET
// /api/v1/groups/{name}, get_group over gob and XML-RPC and client.Group;
// and in a listing from GET /api/v1/groups, list_groups over both
// transports and client.Groups.
func TestGroupViewsAgree(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	startWorker(t, m.Addr(), "views", 2, map[string]worker.HandlerFunc{
		"echo": echo,
		"fail": func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{}, errors.New("no") },
	})
	mc := client(t, m.Addr())
	ids := submit(t, mc, jobs.Spec{Type: "echo", Group: "views", Then: &jobs.Spec{Type: "merge"}},
		jobs.Spec{Type: "fail", Group: "views"}, jobs.Spec{Type: "echo", Group: "other"})
	waitAll(t, mc, ids, 20*time.Second)
	waitOnDone(t, m, "views")
	ctx := context.Background()
	xc, cc := viewClients(t, m)
	api := newHTTPAPI(t, m)

	var detail map[string]any
	api.get("groups/views", &detail)
	viewKeys(t, "the group detail", detail, "name", "total", "counts", "done", "final", "progress", "submitted",
		"updated", "unsuccessful", "on_done")
	if od, _ := detail["on_done"].(map[string]any); len(od) == 0 || !reflect.DeepEqual(detail["unsuccessful"], []any{ids[1]}) {
		t.Fatalf("the group detail lacks its on_done or its failed job: %v", detail)
	}
	details := map[string]map[string]any{}
	for name, mc := range map[string]rpcapi.MasterClient{"get_group over gob": mc, "get_group over XML-RPC": xc} {
		g, err := mc.GetGroup(ctx, "views")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		details[name] = asJSONMap(t, g)
	}
	g, err := cc.Group(ctx, "views")
	if err != nil {
		t.Fatal(err)
	}
	details["client.Group"] = asJSONMap(t, g)
	agree(t, "group views", detail, details)
	if _, err := xc.GetGroup(ctx, "nothing"); !errors.Is(err, rpcapi.ErrNotFound) {
		t.Errorf("get_group of a group with no jobs: %v, want ErrNotFound", err)
	}

	var list struct {
		Groups []map[string]any `json:"groups"`
	}
	api.get("groups", &list)
	listed := map[string][]map[string]any{}
	for name, mc := range map[string]rpcapi.MasterClient{"list_groups over gob": mc, "list_groups over XML-RPC": xc} {
		r, err := mc.ListGroups(ctx, &rpcapi.ListGroupsArgs{})
		if err != nil || r.NextCursor != "" {
			t.Fatalf("%s: %+v, %v", name, r, err)
		}
		for _, g := range r.Groups {
			listed[name] = append(listed[name], asJSONMap(t, g))
		}
	}
	for g, err := range cc.Groups(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		listed["client.Groups"] = append(listed["client.Groups"], asJSONMap(t, g))
	}
	if len(list.Groups) != 2 || list.Groups[0]["name"] != "other" {
		t.Fatalf("GET groups: %v", list.Groups)
	}
	for name, gs := range listed {
		if !reflect.DeepEqual(gs, list.Groups) {
			t.Errorf("group listing: %s shows\n%v\nthe JSON API shows\n%v", name, gs, list.Groups)
		}
	}
}

// viewClients dials m over XML-RPC and with the client package (gob),
// closed when the test ends.
func viewClients(t *testing.T, m *master.Master) (rpcapi.MasterClient, *droverclient.Client) {
	t.Helper()
	x, err := rpcapi.NewXMLClient(m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	cc, err := droverclient.Dial(m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return rpcapi.MasterClient{C: x}, cc
}
