package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }

// cluster is a master process and worker processes on loopback.
type cluster struct {
	*testproc.Cluster
	t testing.TB
}

const (
	testBeat = 300 * time.Millisecond
	testDead = 1200 * time.Millisecond
)

func startCluster(t testing.TB, nWorkers int, commands string) *cluster {
	return startClusterOver(t, rpcapi.TransportGob, nWorkers, commands)
}

// startClusterOver starts a cluster whose workers (and the test's client)
// talk transport; commands is their [commands.*] tables.
func startClusterOver(t testing.TB, transport string, nWorkers int, commands string) *cluster {
	t.Helper()
	return &cluster{testproc.StartCluster(t, testproc.ClusterConfig{Workers: nWorkers, Transport: transport,
		Heartbeat: testBeat, DeadAfter: testDead, Master: `retry_backoff = "50ms"`, Worker: commands}), t}
}

// writeFile writes content to path (mode 0600), failing the test on error.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startMaster starts "drover master --config master.toml" with args
// after, master.toml being an in-memory store listening on a port of
// 127.0.0.1 and the lines conf, in a new temp dir with files (name:
// content) beside it. It returns the process and the dir.
func startMaster(t testing.TB, conf string, files map[string]string, args ...string) (*testproc.Proc, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	path := filepath.Join(dir, "master.toml")
	writeFile(t, path, "listen = \"127.0.0.1:0\"\nstore = \"memory\"\n"+conf)
	return testproc.Options{Name: "master"}.Start(t, testproc.Drover(t), append([]string{"master", "--config", path}, args...)...), dir
}

// count returns the number of jobs in state s, -1 when the master does not
// answer.
func (c *cluster) count(s jobs.State) int {
	m := c.Counts()
	if m == nil {
		return -1
	}
	return m[s]
}

// TestKillWorkerAndMaster is the core promise end to end: 150 subprocess
// jobs over three worker processes; one worker is killed with SIGKILL after
// a third, the master after two thirds and restarted on the same data dir.
// Every job ends succeeded with exactly one recorded ok attempt, the dead
// worker is reaped in time, and no job process outlives the test.
func TestKillWorkerAndMaster(t *testing.T) {
	for _, transport := range []string{"gob", "xmlrpc"} {
		t.Run(transport, func(t *testing.T) { testKillWorkerAndMaster(t, transport) })
	}
}

