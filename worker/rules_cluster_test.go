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

// TestHandlerTimeoutIsATimeout: a Go handler whose job's timeout ends
// before it returns has an attempt that ends timeout (README: the
// handler's context ends; each attempt ends ok, error, timeout...), also
// when it returns no error: one that stops early on ctx.Done and says
// nothing of it, and one that ignores its context and returns late.
func TestHandlerTimeoutIsATimeout(t *testing.T) {
	c := drovertest.Start(t, drovertest.Options{Workers: 1, Handlers: map[string]worker.HandlerFunc{
		"polite": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			<-ctx.Done()
			return jobs.Result{Output: "partial"}, nil
		},
		"deaf": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			time.Sleep(600 * time.Millisecond) // ignores ctx on purpose
			return jobs.Result{Output: "late"}, nil
		},
		"quick": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{Output: "done"}, nil
		},
	}})
	ids := c.Submit(
		jobs.Spec{Type: "polite", Timeout: 150 * time.Millisecond},
		jobs.Spec{Type: "deaf", Timeout: 150 * time.Millisecond},
		jobs.Spec{Type: "quick", Timeout: 10 * time.Second},
	)
	c.WaitAll(ids, 20*time.Second)
	for _, id := range ids[:2] {
		j := c.Job(id)
		a := j.Attempts[len(j.Attempts)-1]
		if j.State != jobs.Failed || a.Outcome != jobs.Timeout || !strings.HasPrefix(a.Error, "timed out after 150ms") {
			t.Errorf("job %s (%s): state %s, outcome %s, error %q; want failed, timeout, timed out after 150ms",
				id, j.Spec.Type, j.State, a.Outcome, a.Error)
		}
	}
	if j := c.Job(ids[2]); j.State != jobs.Succeeded {
		t.Errorf("quick: %s, want succeeded", j.State)
	}
}

// TestHandlerOutputWithinTheLimit: a Go handler's output is cut to its
// tail within output_limit (README), the truncation note included.
func TestHandlerOutputWithinTheLimit(t *testing.T) {
	c := drovertest.Start(t, drovertest.Options{Workers: 1, Handlers: map[string]worker.HandlerFunc{
		"loud": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{Output: strings.Repeat("x", 5<<20) + "end"}, nil
		},
	}})
	ids := c.Submit(jobs.Spec{Type: "loud"})
	c.WaitAll(ids, 20*time.Second)
	out := c.Job(ids[0]).Attempts[0].Output
	if len(out) > 64<<10 || !strings.HasPrefix(out, "...[truncated ") || !strings.HasSuffix(out, "xend") {
		t.Errorf("output of %d bytes, %q...%q; want at most %d (the default output_limit), the note first, the tail kept",
			len(out), out[:min(len(out), 40)], out[max(0, len(out)-10):], 64<<10)
	}
}
