package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
)

// runDrover runs the drover binary with DROVER_MASTER=addr to its end.
func runDrover(t testing.TB, addr string, args ...string) testproc.Result {
	t.Helper()
	return testproc.Options{Env: []string{"DROVER_MASTER=" + addr}}.Run(t, testproc.Drover(t), args...)
}

// drover runs the binary against the cluster and returns its stdout and
// exit code.
func (c *cluster) drover(args ...string) (string, int) {
	c.t.Helper()
	r := runDrover(c.t, c.Addr, args...)
	if r.Code != 0 {
		c.t.Logf("drover %v: exit %d: %s", args, r.Code, r.Stderr)
	}
	return r.Stdout, r.Code
}

func (c *cluster) mustDrover(args ...string) string {
	c.t.Helper()
	out, code := c.drover(args...)
	if code != 0 {
		c.t.Fatalf("drover %v: exit %d", args, code)
	}
	return out
}

// submit runs drover submit with args and returns the new job's ID.
func (c *cluster) submit(args ...string) string {
	c.t.Helper()
	return strings.TrimSpace(c.mustDrover(append([]string{"submit"}, args...)...))
}

// finished submits nOK echo jobs and nFail fail jobs (of cliCommands) and
// waits for them all with drover wait, which must exit 1 (some failed); it
// returns their IDs.
func (c *cluster) finished(nOK, nFail int) (ok, failed []string) {
	c.t.Helper()
	for range nOK {
		ok = append(ok, c.submit("--type", "echo", "--arg", "text=x"))
	}
	for range nFail {
		failed = append(failed, c.submit("--type", "fail"))
	}
	if _, code := c.drover(append(append([]string{"wait"}, ok...), failed...)...); code != 1 {
		c.t.Fatalf("wait: exit %d, want 1 (some failed)", code)
	}
	return ok, failed
}

// cliCommands are the job types of the CLI tests' worker: echo prints
// arg text, fail exits 1, sleep sleeps arg seconds.
const cliCommands = `
[commands.echo]
argv = ["echo", "{text}"]
[commands.fail]
argv = ["sh", "-c", "exit 1"]
[commands.sleep]
argv = ["sleep", "{seconds}"]
`

