package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestExitCodes provokes every exit code the README documents from the
// real binary, against a real master and worker (or, for 4, an address
// where nothing listens), and checks what stderr says.
func TestExitCodes(t *testing.T) {
	c := startCluster(t, 1, cliCommands)
	ok := c.submit("--type", "echo", "--arg", "text=hi")
	bad := c.submit("--type", "fail")
	slow := c.submit("--type", "sleep", "--arg", "seconds=60")
	t.Cleanup(func() { c.drover("cancel", slow) })
	testproc.Poll(t, 10*time.Second, "the sleep job running", func() bool { return c.Job(slow).State == jobs.Running })
	dead := testnet.RefusedAddr(t)
	standby := drovertest.ServeStandby(t, func() string { return c.Addr })
	for _, tc := range []struct {
		code     int
		env      string // DROVER_MASTER; "" for the cluster's
		args     []string
		inStderr string
	}{
		{0, "", []string{"wait", ok}, ""},
		{0, "", []string{"job", ok}, ""},
		{1, "", []string{"wait", ok, bad}, "did not succeed: " + bad},
		{2, "", []string{"sumbit", "--type", "echo"}, "did you mean submit?"},
		{2, "", []string{"job"}, "want one job ID"},
		{2, "", []string{"jobs", "--bogus"}, "unknown flag: --bogus"},
		{2, "", []string{"jobs", "--limit", "2", "--limit", "3"}, "--limit takes one value"},
		{2, "", []string{"wait", "--group", "a", "--group", "b"}, "--group takes one value"},
		{2, "", []string{"jobs", "--reverse", "--order", "asc"}, "--reverse and --order"},
		{2, "", []string{"jobs", "--state", "bogus"}, `unknown state "bogus"`},
		{3, "", []string{"wait", "--timeout", "300ms", slow}, "timed out after 300ms"},
		{4, dead, []string{"status"}, "cannot reach the master at " + dead + " (from $DROVER_MASTER)"},
		{4, dead, []string{"jobs", "--master", dead}, "cannot reach the master at " + dead + " (from --master)"},
		{4, dead, []string{"wait", "--retry-for", "0", ok}, "cannot reach the master at " + dead},
		{4, standby, []string{"status"}, "the leader is at " + c.Addr},
		{5, "", []string{"job", "999999"}, `job "999999"`},
		{5, "", []string{"wait", "999999"}, `job "999999"`},
		{5, "", []string{"cancel", "999999"}, "999999: no such job"},
		{1, "", []string{"cancel", "999999", ok}, "already succeeded"},
		{5, "", []string{"group", "no-such-group"}, `group "no-such-group" has no jobs`},
		{5, "", []string{"schedule", "pause", "no-such-schedule"}, "no-such-schedule"},
		{5, "", []string{"logs", ok, "--attempt", "7"}, "no attempt 7"},
	} {
		addr := c.Addr
		if tc.env != "" {
			addr = tc.env
		}
		r := testproc.Options{Env: []string{"DROVER_MASTER=" + addr}, Timeout: 30 * time.Second}.Run(t, testproc.Drover(t), tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.inStderr) {
			t.Errorf("drover %v: exit %d, stderr %q; want exit %d with %q", tc.args, r.Code, r.Stderr, tc.code, tc.inStderr)
		}
	}
}

