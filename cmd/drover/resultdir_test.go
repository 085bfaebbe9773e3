//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
)

// TestResultDirOfAKilledWorker: a worker killed with SIGKILL during a
// command attempt cannot remove the attempt's $DROVER_RESULT directory;
// the next worker started on the machine (same $TMPDIR) removes it, and
// leaves alone the directory of an attempt that another worker runs,
// whose data then arrives whole.
func TestResultDirOfAKilledWorker(t *testing.T) {
	tmp, flags := t.TempDir(), t.TempDir()
	c := &cluster{testproc.StartCluster(t, testproc.ClusterConfig{Workers: 2, Slots: 1, Heartbeat: testBeat, DeadAfter: testDead,
		Master: `retry_backoff = "50ms"`, WorkerEnv: []string{"TMPDIR=" + tmp}, Worker: `
[commands.hold]
argv = ["sh", "-c", 'echo "$DROVER_RESULT" > "$1.path"; while [ ! -e "$1" ]; do sleep 0.05; done; echo done > "$DROVER_RESULT"', "sh", "{flag}"]
`}), t}
	flag := filepath.Join(flags, "go")
	id := c.Submit(jobs.Spec{Type: "hold", Args: map[string]string{"flag": flag}, Retries: 3})[0]

	// running returns the result directory of the job's running attempt
	// (other than not) and the index of the worker that runs it.
	running := func(not string) (string, int) {
		var dir string
		testproc.Poll(t, 20*time.Second, "an attempt to write where its result goes", func() bool {
			b, err := os.ReadFile(flag + ".path")
			dir = filepath.Dir(strings.TrimSpace(string(b)))
			return err == nil && strings.HasPrefix(filepath.Base(dir), "drover-result-") && dir != not
		})
		var at int
		testproc.Poll(t, 10*time.Second, "the master to name the attempt's worker", func() bool {
			j := c.Job(id)
			for i := range c.Workers {
				if w, ok := c.WorkerInfo(workerName(i)); ok && j.State == jobs.Running && w.ID == j.Worker {
					at = i
					return true
				}
			}
			return false
		})
		return dir, at
	}
	first, i := running("")
	c.Workers[i].Kill()
	if _, err := os.Stat(first); err != nil {
		t.Fatalf("the killed worker's result directory %s: %v; want it left (the test's premise)", first, err)
	}
	c.RestartWorker(i)
	testproc.Poll(t, 20*time.Second, "the restarted worker to remove "+first, func() bool {
		_, err := os.Stat(first)
		return os.IsNotExist(err)
	})

	// The job is leased again once the killed worker is found dead.
	second, j := running(first)
	other := 1 - j
	before, _ := c.WorkerInfo(workerName(other))
	c.Workers[other].Kill()
	c.RestartWorker(other)
	// A worker sweeps before it registers.
	testproc.Poll(t, 20*time.Second, "the restarted worker to register", func() bool {
		w, ok := c.WorkerInfo(workerName(other))
		return ok && w.ID != before.ID
	})
	if _, err := os.Stat(second); err != nil {
		t.Fatalf("worker-%d swept the running attempt's result directory %s: %v", other, second, err)
	}
	writeFile(t, flag, "")
	testproc.WaitAll(t, c.MC, []string{id}, 20*time.Second)
	job := c.Job(id)
	if got := job.Attempts[len(job.Attempts)-1].Data; job.State != jobs.Succeeded || got != "done\n" {
		t.Fatalf("job %s: %s with data %q; want succeeded with %q", id, job.State, got, "done\n")
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "drover-result-*"))
	if len(left) > 0 {
		t.Fatalf("result directories left in $TMPDIR: %v", left)
	}
}

// workerName is the name testproc.StartCluster gives worker i.
func workerName(i int) string { return "worker-" + strconv.Itoa(i) }
