package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/drover/drover/jobs"
)

// TestCLISubmitFollowUpIDSurvivesKill: drover submit of a group whose first
// job has a then prints the ID reserved for the follow-up ("follow-up of
// group G: ID") and --json has it in then_ids; drover job of that ID exits
// 5 saying it is not made yet, also after the master is killed with
// SIGKILL and restarted; no other job gets the ID; and when the group
// ends the follow-up is made with it (docs/protocol.md, submit_jobs).
func TestCLISubmitFollowUpIDSurvivesKill(t *testing.T) {
	c := startCluster(t, 1, cliCommands+`
[commands.waitfile]
argv = ["sh", "-c", "while [ ! -e \"$1\" ]; do sleep 0.05; done", "waitfile", "{path}"]
`)
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	file := filepath.Join(dir, "chord.toml")
	body := `[[job]]
type = "waitfile"
group = "held"
retries = 3
args = {path = "` + gate + `"}
[job.then]
type = "echo"
args = {text = "merged"}

[[job]]
type = "echo"
group = "held"
args = {text = "b"}
`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out := c.mustDrover("submit", "--file", file)
	m := regexp.MustCompile(`(?m)^follow-up of group held: (\d+)$`).FindStringSubmatch(out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if m == nil || len(lines) != 3 || lines[0] == m[1] || lines[1] == m[1] {
		t.Fatalf("drover submit of a group with a then:\n%s", out)
	}
	then := m[1]

	var js struct {
		IDs     []string `json:"ids"`
		ThenIDs []struct {
			Group, ID string
		} `json:"then_ids"`
	}
	if err := json.Unmarshal([]byte(c.mustDrover("submit", "--json", "--file", chordFile(t, "other", "echo"))), &js); err != nil ||
		len(js.ThenIDs) != 1 || js.ThenIDs[0].Group != "other" || js.ThenIDs[0].ID == "" || js.ThenIDs[0].ID == then {
		t.Fatalf("drover submit --json: %+v, %v", js, err)
	}
	var plain map[string]json.RawMessage
	if err := json.Unmarshal([]byte(c.mustDrover("submit", "--json", "--type", "echo", "--arg", "text=x")), &plain); err != nil ||
		string(plain["then_ids"]) != "[]" {
		t.Fatalf("drover submit --json without a then: then_ids %s, %v", plain["then_ids"], err)
	}

	notMade := func(when string) {
		t.Helper()
		r := runDrover(t, c.Addr, "job", then)
		if r.Code != 5 || !strings.Contains(r.Stderr, `follow-up of group "held", not made yet`) {
			t.Fatalf("drover job %s %s: exit %d, want 5 saying it is the follow-up of group held, not made yet\nstderr: %s",
				then, when, r.Code, r.Stderr)
		}
	}
	notMade("before the restart")
	c.RestartMaster()
	notMade("after a SIGKILL and restart")
	if id := strings.TrimSpace(c.mustDrover("submit", "--type", "echo", "--arg", "text=x")); id == then {
		t.Fatalf("a new job got the reserved ID %s", id)
	}

	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var w struct {
		Done      bool       `json:"done"`
		Then      string     `json:"then"`
		ThenState jobs.State `json:"then_state"`
	}
	if err := json.Unmarshal([]byte(c.mustDrover("wait", "--json", "--timeout", "60s", "--group", "held")), &w); err != nil ||
		!w.Done || w.Then != then || w.ThenState != jobs.Succeeded {
		t.Fatalf("wait --group held: %+v, %v (reserved %s)", w, err, then)
	}
	if j := c.Job(then); j.Spec.Type != "echo" || j.Spec.Args["text"] != "merged" {
		t.Fatalf("follow-up %+v", j)
	}
}
