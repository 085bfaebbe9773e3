package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestCLIPurge: drover purge against a real master and worker process:
// --state failed deletes exactly the failed jobs (get_job says not found),
// the rest stay, live jobs included; no filter is a usage error naming the
// flags; --json and --transport xmlrpc work.
func TestCLIPurge(t *testing.T) {
	c := startCluster(t, 1, cliCommands)
	ok, bad := c.finished(2, 3)
	held := c.submit("--type", "nobody") // no worker has it: stays pending

	for _, args := range [][]string{{"purge"}, {"purge", "--json"}, {"purge", "--all", "--state", "failed"}, {"purge", "7"}} {
		out, code := c.drover(args...)
		if code != 2 || out != "" {
			t.Errorf("drover %v: exit %d, output %q; want exit 2 and no output", args, code, out)
		}
	}
	if msg := runDrover(t, c.Addr, "purge").Stderr; !strings.Contains(msg, "--state, --type, --group or --older-than") || !strings.Contains(msg, "--all") {
		t.Errorf("drover purge without a filter says %q; want the flags named", msg)
	}
	if out, code := c.drover("purge", "--state", "running"); code != 2 || out != "" {
		t.Errorf("drover purge --state running: exit %d, output %q; want exit 2 (the master refuses the state)", code, out)
	}

	if out := c.mustDrover("purge", "--state", "failed"); out != "purged 3 jobs\n" {
		t.Fatalf("drover purge --state failed printed %q, want %q", out, "purged 3 jobs\n")
	}
	for _, id := range bad {
		if _, err := c.MC.GetJob(context.Background(), id); !errors.Is(err, rpcapi.ErrNotFound) {
			t.Errorf("failed job %s after the purge: %v; want not found", id, err)
		}
	}
	for _, id := range ok {
		if j := c.Job(id); j.State != jobs.Succeeded {
			t.Errorf("job %s after purging failed ones: %s", id, j.State)
		}
	}
	if j := c.Job(held); j.State != jobs.Pending {
		t.Errorf("pending job %s after the purge: %s", held, j.State)
	}

	var r struct {
		Purged *int `json:"purged"`
	}
	out := c.mustDrover("purge", "--transport", "xmlrpc", "--older-than", "1ms", "--json")
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Purged == nil || *r.Purged != 2 {
		t.Fatalf("drover purge --older-than 1ms --json printed %q (%v); want {\"purged\": 2}", out, err)
	}
	var left []map[string]any
	if err := json.Unmarshal([]byte(c.mustDrover("jobs", "--json")), &left); err != nil || len(left) != 1 || left[0]["id"] != held {
		t.Errorf("jobs after the purges: %v (%v); want only %s", left, err, held)
	}
	if out := c.mustDrover("purge", "--all"); out != "purged 0 jobs\n" {
		t.Errorf("drover purge --all with only a live job printed %q", out)
	}
}
