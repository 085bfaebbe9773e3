package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestCLIRetryByFilter: drover retry and drover cancel with a filter,
// against a real master and worker process: --dry-run counts and changes
// nothing, the action acts on exactly the jobs the filter selects and
// prints how many; IDs and a filter together, or neither, are usage
// errors; a retry by ID keeps its exit codes.
func TestCLIRetryByFilter(t *testing.T) {
	c := startCluster(t, 1, cliCommands)
	oks, bad := c.finished(1, 3)
	ok := oks[0]
	for _, args := range [][]string{{"retry"}, {"retry", bad[0], "--state", "failed"}, {"retry", "--all", "--type", "fail"},
		{"retry", "--state", "running"}, {"retry", "--older-than", "-1h", "--type", "fail"}, {"cancel", "7", "--type", "x"}} {
		if out, code := c.drover(args...); code != 2 || out != "" {
			t.Errorf("drover %v: exit %d, output %q; want exit 2 and no output", args, code, out)
		}
	}
	if out := c.mustDrover("retry", "--state", "failed", "--type", "fail", "--dry-run"); out != "would retry 3 jobs\n" {
		t.Fatalf("retry --dry-run printed %q", out)
	}
	if n := c.count(jobs.Failed); n != 3 {
		t.Fatalf("%d failed jobs after a dry run, want 3", n)
	}
	if out := c.mustDrover("retry", "--type", "fail", "--error", "EXIT STATUS"); out != "retried 3 jobs\n" {
		t.Fatalf("retry by filter printed %q, want %q", out, "retried 3 jobs\n")
	}
	testproc.Poll(t, 20*time.Second, "the retried jobs to fail again", func() bool {
		for _, id := range bad {
			if j := c.Job(id); j.State != jobs.Failed || len(j.Attempts) != 2 {
				return false
			}
		}
		return true
	})
	if j := c.Job(ok); j.State != jobs.Succeeded || len(j.Attempts) != 1 {
		t.Fatalf("the job the filter left out: %s, %d attempts", j.State, len(j.Attempts))
	}
	if _, code := c.drover("retry", ok); code != 1 {
		t.Errorf("retry of a succeeded job: exit %d, want 1", code)
	}
	if _, code := c.drover("retry", "9999"); code != 5 {
		t.Errorf("retry of no such job: exit %d, want 5", code)
	}

	held := []string{c.submit("--type", "nobody"), c.submit("--type", "nobody")}
	var r struct {
		Count  *int `json:"count"`
		DryRun bool `json:"dry_run"`
	}
	out := c.mustDrover("cancel", "--type", "nobody", "--dry-run", "--json")
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Count == nil || *r.Count != 2 || !r.DryRun {
		t.Fatalf("cancel --dry-run --json printed %q", out)
	}
	if out := c.mustDrover("cancel", "--type", "nobody", "--state", "pending"); out != "cancelled 2 jobs\n" {
		t.Fatalf("cancel by filter printed %q", out)
	}
	for _, id := range held {
		if j := c.Job(id); j.State != jobs.Cancelled {
			t.Errorf("job %s after the cancel: %s", id, j.State)
		}
	}
}

// TestCLIScheduleAndDrain: drover schedule run|delete, drover drain and
// drover undrain against a real master and worker, with their exit codes.
func TestCLIScheduleAndDrain(t *testing.T) {
	c := startCluster(t, 1, cliCommands)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.MC.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Name: "hourly", Schedule: "@every 1h", Type: "nobody"}}}); err != nil {
		t.Fatal(err)
	}
	out := c.mustDrover("schedule", "run", "hourly")
	var id string
	if _, err := fmt.Sscanf(out, "schedule hourly fired: job %s", &id); err != nil || c.Job(id).State != jobs.Pending {
		t.Fatalf("schedule run printed %q", out)
	}
	if _, code := c.drover("schedule", "run", "hourly"); code != 1 {
		t.Errorf("a second run while the first is pending (overlap skip): exit %d, want 1", code)
	}
	if out := c.mustDrover("schedule", "delete", "hourly"); out != "schedule hourly deleted\n" {
		t.Fatalf("schedule delete printed %q", out)
	}
	if out := c.mustDrover("schedules"); out != "no schedules\n" {
		t.Fatalf("schedules after the delete: %q", out)
	}
	for _, op := range []string{"run", "delete", "pause"} {
		if _, code := c.drover("schedule", op, "hourly"); code != 5 {
			t.Errorf("schedule %s of a deleted schedule: exit %d, want 5", op, code)
		}
	}
	if _, code := c.drover("schedule", "rename", "hourly"); code != 2 {
		t.Errorf("schedule rename: exit %d, want 2", code)
	}

	ws, err := c.MC.ListWorkers(ctx)
	if err != nil || len(ws.Workers) != 1 {
		t.Fatalf("workers: %+v, %v", ws, err)
	}
	w := ws.Workers[0]
	if out := c.mustDrover("drain", w.ID); out != fmt.Sprintf("worker %s (%s) draining\n", w.ID, w.Name) {
		t.Fatalf("drain printed %q", out)
	}
	if out := c.mustDrover("undrain", w.ID); out != fmt.Sprintf("worker %s (%s) alive\n", w.ID, w.Name) {
		t.Fatalf("undrain printed %q", out)
	}
	ids := c.Submit(jobs.Spec{Type: "echo", Args: map[string]string{"text": "again"}})
	if _, code := c.drover("wait", ids[0]); code != 0 {
		t.Fatalf("a job after the undrain: exit %d", code)
	}
	if _, code := c.drover("undrain", "nope"); code != 5 {
		t.Errorf("undrain of no such worker: exit %d, want 5", code)
	}
	if _, code := c.drover("drain"); code != 2 {
		t.Errorf("drain without a worker: exit %d, want 2", code)
	}
}
