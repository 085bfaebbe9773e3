package worker

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
)

// TestTemplatePlaceholders: the built-ins, defaults and env of a template
// as the README's worker.toml table describes them.
func TestTemplatePlaceholders(t *testing.T) {
	cmd := Command{Argv: []string{"crawl", "{spider}", "allow={allow:}", "depth={depth:2}", "out/{job_id}-{attempt}.jl",
		"{group}", "{group:none}", "on {worker}"},
		Env: map[string]string{"FEED": "/data/{group:adhoc}/{job_id}.jl", "LANG": "C"}}
	vars, err := jobVars(cmd, map[string]string{"spider": "news", "depth": "5"}, "17", 3, "", "w-1")
	if err != nil {
		t.Fatal(err)
	}
	argv, _, env, err := expand(cmd, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"crawl", "news", "allow=", "depth=5", "out/17-3.jl", "", "none", "on w-1"}
	if !slices.Equal(argv, want) {
		t.Errorf("argv = %q, want %q", argv, want)
	}
	if want := []string{"FEED=/data/adhoc/17.jl", "LANG=C"}; !slices.Equal(env, want) {
		t.Errorf("env = %q, want %q", env, want)
	}
	vars, _ = jobVars(cmd, map[string]string{"spider": "s"}, "18", 1, "nightly", "w-2")
	argv, _, env, _ = expand(cmd, vars)
	if argv[3] != "depth=2" || argv[5] != "nightly" || argv[6] != "nightly" || env[0] != "FEED=/data/nightly/18.jl" {
		t.Errorf("with a group and no depth: argv %q env %q", argv, env)
	}
}

func TestTemplateReservedAndBadEnv(t *testing.T) {
	cmd := Command{Argv: []string{"echo", "{job_id}"}}
	_, err := jobVars(cmd, map[string]string{"job_id": "forged"}, "17", 1, "", "w")
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), `arg "job_id" is not the job's to give`) {
		t.Fatalf("a job arg job_id: err = %v", err)
	}
	// Not used by the template: ignored like any unused arg.
	if _, err := jobVars(Command{Argv: []string{"true"}}, map[string]string{"job_id": "x"}, "1", 1, "", "w"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DROVER_RESULT": "/x"}, `env name "DROVER_RESULT": DROVER_* variables are set by the worker`},
		{map[string]string{"A=B": "1"}, `env name "A=B"`},
		{map[string]string{"": "1"}, `env name ""`},
		{map[string]string{"A": "{x"}, `env A "{x": bad placeholder`},
		{map[string]string{"A": "{x:{y}"}, `a default cannot hold a brace`},
	} {
		c := Config{Commands: map[string]Command{"c": {Argv: []string{"true"}, Env: tc.env}}}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %q: err = %v, want %q", tc.env, err, tc.want)
		}
	}
}