// TestWaitDeadMaster: drover wait against an address where nothing
// listens says so at once on stderr, naming the address and where it came
// from, retries for --retry-for (30s by default), then exits 4.
func TestWaitDeadMaster(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		bound time.Duration
	}{
		{"retry-for 5s", []string{"--retry-for", "5s"}, 5 * time.Second},
		{"default", nil, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dead, bin := testnet.RefusedAddr(t), testproc.Drover(t)
			start := time.Now()
			p := testproc.Options{Env: []string{"DROVER_MASTER=" + dead}}.Start(t, bin, append([]string{"wait", "1"}, tc.args...)...)
			// At once: well before the bound (a slow start under -race on a
			// busy machine takes a second or so).
			line := p.WaitFor("cannot reach the master at "+dead+" (from $DROVER_MASTER)", tc.bound/2)
			if !strings.Contains(line, "retrying for "+tc.bound.String()) {
				t.Errorf("the first line on stderr %q does not say how long wait retries", line)
			}
			if !p.WaitExit(tc.bound + 10*time.Second) {
				t.Fatalf("drover wait still runs %s after it started; its bound is %s", time.Since(start), tc.bound)
			}
			took := time.Since(start)
			var ee *exec.ExitError
			if err := p.Err(); !errors.As(err, &ee) || ee.ExitCode() != exitUnreachable {
				t.Fatalf("drover wait ended with %v after %s, want exit 4; stderr:\n%s", err, took, p.Stderr())
			}
			if took < tc.bound {
				t.Errorf("drover wait gave up after %s, before its bound %s", took, tc.bound)
			}
		})
	}
}

// TestCompletionBash: the bash completion script loads in bash and
// registers drover; zsh's and fish's are printed.
func TestCompletionBash(t *testing.T) {
	bin := testproc.Drover(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	r := testproc.Options{Timeout: 30 * time.Second}.Run(t, "bash", "-c", `source <("$0" completion bash) && complete -p drover`, bin)
	if r.Code != 0 || !strings.Contains(r.Stdout, "complete") || !strings.HasSuffix(strings.TrimSpace(r.Stdout), " drover") {
		t.Errorf("loading the bash completion: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	for _, sh := range []string{"zsh", "fish"} {
		r := testproc.Run(t, bin, "completion", sh)
		if r.Code != 0 || !strings.Contains(r.Stdout, "drover") {
			t.Errorf("drover completion %s: exit %d, %d bytes: %s", sh, r.Code, len(r.Stdout), r.Stderr)
		}
	}
	// The completion of a flag's values: --state of drover jobs.
	r = testproc.Run(t, bin, "__complete", "jobs", "--state", "")
	if r.Code != 0 || !strings.Contains(r.Stdout, "failed\n") || !strings.Contains(r.Stdout, "cancelled\n") {
		t.Errorf("completing jobs --state: exit %d: %s", r.Code, r.Stdout)
	}
}

// TestHelp: "drover help CMD" and "drover CMD -h" print that command's
// usage with its flags and examples, not the list of commands; "drover
// help" lists every command and the exit codes.
func TestHelp(t *testing.T) {
	bin := testproc.Drover(t)
	for _, args := range [][]string{{"help", "submit"}, {"submit", "-h"}, {"submit", "--help"}} {
		r := testproc.Run(t, bin, args...)
		for _, want := range []string{"drover submit --type T", "Examples:", "drover submit --type echo", "--arg name=value", "--master addr"} {
			if r.Code != 0 || !strings.Contains(r.Stdout, want) {
				t.Errorf("drover %v: exit %d, output lacks %q:\n%s", args, r.Code, want, r.Stdout)
			}
		}
		if strings.Contains(r.Stdout, "Client commands") {
			t.Errorf("drover %v prints the list of commands:\n%s", args, r.Stdout)
		}
	}
	r := testproc.Run(t, bin, "help")
	for _, c := range commands() {
		if !strings.Contains(r.Stdout, "\n  "+c.name+" ") {
			t.Errorf("drover help does not list %s", c.name)
		}
	}
	for _, want := range []string{"completion", "3  timed out", "4  the master cannot be reached", "5  not found"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("drover help lacks %q:\n%s", want, r.Stdout)
		}
	}
	if r := testproc.Run(t, bin, "help", "sumbit"); r.Code != exitUsage || !strings.Contains(r.Stderr, "did you mean submit?") {
		t.Errorf("drover help sumbit: exit %d:\n%s", r.Code, r.Output)
	}
}

// TestVersion: drover version and --version print the module version,
// the commit and the Go version; the master says the same of itself in
// its status (RPC and JSON API) and in drover_build_info on /metrics.
func TestVersion(t *testing.T) {
	bin := testproc.Drover(t)
	var v rpcapi.BuildInfo
	r := testproc.Run(t, bin, "version", "--json")
	if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil || v.Version == "" || v.Commit == "" || !strings.HasPrefix(v.GoVersion, "go") {
		t.Fatalf("drover version --json: %q, %v", r.Stdout, err)
	}
	line := "drover version " + v.Version + ", commit " + v.Commit + ", " + v.GoVersion + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if r := testproc.Run(t, bin, args...); r.Code != 0 || r.Stdout != line {
			t.Errorf("drover %v: exit %d, %q; want %q", args, r.Code, r.Stdout, line)
		}
	}

	c := startCluster(t, 0, "")
	var st struct{ Version rpcapi.BuildInfo }
	if err := json.Unmarshal([]byte(c.mustDrover("status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if got := st.Version; got != v {
		t.Errorf("drover status --json: the master's version %+v, want %+v", got, v)
	}
	if out := c.mustDrover("status"); !strings.Contains(out, "master "+strings.TrimPrefix(line, "drover ")) {
		t.Errorf("drover status does not show the master's version:\n%s", out)
	}
	var api struct{ Version rpcapi.BuildInfo }
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+c.Addr+"/api/v1/status")), &api); err != nil || api.Version != st.Version {
		t.Errorf("GET /api/v1/status: version %+v (%v), want %+v", api.Version, err, st.Version)
	}
	want := `drover_build_info{commit="` + v.Commit + `",goversion="` + v.GoVersion + `",version="` + v.Version + `"} 1`
	if m := httpGet(t, "http://"+c.Addr+"/metrics"); !strings.Contains(m, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, res.Status, err)
	}
	return string(b)
}

