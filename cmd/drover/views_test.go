package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/crash"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestCLIViewsAgree: what `drover job|jobs|group|schedules --json` prints,
// over gob and over XML-RPC, is what the JSON API answers, field by field:
// a job that failed twice (its detail and its place in a listing), its
// group and a schedule that has fired. The master and a worker run in
// process, on loopback.
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
	for _, c := range []struct {
		args []string
		api  any
		cut  func(any) any // the part of the CLI's output the API shows
	}{
		{[]string{"job", id}, apiGet(t, addr, "jobs/"+id), nil},
		{[]string{"jobs", "--group", "views"}, member(apiGet(t, addr, "jobs?group=views"), "jobs"), nil},
		{[]string{"group", "views"}, apiGet(t, addr, "groups/views"), groupCLI},
		{[]string{"schedules"}, member(apiGet(t, addr, "schedules"), "schedules"), nil},
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
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", Store: master.StoreMemory, Logger: quiet,
		HeartbeatInterval: 100 * time.Millisecond, DeadAfter: 30 * time.Second,
		RetryBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	addr = m.Addr()
	w, err := worker.New(worker.Config{Master: addr, Name: "views", Listen: "127.0.0.1:0", Slots: 1,
		Tags: []string{"gpu"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("flaky", func(_ context.Context, j *jobs.Job) (jobs.Result, error) {
		return jobs.Result{ExitCode: 3, Output: fmt.Sprintf("attempt %d\n", j.Attempt)}, errors.New("boom")
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { crash.Worker(w) })

	mc := rpcapi.MasterClient{C: rpcapi.NewClient(addr)}
	t.Cleanup(func() { mc.C.Close() })
	ctx := context.Background()
	tick := jobs.Spec{Name: "tick", Schedule: "@every 1s", Type: "noop", Args: map[string]string{"n": "1"}, Group: "ticks"}
	r, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{
		{Type: "flaky", Args: map[string]string{"a": "1"}, Group: "views", Priority: 3, Retries: 1,
			Timeout: 30 * time.Second, Key: "views-1", Tags: []string{"gpu"}, LimitKey: "example.org"}, tick}})
	if err != nil {
		t.Fatal(err)
	}
	id = r.IDs[0]
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := mc.GetJob(ctx, id)
		s, serr := mc.ListSchedules(ctx)
		if err == nil && info.Job.State.Final() && serr == nil && len(s.Schedules) == 1 && s.Schedules[0].LastJob != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not final, or the schedule not fired: %+v %v", id, info, err)
		}
	}
	// Another timetable keeps the last fire and holds the next an hour
	// away: the schedule stays still while the test reads it.
	tick.Schedule = "@every 1h"
	if _, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{tick}}); err != nil {
		t.Fatal(err)
	}
	return addr, id
}
