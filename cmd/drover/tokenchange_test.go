package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
)

// TestWorkerLogsANewCauseOfFailure: a worker whose master goes down logs
// that its heartbeat failed; when the master comes back with another
// token, the worker logs that too (the token refused), instead of staying
// silent on the first cause, which is over.
func TestWorkerLogsANewCauseOfFailure(t *testing.T) {
	c := testproc.StartCluster(t, testproc.ClusterConfig{Workers: 1, Token: "first-token-123456",
		WorkerEnv: []string{"DROVER_WORKER_TOKEN=first-token-123456"}, Worker: "[commands.echo]\nargv = [\"echo\"]\n"})
	w := c.Workers[0]
	conf := filepath.Join(c.Dir, "master.toml")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	// The worker's own word that it registered: the master logs the
	// registration before its reply reaches the worker, and a kill in
	// between makes the worker log a failed registration instead.
	w.WaitFor("registered with the master", 20*time.Second)
	c.Master.Kill()
	w.WaitFor("heartbeat failed", 20*time.Second)
	writeFile(t, conf, strings.ReplaceAll(string(b), "first-token-123456", "second-token-654321"))
	// On the same address; c's client has the first token, so the
	// master is started here rather than by RestartMaster.
	m := testproc.Options{Name: "master"}.Start(t, testproc.Drover(t), "master", "--config", conf, "--listen", c.Addr)
	if got := m.Addr(); got != c.Addr {
		t.Fatalf("master came back on %s, want %s", got, c.Addr)
	}
	testproc.Poll(t, 20*time.Second, "the worker to log the refused token", func() bool {
		return strings.Contains(w.Output(), "refused the token")
	})
}
