package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestCLIViewsAgree: what `drover job|jobs|group|schedules|queues --json`
// and the attention of `drover status --json` print, over gob and over
// XML-RPC, is what the JSON API answers, field by field: a job that failed
// twice (its detail and its place in a listing), its group, a schedule
// that has fired, the lanes of both (the failed job's, and the schedule's
// fire that no worker can run) and that fire's attention entry. The master
// and a worker run in process, on loopback.
func TestCLIViewsAgree(t *testing.T) {
	addr, id := startViews(t)
	member := func(v any, name string) any { return v.(map[string]any)[name] }
	groupCLI := func(v any) any { // the group detail's members, not state and results
		g := v.(map[string]any)
		if g["state"] != "failed" || len(g["results"].([]any)) != 1 {
			t.Errorf("drover group --json: state %v, results %v", g["state"], g["results"])
		}
		delete(g, "state")
		delete(g, "results")
		return g
	}
	// A lane's oldest_pending_seconds grows between two reads.
	lanes := func(v any) any {
		for _, q := range v.([]any) {
			delete(q.(map[string]any), "oldest_pending_seconds")
		}
		return v
	}
	apiLanes := lanes(member(apiGet(t, addr, "queues"), "queues"))
	attention := member(apiGet(t, addr, "status"), "attention")
	if len(apiLanes.([]any)) != 2 || len(attention.([]any)) != 1 {
		t.Fatalf("the JSON API shows lanes %v and attention %v; want the flaky and noop lanes, and noop's attention", apiLanes, attention)
	}
	for _, c := range []struct {
		args []string
		api  any
		cut  func(any) any // the part of the CLI's output the API shows
	}{
		{[]string{"job", id}, apiGet(t, addr, "jobs/"+id), nil},
		{[]string{"jobs", "--group", "views"}, member(apiGet(t, addr, "jobs?group=views"), "jobs"), nil},
		{[]string{"group", "views"}, apiGet(t, addr, "groups/views"), groupCLI},
		{[]string{"schedules"}, member(apiGet(t, addr, "schedules"), "schedules"), nil},
		{[]string{"queues"}, apiLanes, lanes},
		{[]string{"status"}, attention, func(v any) any { return member(v, "attention") }},
	} {
		for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
			args := append(slices.Clone(c.args), "--json", "--transport", transport)
			res := runDrover(t, addr, args...)
			var got any
			if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil || res.Code != 0 {
				t.Fatalf("drover %v: exit %d, %v: %s%s", args, res.Code, err, res.Stdout, res.Stderr)
			}
			if c.cut != nil {
				got = c.cut(got)
			}
			if !reflect.DeepEqual(got, c.api) {
				t.Errorf("drover %v prints\n%v\nthe JSON API shows\n%v", args, got, c.api)
			}
		}
	}
	// The table shows a failed job's error, as the API's listing has it.
	apiErr := member(apiGet(t, addr, "jobs/"+id), "error").(string)
	res := runDrover(t, addr, "jobs", "--group", "views")
	if apiErr == "" || !strings.Contains(res.Stdout, listError(apiErr)) || !strings.Contains(res.Stdout, "ERROR") {
		t.Errorf("drover jobs does not show the failed job's error %q:\n%s", apiErr, res.Stdout)
	}
}

// apiGet returns what GET /api/v1/path answers, decoded.
func apiGet(t *testing.T, addr, path string) any {
	t.Helper()
	res, err := http.Get("http://" + addr + "/api/v1/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v any
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", path, res.Status, err)
	}
	return v
}

// startViews starts a master and a worker in process, and returns the
// master's address and the ID of a job of group "views" that failed after
// two attempts, each with an error and output. The master also has a
// schedule, "tick", that has fired once and next fires in an hour.
func startViews(t *testing.T) (addr, id string) {
	t.Helper()
	c := drovertest.Start(t, drovertest.Options{Slots: 1,
		HeartbeatInterval: 100 * time.Millisecond, DeadAfter: 30 * time.Second,
		RetryBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Handlers: map[string]worker.HandlerFunc{"flaky": func(_ context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{ExitCode: 3, Output: fmt.Sprintf("attempt %d\n", j.Attempt)}, errors.New("boom")
		}},
		ConfigureWorker: func(_ int, cfg *worker.Config) { cfg.Name, cfg.Tags = "views", []string{"gpu"} },
	})
	tick := jobs.Spec{Name: "tick", Schedule: "@every 1s", Type: "noop", Args: map[string]string{"n": "1"}, Group: "ticks"}
	id = c.Submit(jobs.Spec{Type: "flaky", Args: map[string]string{"a": "1"}, Group: "views", Priority: 3, Retries: 1,
		Timeout: 30 * time.Second, Key: "views-1", Tags: []string{"gpu"}, LimitKey: "example.org"}, tick)[0]
	mc := c.Client()
	testproc.PollErr(t, 20*time.Second, "the job final and the schedule fired", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := mc.GetJob(ctx, id)
		if err != nil || !info.Job.State.Final() {
			return fmt.Errorf("job %s: %+v, %v", id, info, err)
		}
		s, err := mc.ListSchedules(ctx)
		if err != nil || len(s.Schedules) != 1 || s.Schedules[0].LastJob == "" {
			return fmt.Errorf("schedules %+v, %v", s, err)
		}
		return nil
	})
	// Another timetable keeps the last fire and holds the next an hour
	// away: the schedule stays still while the test reads it.
	tick.Schedule = "@every 1h"
	c.Submit(tick)
	return c.Addr(), id
}
