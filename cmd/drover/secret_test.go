package main

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
)

// testToken is the token of the clusters in this file: distinctive, so
// that finding it in any output is a leak.
const testToken = "drover-test-token-7f3a9c51"

// startTokenCluster starts a master with testToken and workers that take
// it from both DROVER_TOKEN and a token_file, with FOO=bar and
// DROVER_TOKEN_FILE in their environment and an "env" command that prints
// a job's environment. It returns the cluster and the token file.
func startTokenCluster(t *testing.T, workers int) (*testproc.Cluster, string) {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, testToken+"\n")
	c := testproc.StartCluster(t, testproc.ClusterConfig{Workers: workers, Token: testToken,
		WorkerEnv: []string{"DROVER_TOKEN=" + testToken, "DROVER_TOKEN_FILE=" + tokenFile, "FOO=bar"},
		Worker: fmt.Sprintf(`
token_file = %q
[commands.env]
argv = ["env"]
`, tokenFile)})
	return c, tokenFile
}

// TestJobEnvHasNoToken: a worker process holding the token in DROVER_TOKEN
// runs an "env" job; the job's output, read back from the master, has the
// worker's ordinary variables (FOO=bar) and its own DROVER_* variables, but
// neither the token nor any other DROVER_* variable of the worker.
func TestJobEnvHasNoToken(t *testing.T) {
	c, _ := startTokenCluster(t, 1)
	id := c.Submit(jobs.Spec{Type: "env"})[0]
	var j jobs.Job
	testproc.Poll(t, 20*time.Second, "the env job to finish", func() bool { j = c.Job(id); return j.State.Final() })
	if j.State != jobs.Succeeded || len(j.Attempts) != 1 {
		t.Fatalf("job %s: %s, attempts %+v", id, j.State, j.Attempts)
	}
	out := j.Attempts[0].Output
	if strings.Contains(out, testToken) {
		t.Error("the job's output holds the token")
	}
	var drover []string
	for line := range strings.Lines(out) {
		if name, _, _ := strings.Cut(line, "="); strings.HasPrefix(name, "DROVER_") {
			drover = append(drover, name)
		}
	}
	slices.Sort(drover)
	want := "DROVER_ATTEMPT DROVER_GROUP DROVER_JOB_ID DROVER_MASTER DROVER_RESULT"
	if runtime.GOOS == "linux" {
		want = "DROVER_ATTEMPT DROVER_GROUP DROVER_JOB_ID DROVER_JOB_MARK DROVER_MASTER DROVER_RESULT"
	}
	if strings.Join(drover, " ") != want {
		t.Errorf("the job's DROVER_* variables are %v, want %s", drover, want)
	}
	if !strings.Contains("\n"+out, "\nFOO=bar\n") {
		t.Errorf("the job's environment lacks the worker's FOO=bar:\n%s", out)
	}
}

// TestCLITokenFile: client commands send the token of --token-file or
// $DROVER_TOKEN; a missing or empty token file, or --token with
// --token-file, is a usage error (exit 2) naming the problem; no token is
// refused by the master (exit 4).
func TestCLITokenFile(t *testing.T) {
	c, tokenFile := startTokenCluster(t, 0)
	empty := filepath.Join(t.TempDir(), "empty")
	writeFile(t, empty, " \n")
	missing := filepath.Join(t.TempDir(), "no-such-token")
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		code     int
		inStderr string
	}{
		{"token file", nil, []string{"--token-file", tokenFile}, 0, ""},
		{"DROVER_TOKEN", []string{"DROVER_TOKEN=" + testToken}, nil, 0, ""},
		{"token file over DROVER_TOKEN", []string{"DROVER_TOKEN=wrong"}, []string{"--token-file", tokenFile}, 0, ""},
		{"no token", nil, nil, 4, "unauthorized"},
		{"missing token file", nil, []string{"--token-file", missing}, 2, "--token-file: open " + missing + ": no such file or directory"},
		{"empty token file", nil, []string{"--token-file", empty}, 2, "--token-file: " + empty + " is empty"},
		{"both", nil, []string{"--token", testToken, "--token-file", tokenFile}, 2, "--token and --token-file exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testproc.Options{Env: append([]string{"DROVER_MASTER=" + c.Addr, "DROVER_TOKEN="}, tc.env...),
				Timeout: 30 * time.Second}.Run(t, testproc.Drover(t), append([]string{"status", "--json"}, tc.args...)...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.inStderr) {
				t.Errorf("exit %d, stderr %q; want exit %d with %q", r.Code, r.Stderr, tc.code, tc.inStderr)
			}
			if strings.Contains(r.Output, testToken) {
				t.Errorf("the output shows the token: %s", r.Output)
			}
		})
	}
	// The help of --token says it shows in ps, and shows no default.
	r := testproc.Options{Env: []string{"DROVER_TOKEN=" + testToken}}.Run(t, testproc.Drover(t), "status", "-h")
	if !strings.Contains(r.Output, "--token-file") || !strings.Contains(r.Output, "see it in ps") || strings.Contains(r.Output, testToken) {
		t.Errorf("status -h:\n%s", r.Output)
	}
}
