package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestCLIQueues: "drover queues" lists the lanes biggest first (smallest
// first with --reverse) with why their jobs wait, as a table and as
// JSON; "drover status" puts the jobs no worker can run at its top, and
// in its JSON; a bad --limit is a usage error.
func TestCLIQueues(t *testing.T) {
	c := startCluster(t, 1, cliCommands)
	for range 3 {
		c.mustDrover("submit", "--type", "ocr", "--arg", "page=1")
	}
	slow := strings.TrimSpace(c.mustDrover("submit", "--type", "sleep", "--arg", "seconds=60"))
	testproc.Poll(t, 10*time.Second, "the sleep job running", func() bool { return c.Job(slow).State == jobs.Running })
	t.Cleanup(func() { runDrover(t, c.Addr, "cancel", slow) })

	reason := `no live worker has type "ocr" (live workers have: echo, fail, sleep)`
	var rows []rpcapi.QueueView
	if err := json.Unmarshal([]byte(c.mustDrover("queues", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Type != "ocr" || rows[0].Pending != 3 || len(rows[0].Waiting) != 1 ||
		rows[0].Waiting[0] != (rpcapi.WaitCount{Reason: reason, Count: 3}) || rows[1].Type != "sleep" || rows[1].Running != 1 {
		t.Fatalf("queues --json: %+v, want ocr (3 pending, no worker) then sleep (1 running)", rows)
	}
	out := c.mustDrover("queues", "--reverse")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TYPE") || !strings.HasPrefix(lines[1], "sleep ") ||
		!strings.HasPrefix(lines[2], "ocr ") || !strings.Contains(lines[2], "3: "+reason) {
		t.Fatalf("queues --reverse:\n%s", out)
	}
	if out := c.mustDrover("queues", "--type", "sleep", "--limit", "1"); strings.Contains(out, "ocr") || !strings.Contains(out, "sleep") {
		t.Fatalf("queues --type sleep:\n%s", out)
	}
	if _, code := c.drover("queues", "--limit", "-1"); code != 2 {
		t.Fatalf("queues --limit -1: exit %d, want 2", code)
	}

	out = c.mustDrover("status")
	want := "needs attention:\n  ! 3 pending jobs of type \"ocr\": " + reason + "\n"
	if !strings.HasPrefix(out, want) {
		t.Fatalf("status:\n%s\nwant it to begin\n%s", out, want)
	}
	var st struct {
		Attention []rpcapi.Attention `json:"attention"`
	}
	if err := json.Unmarshal([]byte(c.mustDrover("status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Attention) != 1 || st.Attention[0].Kind != rpcapi.AttentionNoWorker || st.Attention[0].Count != 3 {
		t.Fatalf("status --json attention %+v", st.Attention)
	}
}
