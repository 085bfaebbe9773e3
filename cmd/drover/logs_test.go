package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"io/fs"
	"strconv"

	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
)

// TestLogsFollow: "drover logs ID -f" against a master and worker
// processes prints a running job's stdout to stdout and its stderr to
// stderr as the job writes them, and returns when the attempt ends; the
// log stays readable after, one stream with --stream.
func TestLogsFollow(t *testing.T) {
	c := startCluster(t, 1, `
[commands.gated]
argv = ["sh", "-c", "echo out1; echo err1 >&2; while [ ! -e \"$0\" ]; do sleep 0.02; done; echo out2; echo err2 >&2", "{gate}"]
`)
	gate := filepath.Join(t.TempDir(), "gate")
	id := c.Submit(jobs.Spec{Type: "gated", Args: map[string]string{"gate": gate}})[0]
	testproc.Poll(t, 10*time.Second, "the job's first line in its log", func() bool {
		var out bytes.Buffer
		return runLogs([]string{"--master", c.Addr, id, "--stream", "stdout"}, &out) == nil && out.String() == "out1\n"
	})

	errOut := &testproc.Buffer{}
	logsStderr = errOut
	t.Cleanup(func() { logsStderr = os.Stderr })
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runLogs([]string{"--master", c.Addr, id, "-f"}, pw)
		pw.Close()
		done <- err
	}()
	rd := bufio.NewReader(pr)
	if line, err := rd.ReadString('\n'); line != "out1\n" || err != nil {
		t.Fatalf("drover logs -f: first line %q, %v; want out1", line, err)
	}
	testproc.Poll(t, 10*time.Second, "stderr's first line on stderr", func() bool { return errOut.String() == "err1\n" })
	writeFile(t, gate, "")
	rest, _ := io.ReadAll(rd)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("drover logs -f: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("drover logs -f did not return when the attempt ended")
	}
	if string(rest) != "out2\n" || errOut.String() != "err1\nerr2\n" {
		t.Errorf("drover logs -f: then stdout %q, stderr %q; want out2, and err1 err2", rest, errOut.String())
	}

	var out bytes.Buffer
	if err := runLogs([]string{"--master", c.Addr, id, "--stream", "stderr", "--attempt", "1"}, &out); err != nil || out.String() != "err1\nerr2\n" {
		t.Errorf("drover logs --stream stderr: %q, %v; want err1 err2", out.String(), err)
	}
	err := runLogs([]string{"--master", c.Addr, id, "--attempt", "4"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no attempt 4") {
		t.Errorf("drover logs --attempt 4 of a job with one: %v; want an error naming the attempt", err)
	}
}

// TestWorkerDefaultLogDirRefused: drover worker with command templates
// refuses a default log_dir that others can write, and says so with the
// conf key log_dir (not the Go field) and the mode in full octal, sticky
// bit included.
func TestWorkerDefaultLogDirRefused(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "drover-logs-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, fs.ModeSticky|0o703); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "worker.toml")
	writeFile(t, cfg, `name = "w"`+"\n"+cliCommands)
	r := testproc.Options{Env: []string{"TMPDIR=" + tmp}, Timeout: 30 * time.Second}.
		Run(t, testproc.Drover(t), "worker", "--config", cfg, "--master", testnet.RefusedAddr(t))
	t.Logf("exit %d, stderr %s", r.Code, r.Stderr)
	if r.Code == 0 {
		t.Fatal("drover worker exited 0; want it refused")
	}
	for _, want := range []string{"refusing the default log_dir " + dir, "(mode 1703)", "or set log_dir to a directory of your choice"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr %q; want it to say %q", r.Stderr, want)
		}
	}
	if strings.Contains(r.Stderr, "Config.") {
		t.Errorf("stderr %q names a Go field", r.Stderr)
	}
}