// TestRunCommandTemplateEnv: a template's env reaches the process over the
// worker's own variables, and the worker's DROVER_* still do not.
func TestRunCommandTemplateEnv(t *testing.T) {
	t.Setenv("DROVER_TOKEN", "secret-tok")
	t.Setenv("LANG", "worker-lang")
	cmd := Command{Argv: []string{"env"}, Env: map[string]string{"LANG": "C.UTF-8", "FEED": "out/{job_id}.jl"}}
	res, err := runCommand(t.Context(), cmd, map[string]string{"job_id": "9"}, []string{"DROVER_JOB_ID=9"}, "", 0, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range []string{"LANG=C.UTF-8", "FEED=out/9.jl", "DROVER_JOB_ID=9"} {
		if !strings.Contains("\n"+res.Output, "\n"+kv+"\n") {
			t.Errorf("the job's environment lacks %s:\n%s", kv, res.Output)
		}
	}
	if strings.Contains(res.Output, "secret-tok") || strings.Contains(res.Output, "worker-lang") {
		t.Errorf("the job sees the worker's token or its LANG:\n%s", res.Output)
	}
}

func TestEffectiveTimeout(t *testing.T) {
	tmpl := &Command{Timeout: time.Minute}
	for _, tc := range []struct {
		job  time.Duration
		cmd  *Command
		want string
		from string
	}{
		{10 * time.Minute, tmpl, "1m0s (the command template's timeout; the job's is 10m0s)", TimeoutFromTemplate},
		{30 * time.Second, tmpl, "30s (the job's timeout)", TimeoutFromJob},
		{0, tmpl, "1m0s (the command template's timeout; the job has none)", TimeoutFromTemplate},
		{time.Second, nil, "1s (the job's timeout)", TimeoutFromJob},
		{0, &Command{}, "0s", ""},
	} {
		got := effectiveTimeout(tc.job, tc.cmd)
		if tc.from != "" && got.String() != tc.want || got.from != tc.from {
			t.Errorf("job %s, template %v: %q from %q, want %q from %q", tc.job, tc.cmd, got, got.from, tc.want, tc.from)
		}
	}
}

// runShell runs script with sh -c under cmd's rules, and judges it.
func runShell(t *testing.T, cmd Command, script string) (jobs.Result, error) {
	t.Helper()
	cmd.Argv = []string{"sh", "-c", script}
	watch := newOutputWatch(cmd)
	var res jobs.Result
	var err error
	if watch != nil {
		res, err = runCommand(t.Context(), cmd, nil, nil, "", 0, time.Second, watch)
	} else {
		res, err = runCommand(t.Context(), cmd, nil, nil, "", 0, time.Second, nil)
	}
	return judge(t.Context(), cmd, watch, res, err)
}

// TestSuccessRules: fail_if, permanent_exit_codes and retry_exit_codes
// as the README's "Success rules" says.
func TestSuccessRules(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	failIf := []string{"^ERROR:", "Traceback"}
	for _, tc := range []struct {
		name      string
		cmd       Command
		script    string
		wantErr   string // empty: success
		permanent bool
	}{
		{"clean exit 0", Command{FailIf: failIf}, "echo fine; echo 'no ERROR: here'", "", false},
		{"fail_if on stderr", Command{FailIf: failIf}, "echo ok; echo 'Traceback (most recent call last):' >&2",
			`output matched fail_if "Traceback": "Traceback (most recent call last):"`, false},
		{"fail_if anchored", Command{FailIf: failIf}, "printf 'x\\nERROR: boom'", `matched fail_if "^ERROR:": "ERROR: boom"`, false},
		{"exit code not judged by fail_if", Command{FailIf: failIf}, "echo ERROR: x; exit 3", "worker: exit status 3", false},
		{"permanent exit code", Command{PermanentExitCodes: []int{2}}, "exit 2", "permanent_exit_codes", true},
		{"other exit code retried", Command{PermanentExitCodes: []int{2}}, "exit 1", "worker: exit status 1", false},
		{"retry list: listed code retried", Command{RetryExitCodes: []int{75}}, "exit 75", "worker: exit status 75", false},
		{"retry list: other code permanent", Command{RetryExitCodes: []int{75}}, "exit 1", "not in retry_exit_codes", true},
		{"exit 0 with retry list", Command{RetryExitCodes: []int{75}}, "true", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runShell(t, tc.cmd, tc.script)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want success", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			case err != nil && IsPermanent(err) != tc.permanent:
				t.Fatalf("IsPermanent(%v) = %v, want %v", err, IsPermanent(err), tc.permanent)
			}
		})
	}
}

// TestSuccessRulesLeaveStoppedRuns: a run its context stopped keeps its
// timeout error, whatever its output matched.
func TestSuccessRulesLeaveStoppedRuns(t *testing.T) {
	cmd := Command{Argv: []string{"sh", "-c", "echo Traceback; exec sleep 5"}, FailIf: []string{"Traceback"}, PermanentExitCodes: []int{1}}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	watch := newOutputWatch(cmd)
	res, err := runCommand(ctx, cmd, nil, nil, "", 0, 100*time.Millisecond, watch)
	_, err = judge(ctx, cmd, watch, res, err)
	if !errors.Is(err, context.DeadlineExceeded) || IsPermanent(err) {
		t.Fatalf("err = %v, want the timeout, not permanent", err)
	}
}

// TestOutputWatchLongLines: a line longer than maxWatchLine is looked at
// up to that length, and lines split across writes are joined.
func TestOutputWatchLongLines(t *testing.T) {
	w := newOutputWatch(Command{FailIf: []string{"^needle$", "^x+TAIL"}})
	w.Write([]byte("nee"))
	w.Write([]byte("dle\n"))
	if w.pattern != "^needle$" {
		t.Fatalf("split line: pattern %q", w.pattern)
	}
	w = newOutputWatch(Command{FailIf: []string{"TAIL"}})
	w.Write([]byte(strings.Repeat("x", maxWatchLine+10) + "TAIL\nnext\n"))
	w.close()
	if w.pattern != "" || len(w.line) != 0 {
		t.Fatalf("past maxWatchLine: matched %q, line of %d kept", w.pattern, len(w.line))
	}
}

// TestWatchStreamsApart: with the full log's two pipes, a partial line on
// stdout never joins a line on stderr before the fail_if watch sees it.
func TestWatchStreamsApart(t *testing.T) {
	cmd := Command{Argv: []string{"sh", "-c", `printf ab; sleep 0.1; printf 'ERROR: x\n' >&2; sleep 0.1; printf 'cd\n'`},
		FailIf: []string{"^ERROR: x$", "^abcd$"}}
	watch := newOutputWatch(cmd)
	if _, err := runCommandTo(context.Background(), cmd, nil, nil, "", 1<<10, time.Second, watch, io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	watch.close()
	if watch.pattern != "^ERROR: x$" || watch.matched != "ERROR: x" {
		t.Errorf("first match %q on %q; want the stderr line whole, not joined to stdout's partial line", watch.pattern, watch.matched)
	}
}