func testKillWorkerAndMaster(t *testing.T, transport string) {
	const n = 150
	c := startClusterOver(t, transport, 3, `
[commands.step]
argv = ["sh", "-c", "sleep 0.2 && echo \"$DROVER_JOB_ID $DROVER_ATTEMPT\" >> \"$0\"", "{ranlog}"]
timeout = "20s"
`)
	ranLog := filepath.Join(c.Dir, "ran.log")
	specs := make([]jobs.Spec, n)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "step", Args: map[string]string{"ranlog": ranLog}, Retries: 3}
	}
	ids := c.Submit(specs...)

	testproc.Poll(t, 60*time.Second, "a third of the jobs", func() bool { return c.count(jobs.Succeeded) >= n/3 })
	victim := c.Workers[0]
	victim.Kill()
	killed := time.Now()
	t.Logf("killed worker-0 with %d succeeded", c.count(jobs.Succeeded))

	var dead rpcapi.WorkerInfo
	testproc.Poll(t, 10*time.Second, "worker-0 reported dead", func() bool {
		wi, ok := c.WorkerInfo("worker-0")
		dead = wi
		return ok && wi.State == rpcapi.WorkerDead
	})
	silent := dead.Died.Sub(dead.LastHeartbeat)
	t.Logf("worker-0 declared dead %s after its last heartbeat, %s after the kill", silent, dead.Died.Sub(killed))
	if silent > testDead+testBeat {
		t.Errorf("worker-0 declared dead %s after its last heartbeat; want within dead_after+interval = %s", silent, testDead+testBeat)
	}

	testproc.Poll(t, 60*time.Second, "two thirds of the jobs", func() bool { return c.count(jobs.Succeeded) >= 2*n/3 })
	t.Logf("killing the master with %d succeeded", c.count(jobs.Succeeded))
	c.RestartMaster()

	testproc.Poll(t, 90*time.Second, "every job final", func() bool {
		s, f, x := c.count(jobs.Succeeded), c.count(jobs.Failed), c.count(jobs.Cancelled)
		return s >= 0 && s+f+x == n
	})
	ran := map[string]int{}
	data, _ := os.ReadFile(ranLog)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if id, _, ok := strings.Cut(line, " "); ok {
			ran[id]++
		}
	}
	reruns := 0
	for _, id := range ids {
		j := c.Job(id)
		oks := 0
		for _, a := range j.Attempts {
			if a.Outcome == jobs.OK {
				oks++
			}
		}
		if j.State != jobs.Succeeded || oks != 1 {
			t.Errorf("job %s: state %s with %d ok attempts; attempts %+v", id, j.State, oks, j.Attempts)
		}
		if ran[id] < 1 {
			t.Errorf("job %s never ran", id)
		}
		reruns += ran[id] - 1
	}
	t.Logf("%d jobs succeeded once each; %d extra executions (at-least-once)", n, reruns)

	// Nothing of ours is running once every job is final; then stop the
	// workers cleanly and check again.
	c.NoJobsLeft()
	for _, w := range c.Workers[1:] {
		w.Signal(syscall.SIGTERM)
	}
	for _, w := range c.Workers[1:] {
		if !w.WaitExit(15 * time.Second) {
			t.Fatalf("%s did not exit after SIGTERM", w.Name())
		}
	}
	if left := testproc.JobProcs(c.Addr); len(left) > 0 {
		t.Errorf("job processes left: %v", left)
	}
}

// TestFailAndTimeout: a job that exits 1 ends failed after retries+1
// attempts; one that overruns its timeout is killed with its whole process
// group.
func TestFailAndTimeout(t *testing.T) {
	c := startCluster(t, 1, `
[commands.fail]
argv = ["sh", "-c", "exit 1"]

[commands.hang]
argv = ["sh", "-c", "echo $$ > \"$0\"; sleep 60 & sleep 60 & wait", "{pidfile}"]
`)
	pidfile := filepath.Join(c.Dir, "hang.pid")
	ids := c.Submit(
		jobs.Spec{Type: "fail", Retries: 2},
		jobs.Spec{Type: "hang", Args: map[string]string{"pidfile": pidfile}, Timeout: time.Second},
	)
	testproc.Poll(t, 30*time.Second, "both jobs final", func() bool { return c.count(jobs.Failed) == 2 })

	fail := c.Job(ids[0])
	if len(fail.Attempts) != 3 {
		t.Errorf("fail: %d attempts, want retries+1 = 3", len(fail.Attempts))
	}
	for _, a := range fail.Attempts {
		if a.Outcome != jobs.Error || a.ExitCode != 1 {
			t.Errorf("fail attempt %d: outcome %s exit %d", a.N, a.Outcome, a.ExitCode)
		}
	}
	hang := c.Job(ids[1])
	if len(hang.Attempts) != 1 || hang.Attempts[0].Outcome != jobs.Timeout {
		t.Fatalf("hang: attempts %+v, want one timeout", hang.Attempts)
	}
	data, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	testproc.Poll(t, 5*time.Second, "the hang job's process group gone", func() bool {
		return len(testproc.Group(pgid)) == 0
	})
}

// TestDemo runs `drover demo` as a newcomer would and checks it ends well.
func TestDemo(t *testing.T) {
	r := testproc.Run(t, testproc.Drover(t), "demo")
	out := r.Output
	if r.Code != 0 {
		t.Fatalf("drover demo: exit %d\n%s", r.Code, out)
	}
	for _, want := range []string{"crashed", "master reaped", "attempts lost with the crashed worker and rerun elsewhere", "all 18 jobs succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
