package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/worker"
)

// TestTemplatesThroughTheMaster: through a real master, a template's
// built-ins reach the process, a template timeout shorter than the job's
// says so in the error and on the attempt, a scrapy crawl's stats land on
// the job (and its detail view), and a permanent exit code fails the job
// without using its retries.
func TestTemplatesThroughTheMaster(t *testing.T) {
	stats := `printf '%s\n' 'x [scrapy.statscollectors] INFO: Dumping Scrapy stats:' ` +
		`"{{'finish_reason': 'finished',"  " 'item_scraped_count': 3,"  " 'log_count/ERROR': 1}}"`
	c := drovertest.Start(t, drovertest.Options{Workers: 1, Commands: map[string]worker.Command{
		"who":   {Argv: []string{"echo", "{job_id}/{attempt}/{group:none}/{worker}/{depth:2}"}},
		"slow":  {Argv: []string{"sleep", "5"}, Timeout: 200 * time.Millisecond},
		"crawl": {Argv: []string{"sh", "-c", stats}, Kind: worker.KindScrapy},
		"usage": {Argv: []string{"sh", "-c", "exit 2"}, PermanentExitCodes: []int{2}},
	}})
	ids := c.Submit(
		jobs.Spec{Type: "who", Group: "g1"},
		jobs.Spec{Type: "slow", Timeout: 10 * time.Minute},
		jobs.Spec{Type: "crawl"},
		jobs.Spec{Type: "usage", Retries: 3},
	)
	c.WaitAll(ids, 20*time.Second)

	who := c.Job(ids[0])
	if want := ids[0] + "/1/g1/" + c.Name(0) + "/2\n"; who.State != jobs.Succeeded || who.Attempts[0].Output != want {
		t.Errorf("who: state %s output %q, want %q", who.State, who.Attempts[0].Output, want)
	}

	slow := c.Job(ids[1])
	a := slow.Attempts[0]
	if a.Outcome != jobs.Timeout || a.Timeout != "200ms" || a.TimeoutFrom != worker.TimeoutFromTemplate ||
		!strings.HasPrefix(a.Error, "timed out after 200ms (the command template's timeout; the job's is 10m0s): ") {
		t.Errorf("slow: outcome %s timeout %q from %q error %q", a.Outcome, a.Timeout, a.TimeoutFrom, a.Error)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	info, err := c.Client().GetJob(ctx, ids[2])
	if err != nil {
		t.Fatal(err)
	}
	d := info.View()
	if info.Job.State != jobs.Succeeded || d.Stats["item_scraped_count"] != "3" || d.Stats["finish_reason"] != "finished" ||
		d.StatsAttempt != 1 || d.History[0].Stats["log_count/ERROR"] != "1" {
		t.Errorf("crawl: state %s, detail stats %v of attempt %d", info.Job.State, d.Stats, d.StatsAttempt)
	}
	info, err = c.Client().GetJob(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if d := info.View(); d.TimeoutApplied != "200ms" || d.TimeoutFrom != "template" || d.Timeout != "10m0s" {
		t.Errorf("slow: detail timeout %q applied %q from %q", d.Timeout, d.TimeoutApplied, d.TimeoutFrom)
	}

	usage := c.Job(ids[3])
	if usage.State != jobs.Failed || len(usage.Attempts) != 1 || !strings.Contains(usage.Attempts[0].Error, "permanent_exit_codes") {
		t.Errorf("usage: state %s, attempts %+v; want failed after one attempt", usage.State, usage.Attempts)
	}
}
