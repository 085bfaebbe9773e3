package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover/drover/jobs"
)

// chordFile writes a jobs file of two echo jobs in group g, the first
// with a follow-up job of type then, and returns its path.
func chordFile(t *testing.T, g, then string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "chord.toml")
	body := `[[job]]
type = "echo"
group = "` + g + `"
args = {text = "a"}
[job.then]
type = "` + then + `"
args = {text = "merged"}

[[job]]
type = "echo"
group = "` + g + `"
args = {text = "b"}
`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLIWaitGroupFollowUp: drover wait --group waits for the group's
// follow-up job too, says how it ended, and takes its exit code from it
// as well (README: 0 every job waited for succeeded, 1 some job failed);
// drover group shows the follow-up.
func TestCLIWaitGroupFollowUp(t *testing.T) {
	c := startCluster(t, 1, cliCommands)
	c.mustDrover("submit", "--file", chordFile(t, "good", "echo"))
	out, code := c.drover("wait", "--group", "good")
	if code != 0 || !strings.Contains(out, "succeeded 3") {
		t.Fatalf("wait --group good: exit %d, want 0, with the follow-up counted:\n%s", code, out)
	}
	var w struct {
		Done      bool           `json:"done"`
		Counts    map[string]int `json:"counts"`
		Then      string         `json:"then"`
		ThenState jobs.State     `json:"then_state"`
	}
	if err := json.Unmarshal([]byte(c.mustDrover("wait", "--json", "--group", "good")), &w); err != nil ||
		!w.Done || w.Then == "" || w.ThenState != jobs.Succeeded || w.Counts["succeeded"] != 3 {
		t.Fatalf("wait --json --group good: %+v %v", w, err)
	}
	if !strings.Contains(out, "follow-up job "+w.Then+" succeeded") {
		t.Errorf("wait --group good does not name the follow-up %s:\n%s", w.Then, out)
	}
	if j := c.Job(w.Then); j.State != jobs.Succeeded || j.Spec.Type != "echo" || j.Spec.Args["text"] != "merged" {
		t.Errorf("follow-up job %+v", j)
	}
	if grp := c.mustDrover("group", "good"); !strings.Contains(grp, "follow-up job "+w.Then+" succeeded") {
		t.Errorf("drover group good does not show the follow-up:\n%s", grp)
	}

	// Every job of the group succeeds, its follow-up fails: exit 1.
	c.mustDrover("submit", "--file", chordFile(t, "bad", "fail"))
	r := runDrover(t, c.Addr, "wait", "--group", "bad")
	if r.Code != 1 || !strings.Contains(r.Stdout, " failed\n") || !strings.Contains(r.Stderr, "1 jobs did not succeed") {
		t.Fatalf("wait --group bad: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}

	// Its failed follow-up purged (it is not a member of the group): how
	// it ended is not known, and wait still exits 1, saying why.
	c.mustDrover("purge", "--state", "failed", "--type", "fail")
	r = runDrover(t, c.Addr, "wait", "--group", "bad")
	if r.Code != 1 || !strings.Contains(r.Stderr, "is gone") {
		t.Fatalf("wait --group bad, its follow-up purged: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
}