// TestCLI drives a real master and worker through the command line: submit,
// wait's exit codes, cancel, and the JSON shapes scripts rely on.
func TestCLI(t *testing.T) {
	c := startCluster(t, 1, cliCommands)
	ok := c.submit("--type", "echo", "--arg", "text=hi there; $(rm -rf /)", "--group", "g1")
	if _, code := c.drover("wait", ok); code != 0 {
		t.Fatalf("wait on a succeeding job: exit %d", code)
	}
	var detail struct {
		ID      string         `json:"id"`
		State   jobs.State     `json:"state"`
		History []jobs.Attempt `json:"history"`
	}
	if err := json.Unmarshal([]byte(c.mustDrover("job", ok, "--json")), &detail); err != nil {
		t.Fatal(err)
	}
	if detail.State != jobs.Succeeded || len(detail.History) != 1 || detail.History[0].Output != "hi there; $(rm -rf /)\n" {
		t.Fatalf("job detail %+v", detail)
	}

	bad := c.submit("--type", "fail", "--retries", "1", "--group", "g1")
	if _, code := c.drover("wait", "--group", "g1"); code != 1 {
		t.Fatalf("wait on a group with a failed job: exit %d, want 1", code)
	}
	slow := c.submit("--type", "sleep", "--arg", "seconds=60")
	testproc.Poll(t, 10*time.Second, "the sleep job running", func() bool { return c.Job(slow).State == jobs.Running })
	if _, code := c.drover("wait", "--timeout", "300ms", slow); code != 3 {
		t.Fatalf("wait with a timeout: exit %d, want 3", code)
	}
	if out := c.mustDrover("cancel", slow); !strings.Contains(out, slow+" cancelled") {
		t.Fatalf("cancel output %q", out)
	}
	if _, code := c.drover("wait", slow); code != 1 {
		t.Fatalf("wait on a cancelled job: exit %d, want 1", code)
	}
	// A cancelled attempt had no exit of its own: its EXIT is "-".
	if out := c.mustDrover("job", slow); !regexp.MustCompile(`(?m)^\s+1\s.*\scancelled\s+-\s`).MatchString(out) {
		t.Errorf("job %s, cancelled while running: the attempt's row should show exit -:\n%s", slow, out)
	}
	c.NoJobsLeft()
	if _, code := c.drover("cancel", "9999"); code != exitNotFound {
		t.Fatalf("cancel of an unknown job: exit %d, want %d (not found)", code, exitNotFound)
	}

	var list []map[string]any
	if err := json.Unmarshal([]byte(c.mustDrover("jobs", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("jobs --json: %d jobs, want 3", len(list))
	}
	for _, k := range []string{"id", "type", "state", "attempts", "worker", "args", "group"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("jobs --json element lacks %q: %v", k, list[0])
		}
	}
	if list[1]["id"] != bad || list[1]["state"] != "failed" || list[1]["attempts"] != 2.0 {
		t.Errorf("failed job in jobs --json: %v", list[1])
	}
	var failed []map[string]any
	json.Unmarshal([]byte(c.mustDrover("jobs", "--json", "--state", "failed")), &failed)
	if len(failed) != 1 {
		t.Errorf("jobs --state failed: %v", failed)
	}
	if _, code := c.drover("jobs", "--state", "bogus"); code == 0 {
		t.Errorf("jobs --state bogus succeeded")
	}

	var workers []map[string]any
	if err := json.Unmarshal([]byte(c.mustDrover("workers", "--json")), &workers); err != nil {
		t.Fatal(err)
	}
	if len(workers) != 1 {
		t.Fatalf("workers --json: %v", workers)
	}
	for _, k := range []string{"id", "name", "addr", "state", "slots", "running", "types", "last_heartbeat"} {
		if _, ok := workers[0][k]; !ok {
			t.Errorf("workers --json element lacks %q: %v", k, workers[0])
		}
	}
	if workers[0]["state"] != "alive" || workers[0]["slots"] != 4.0 {
		t.Errorf("worker %v", workers[0])
	}
	var status struct {
		Counts map[string]int `json:"counts"`
	}
	json.Unmarshal([]byte(c.mustDrover("status", "--json")), &status)
	if status.Counts["succeeded"] != 1 || status.Counts["failed"] != 1 || status.Counts["cancelled"] != 1 {
		t.Errorf("status counts %v", status.Counts)
	}
	if out := c.mustDrover("status"); !strings.Contains(out, "; 1 worker alive;") {
		t.Errorf("status of a master with one worker:\n%s", out)
	}
	if out := c.mustDrover("job", bad); !strings.Contains(out, "failed after 2 attempts") {
		t.Errorf("job text lacks the timeline:\n%s", out)
	}

	var sub struct{ IDs []string }
	json.Unmarshal([]byte(c.mustDrover("submit", "--json", "--type", "echo", "--arg", "text=x")), &sub)
	if len(sub.IDs) != 1 {
		t.Fatalf("submit --json: %+v", sub)
	}
	var waited struct {
		Done   bool           `json:"done"`
		Counts map[string]int `json:"counts"`
	}
	if err := json.Unmarshal([]byte(c.mustDrover("wait", "--json", sub.IDs[0])), &waited); err != nil || !waited.Done || waited.Counts["succeeded"] != 1 {
		t.Errorf("wait --json: %+v %v", waited, err)
	}
	out, _ := c.drover("wait", "--group", "g1")
	if !strings.Contains(out, "succeeded 1, failed 1") || !strings.Contains(out, "(2/2 final") {
		t.Errorf("wait's plain progress line: %q", out)
	}
	grp := c.mustDrover("group", "g1")
	if !strings.Contains(grp, "group g1: failed, 2 of 2 jobs final (100%)") || !strings.Contains(grp, "hi there") {
		t.Errorf("group output:\n%s", grp)
	}
	held := c.submit("--type", "echo", "--arg", "text=later", "--delay", "1h", "--group", "g2", "--tag", "never", "--limit-key", "k")
	if w := c.Job(held); w.NotBefore.IsZero() || w.Spec.LimitKey != "k" || len(w.Spec.Tags) != 1 {
		t.Errorf("held job %+v", w)
	}
	if out := c.mustDrover("cancel", "--group", "g2"); !strings.Contains(out, held+" cancelled") {
		t.Errorf("cancel --group: %q", out)
	}
	top := c.mustDrover("top", "--count", "2", "--interval", "100ms")
	if strings.Count(top, "drover top") != 2 || !strings.Contains(top, "worker-0") || !strings.Contains(top, "jobs/s") {
		t.Errorf("top output:\n%s", top)
	}
}
