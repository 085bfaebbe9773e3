package master_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"errors"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// apiOp posts to /api/v1/{what}/{name}/{op} (what: schedules or
// workers) and returns the status and the body.
func apiOp(t *testing.T, m *master.Master, what, name, op string) (int, string) {
	t.Helper()
	status, _, body := httpDo(t, m, "", "POST", "/api/v1/"+what+"/"+name+"/"+op, "")
	return status, body
}

// schedules returns GET /api/v1/schedules by name.
func schedules(t *testing.T, m *master.Master) map[string]rpcapi.ScheduleInfo {
	t.Helper()
	status, _, body := httpDo(t, m, "", "GET", "/api/v1/schedules", "")
	var r struct{ Schedules []rpcapi.ScheduleInfo }
	if err := json.Unmarshal([]byte(body), &r); status != 200 || err != nil {
		t.Fatalf("GET /api/v1/schedules: %d %s", status, body)
	}
	out := make(map[string]rpcapi.ScheduleInfo)
	for _, s := range r.Schedules {
		out[s.Name] = s
	}
	return out
}

// TestScheduleOps: pause, resume, run now and delete over the JSON API,
// with run's overlap policy and delete's refusal of a jobs file's
// schedule.
func TestScheduleOps(t *testing.T) {
	m := startAPIMaster(t, master.Config{Jobs: []jobs.Spec{
		{Name: "filed", Schedule: "@every 1h", Type: "nobody", Key: "file:filed"}}})
	mc := client(t, m.Addr())
	submit(t, mc,
		jobs.Spec{Name: "hourly", Schedule: "@every 1h", Type: "nobody"},
		jobs.Spec{Name: "many", Schedule: "@every 1h", Type: "nobody", Overlap: jobs.OverlapAllow},
		jobs.Spec{Name: "queued", Schedule: "@every 1h", Type: "nobody", Overlap: jobs.OverlapQueue})

	if status, body := apiOp(t, m, "schedules", "hourly", "pause"); status != 200 || !strings.Contains(body, `"paused":true`) {
		t.Fatalf("pause: %d %s", status, body)
	}
	if !schedules(t, m)["hourly"].Paused {
		t.Fatal("hourly is not listed paused")
	}
	// Run now fires a paused schedule, once, and leaves it paused.
	status, body := apiOp(t, m, "schedules", "hourly", "run")
	var run struct {
		Schedule rpcapi.ScheduleInfo `json:"schedule"`
		Job      string              `json:"job"`
		Queued   bool                `json:"queued"`
	}
	if err := json.Unmarshal([]byte(body), &run); status != 200 || err != nil || run.Job == "" || !run.Schedule.Paused {
		t.Fatalf("run: %d %s", status, body)
	}
	j := getJob(t, mc, run.Job).Job
	if j.Spec.Type != "nobody" || !strings.HasPrefix(j.Spec.Key, "sched:hourly@") || j.State != jobs.Pending {
		t.Fatalf("the fired job: %+v", j)
	}
	// Its job is pending: overlap skip refuses another run; allow fires;
	// queue queues.
	if status, body := apiOp(t, m, "schedules", "hourly", "run"); status != 409 || !strings.Contains(body, "overlap is skip") {
		t.Fatalf("run of skip with its last run pending: %d %s", status, body)
	}
	if status, body := apiOp(t, m, "schedules", "many", "run"); status != 200 || !strings.Contains(body, `"job"`) {
		t.Fatalf("run of allow: %d %s", status, body)
	}
	if status, body := apiOp(t, m, "schedules", "queued", "run"); status != 200 || !strings.Contains(body, `"job"`) {
		t.Fatalf("first run of queue: %d %s", status, body)
	}
	if status, body := apiOp(t, m, "schedules", "queued", "run"); status != 200 || !strings.Contains(body, `"queued":true`) {
		t.Fatalf("second run of queue: %d %s", status, body)
	}
	if status, body := apiOp(t, m, "schedules", "hourly", "resume"); status != 200 || !strings.Contains(body, `"paused":false`) {
		t.Fatalf("resume: %d %s", status, body)
	}

	// Delete: gone from the list; its fired job stays; a second delete
	// and any other call are 404s.
	if status, body := apiOp(t, m, "schedules", "hourly", "delete"); status != 200 || !strings.Contains(body, `"deleted":"hourly"`) {
		t.Fatalf("delete: %d %s", status, body)
	}
	if _, ok := schedules(t, m)["hourly"]; ok {
		t.Fatal("hourly is still listed after its delete")
	}
	if getJob(t, mc, run.Job).Job.State != jobs.Pending {
		t.Fatal("the deleted schedule's job changed")
	}
	for _, op := range []string{"delete", "run", "pause", "resume"} {
		if status, body := apiOp(t, m, "schedules", "hourly", op); status != 404 {
			t.Errorf("%s of a deleted schedule: %d %s; want 404", op, status, body)
		}
	}
	// A jobs file's schedule is not deleted: the next start would bring
	// it back.
	if status, body := apiOp(t, m, "schedules", "filed", "delete"); status != 409 || !strings.Contains(body, "jobs file") {
		t.Fatalf("delete of a jobs file's schedule: %d %s", status, body)
	}
	if _, ok := schedules(t, m)["filed"]; !ok {
		t.Fatal("the jobs file's schedule is gone after a refused delete")
	}
	// A name with a slash, escaped in the path.
	submit(t, mc, jobs.Spec{Name: "team/nightly", Schedule: "@every 1h", Type: "nobody"})
	if status, body := apiOp(t, m, "schedules", "team%2Fnightly", "pause"); status != 200 || !schedules(t, m)["team/nightly"].Paused {
		t.Fatalf("pause of team/nightly: %d %s", status, body)
	}
	if status, _, body := httpDo(t, m, "", "POST", "/api/v1/schedules/filed/run?now=1", ""); status != 400 {
		t.Fatalf("run with a query parameter: %d %s", status, body)
	}
}

