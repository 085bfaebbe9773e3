package master_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// TestCancelPendingError: a cancelled job's error (docs/api.md) says it
// was cancelled by request whether it was running, pending without an
// attempt, or pending for a retry after a failed attempt, in the job's
// page, the cancel's reply and the listing, and the error filter finds
// them all.
func TestCancelPendingError(t *testing.T) {
	m := startAPIMaster(t, master.Config{RetryBackoff: 5 * time.Minute})
	startWorker(t, m.Addr(), "a", 2, map[string]worker.HandlerFunc{
		"block": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			<-ctx.Done()
			return jobs.Result{}, ctx.Err()
		},
		"flaky": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{}, errors.New("no luck")
		},
	})
	c := newHTTPAPI(t, m)
	var sub struct{ IDs []string }
	c.call("POST", "jobs", `{"jobs": [{"type": "block"}, {"type": "nobody"}, {"type": "flaky", "retries": 1}]}`, 201, &sub)
	running, pending, retrying := sub.IDs[0], sub.IDs[1], sub.IDs[2]
	c.waitState(running, jobs.Running)
	c.waitState(retrying, jobs.Pending) // its backoff is 5 minutes
	type view struct {
		ID    string     `json:"id"`
		State jobs.State `json:"state"`
		Error string     `json:"error"`
	}
	const want = "cancelled by request"
	for _, id := range []string{running, pending, retrying} {
		var j view
		c.call("POST", "jobs/"+id+"/cancel", "", 200, &j)
		if j.State != jobs.Cancelled || j.Error != want {
			t.Errorf("the cancel's reply for job %s: %+v; want cancelled with error %q", id, j, want)
		}
		c.get("jobs/"+id, &j)
		if j.Error != want {
			t.Errorf("GET jobs/%s: %+v; want error %q", id, j, want)
		}
	}
	var page struct{ Jobs []view }
	c.get("jobs?state=cancelled&error=by+request", &page)
	if len(page.Jobs) != 3 {
		t.Errorf("the cancelled jobs whose error holds %q: %+v; want all 3", "by request", page.Jobs)
	}
	for _, j := range page.Jobs {
		if j.Error != want {
			t.Errorf("listed: %+v; want error %q", j, want)
		}
	}
	// Over RPC the job's timeline says it too.
	info, err := client(t, m.Addr()).GetJob(context.Background(), pending)
	if err != nil || !strings.Contains(info.Job.Events[len(info.Job.Events)-1].Text, want) {
		t.Errorf("get_job %s: %+v, %v", pending, info, err)
	}
}
