package main

import (
	"strings"
	"testing"

	"github.com/drover/drover/internal/testproc"
)

// TestCLICancelOwn runs a drover master with two client tokens and
// client_cancel = "own": "drover job" shows who submitted a job; bob's
// "drover cancel" of alice's job fails with the refusal and leaves it
// pending; his "cancel --group" cancels his own job of the group and says
// how many of alice's it skipped; alice cancels hers.
func TestCLICancelOwn(t *testing.T) {
	p, _ := startMaster(t, "tokens_file = \"tokens\"\nclient_cancel = \"own\"\n",
		map[string]string{"tokens": "alice client tok-alice-61d0e2\nbob client tok-bob-7f3a94\n"})
	as := func(token string, args ...string) testproc.Result {
		t.Helper()
		return testproc.Options{Env: []string{"DROVER_MASTER=" + p.Addr(), "DROVER_TOKEN=" + token}}.Run(t, testproc.Drover(t), args...)
	}
	must := func(token string, args ...string) string {
		t.Helper()
		r := as(token, args...)
		if r.Code != 0 {
			t.Fatalf("drover %v: exit %d: %s", args, r.Code, r.Stderr)
		}
		return strings.TrimSpace(r.Stdout)
	}
	job := must("tok-alice-61d0e2", "submit", "--type", "nobody-runs-this", "--group", "shared")
	mine := must("tok-bob-7f3a94", "submit", "--type", "nobody-runs-this", "--group", "shared")

	if out := must("tok-bob-7f3a94", "job", job); !strings.Contains(out, "submitted by alice\n") {
		t.Fatalf("drover job %s:\n%s\nwant a line: submitted by alice", job, out)
	}
	r := as("tok-bob-7f3a94", "cancel", job)
	if r.Code == 0 || !strings.Contains(r.Stderr, "only the jobs it submitted") {
		t.Fatalf("bob's drover cancel %s: exit %d, stderr %q; want the refusal", job, r.Code, r.Stderr)
	}
	if out := must("tok-bob-7f3a94", "job", job); !strings.Contains(out, "state pending") {
		t.Fatalf("alice's job after bob's cancel:\n%s\nwant it pending", out)
	}
	out := must("tok-bob-7f3a94", "cancel", "--group", "shared")
	if !strings.Contains(out, mine+" cancelled\n") || !strings.Contains(out, "1 live jobs of group shared skipped") || strings.Contains(out, job+" cancelled") {
		t.Fatalf("bob's drover cancel --group shared:\n%s\nwant %s cancelled and 1 skipped", out, mine)
	}
	if out := must("tok-alice-61d0e2", "cancel", job); out != job+" cancelled" {
		t.Fatalf("alice's drover cancel %s: %q", job, out)
	}
}