// TestRunQueuedWhilePaused: docs/api.md's run fires "whether or not it is
// paused", and under overlap queue a run asked for while the last run is
// live waits for it to end. On a paused schedule that queued fire comes
// when the last run ends, not at the resume (which fires no instant that
// passed while paused): it used to wait for the resume.
func TestRunQueuedWhilePaused(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	mc := client(t, m.Addr())
	submit(t, mc, jobs.Spec{Name: "q", Schedule: "0 0 1 1 *", Type: "nobody", Overlap: jobs.OverlapQueue})
	if status, body := apiOp(t, m, "schedules", "q", "pause"); status != 200 {
		t.Fatalf("pause: %d %s", status, body)
	}
	if status, body := apiOp(t, m, "schedules", "q", "run"); status != 200 || !strings.Contains(body, `"job"`) {
		t.Fatalf("first run: %d %s", status, body)
	}
	first := schedules(t, m)["q"].LastJob
	if status, body := apiOp(t, m, "schedules", "q", "run"); status != 200 || !strings.Contains(body, `"queued":true`) {
		t.Fatalf("second run: %d %s", status, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := mc.Cancel(ctx, &rpcapi.CancelArgs{IDs: []string{first}}); err != nil {
		t.Fatal(err)
	}
	var second string
	testproc.Poll(t, 10*time.Second, "the queued run to fire once the first ended", func() bool {
		second = schedules(t, m)["q"].LastJob
		return second != first
	})
	if s := schedules(t, m)["q"]; !s.Paused {
		t.Fatalf("schedule q after its queued run: %+v; want it still paused", s)
	}
	if status, body := apiOp(t, m, "schedules", "q", "resume"); status != 200 || !strings.Contains(body, `"paused":false`) {
		t.Fatalf("resume: %d %s", status, body)
	}
	if s := schedules(t, m)["q"]; s.LastJob != second {
		t.Fatalf("the resume fired job %s; want no fire (the last is %s)", s.LastJob, second)
	}
}

// TestScheduleNotFound: an action on an unknown schedule is not_found
// (404 on the JSON API, ErrNotFound over RPC) and its message says so,
// also where the JSON API leaves out the code's own words.
func TestScheduleNotFound(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	mc := client(t, m.Addr())
	submit(t, mc, jobs.Spec{Name: "hourly", Schedule: "@every 1h", Type: "nobody"})
	const want = `no schedule "nope"`
	for _, op := range []string{"pause", "resume", "run", "delete"} {
		status, body := apiOp(t, m, "schedules", "nope", op)
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal([]byte(body), &e)
		if status != 404 || e.Error.Code != "not_found" || e.Error.Message != want {
			t.Errorf("POST /api/v1/schedules/nope/%s: %d %s; want 404 not_found saying %s", op, status, body, want)
		}
	}
	for name, call := range map[string]func(context.Context, string) (*rpcapi.ScheduleInfo, error){
		"pause_schedule": mc.PauseSchedule, "resume_schedule": mc.ResumeSchedule,
	} {
		_, err := call(context.Background(), "nope")
		if !errors.Is(err, rpcapi.ErrNotFound) || err.Error() != "rpcapi: not found: "+want {
			t.Errorf("%s nope: %v; want rpcapi: not found: %s", name, err, want)
		}
	}
}
