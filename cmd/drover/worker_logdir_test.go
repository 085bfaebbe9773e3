package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/internal/testproc"
)

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
		Run(t, testproc.Drover(t), "worker", "--config", cfg, "--master", testnet.DeadAddr(t))
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