// TestREADMECLI: the README's CLI table has a row for every command, and
// its exit-code table has the codes "drover help" lists, each once.
func TestREADMECLI(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, c := range commands() {
		if !strings.Contains(readme, "\n| `drover "+c.name+" ") && !strings.Contains(readme, "\n| `drover "+c.name+"`") {
			t.Errorf("the README's CLI table has no row for drover %s", c.name)
		}
	}
	_, table, ok := strings.Cut(readme, "| code | meaning |\n| --- | --- |\n")
	if !ok {
		t.Fatal("the README has no exit-code table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	var codes []string
	for _, row := range strings.Split(table, "\n") {
		codes = append(codes, strings.TrimSpace(strings.Split(row, "|")[1]))
	}
	var help []string
	for _, l := range strings.Split(exitCodes, "\n")[1:] {
		help = append(help, strings.Fields(l)[0])
	}
	if !slices.Equal(codes, help) {
		t.Errorf("the README's exit codes are %v, drover help's %v", codes, help)
	}
}

// TestScheduleNotFoundCLI: every drover schedule action on an unknown
// schedule exits 5 and says on stderr that there is no such schedule
// (run and delete go through the JSON API, pause and resume over RPC).
func TestScheduleNotFoundCLI(t *testing.T) {
	c := startCluster(t, 0, cliCommands)
	for _, op := range []string{"pause", "resume", "run", "delete"} {
		r := testproc.Options{Env: []string{"DROVER_MASTER=" + c.Addr}, Timeout: 30 * time.Second}.
			Run(t, testproc.Drover(t), "schedule", op, "nope")
		if r.Code != exitNotFound || !strings.Contains(r.Stderr, `no schedule "nope"`) {
			t.Errorf("drover schedule %s nope: exit %d, stderr %q; want exit 5 saying no schedule \"nope\"", op, r.Code, r.Stderr)
		}
		t.Logf("drover schedule %s nope: %s", op, strings.TrimSpace(r.Stderr))
	}
}
