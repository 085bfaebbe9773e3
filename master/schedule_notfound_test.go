package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

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
