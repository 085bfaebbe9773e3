package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// pgRun runs the drover binary against addr and returns its stdout, stderr
// and exit code.
func pgRun(t *testing.T, addr string, args ...string) (string, string, int) {
	t.Helper()
	r := runDrover(t, addr, args...)
	return r.Stdout, r.Stderr, r.Code
}

var pgHint = regexp.MustCompile(`^more (jobs|workers) than this page: add --cursor (\S+) for the next page, or --all for every page\n$`)

// pgIDs returns the first column of a table, without its header, or the
// IDs of a JSON array.
func pgIDs(t *testing.T, out string, asJSON bool) []string {
	t.Helper()
	var ids []string
	if asJSON {
		var list []struct{ ID string }
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("%v in %q", err, out)
		}
		for _, v := range list {
			ids = append(ids, v.ID)
		}
		return ids
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "ID ") {
		t.Fatalf("no table header in %q", out)
	}
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "ID ") {
			continue // --all without --json: a header at the top only
		}
		ids = append(ids, strings.Fields(l)[0])
	}
	return ids
}

func pgCount(from, to int) []string {
	var ids []string
	for i := from; ; {
		ids = append(ids, fmt.Sprint(i))
		if i == to {
			return ids
		}
		if from < to {
			i++
		} else {
			i--
		}
	}
}

// TestCLIPaging: `drover jobs` shows the newest page and says on stderr how
// to get the next one or all; --cursor follows it, --all lists everything
// (also as one JSON array), --order asc starts at the oldest. The same for
// `drover workers`. The master runs in process, on loopback.
func TestCLIPaging(t *testing.T) {
	c := drovertest.Start(t, drovertest.Options{Workers: -1,
		HeartbeatInterval: 100 * time.Millisecond, DeadAfter: 30 * time.Second})
	addr, mc := c.Addr(), c.Client()
	ctx := context.Background()
	specs := make([]jobs.Spec, 250)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "t", Args: map[string]string{"n": fmt.Sprint(i + 1)}}
	}
	c.Submit(specs...)

	out, errOut, code := pgRun(t, addr, "jobs")
	if code != 0 || !slices.Equal(pgIDs(t, out, false), pgCount(250, 151)) {
		t.Fatalf("drover jobs: exit %d, ids %v", code, pgIDs(t, out, false))
	}
	hint := pgHint.FindStringSubmatch(errOut)
	if hint == nil || hint[1] != "jobs" {
		t.Fatalf("drover jobs: stderr %q, want one line with --cursor and --all", errOut)
	}
	out, errOut, _ = pgRun(t, addr, "jobs", "--cursor", hint[2], "--json")
	if got := pgIDs(t, out, true); !slices.Equal(got, pgCount(150, 51)) || pgHint.FindStringSubmatch(errOut) == nil {
		t.Fatalf("drover jobs --cursor: %v, stderr %q", got, errOut)
	}
	out, errOut, _ = pgRun(t, addr, "jobs", "--all", "--json")
	if got := pgIDs(t, out, true); !slices.Equal(got, pgCount(250, 1)) || errOut != "" {
		t.Fatalf("drover jobs --all --json: %d jobs, stderr %q", len(got), errOut)
	}
	out, errOut, _ = pgRun(t, addr, "jobs", "--all", "--limit", "7", "--order", "asc")
	if got := pgIDs(t, out, false); !slices.Equal(got, pgCount(1, 250)) || errOut != "" {
		t.Fatalf("drover jobs --all --limit 7 --order asc: %v, stderr %q", got, errOut)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--limit", "3"}, pgCount(250, 248)},
		{[]string{"--limit", "3", "--order", "asc", "--json"}, pgCount(1, 3)},
		{[]string{"--limit", "2", "--transport", "xmlrpc", "--json"}, pgCount(250, 249)},
		{[]string{"--state", "running", "--json"}, nil},
	} {
		out, errOut, code := pgRun(t, addr, append([]string{"jobs"}, tc.args...)...)
		asJSON := slices.Contains(tc.args, "--json")
		if got := pgIDs(t, out, asJSON); code != 0 || !slices.Equal(got, tc.want) || (tc.want == nil) != (errOut == "") {
			t.Errorf("drover jobs %v: exit %d, %v, stderr %q; want %v", tc.args, code, got, errOut, tc.want)
		}
	}
	if out, _, _ := pgRun(t, addr, "jobs", "--state", "running", "--json"); out != "[]\n" {
		t.Errorf("an empty listing in JSON: %q", out)
	}
	for _, args := range [][]string{{"--limit", "1001"}, {"--cursor", "bogus"}, {"--order", "up"}} {
		out, errOut, code := pgRun(t, addr, append([]string{"jobs"}, args...)...)
		if code == 0 || out != "" || errOut == "" {
			t.Errorf("drover jobs %v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}

	var wids []string
	for i := range 3 {
		r, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: fmt.Sprint("p", i), Types: []string{"t"}, Slots: 1, Mode: rpcapi.ModePull})
		if err != nil {
			t.Fatal(err)
		}
		wids = append(wids, r.WorkerID)
	}
	out, errOut, _ = pgRun(t, addr, "workers", "--limit", "2")
	hint = pgHint.FindStringSubmatch(errOut)
	if got := pgIDs(t, out, false); !slices.Equal(got, []string{wids[2], wids[1]}) || hint == nil || hint[1] != "workers" {
		t.Fatalf("drover workers --limit 2: %v, stderr %q", got, errOut)
	}
	out, errOut, _ = pgRun(t, addr, "workers", "--cursor", hint[2], "--json")
	if got := pgIDs(t, out, true); !slices.Equal(got, wids[:1]) || errOut != "" {
		t.Fatalf("drover workers --cursor: %v, stderr %q", got, errOut)
	}
	out, _, _ = pgRun(t, addr, "workers", "--all", "--limit", "1", "--order", "asc", "--json")
	if got := pgIDs(t, out, true); !slices.Equal(got, wids) {
		t.Fatalf("drover workers --all --order asc: %v", got)
	}
}
