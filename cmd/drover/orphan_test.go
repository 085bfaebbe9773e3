//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// orphanScript starts, each with ORPHAN_TAG=$1 in its environment: a
// grandchild, a grandchild that drops the job's mark (DROVER_JOB_MARK) but
// stays in the job's process group, a setsid daemon (double fork: its
// parent exits, so it is an orphan in a session of its own) and a shell
// that ignores SIGTERM, then waits.
const orphanScript = `export ORPHAN_TAG="$1"
sleep 300 &
env -u DROVER_JOB_MARK sleep 301 &
setsid sh -c 'sleep 300 & exit 0' &
sh -c 'trap "" TERM; while :; do sleep 1; done' &
echo started
wait`

// orphanGrace is the workers' kill_grace (testproc.StartCluster's).
const orphanGrace = 300 * time.Millisecond

// leaverScript starts, tagged as orphanScript does, a setsid daemon and a
// setsid shell that ignores SIGTERM, and exits 0 at once.
const leaverScript = `export ORPHAN_TAG="$1"
setsid sh -c 'sleep 300 & exit 0' &
setsid sh -c 'trap "" TERM; while :; do sleep 1; done' &
sleep 0.2`

const orphanCommand = `
[commands.orphans]
argv = ["sh", "-c", '''` + orphanScript + `''', "sh", "{tag}"]

[commands.leaver]
argv = ["sh", "-c", '''` + leaverScript + `''', "sh", "{tag}"]
`

// uniqueTag returns an ORPHAN_TAG value for name that no other run of the
// test (on this machine, now or before) uses.
func uniqueTag(name string) string {
	return fmt.Sprintf("%s-%d-%d", name, os.Getpid(), time.Now().UnixNano())
}

// startOrphans submits an orphans job tagged tag (with timeout, if not
// zero) and waits until its processes run: the main shell, the
// grandchild, the daemon and the shell that ignores SIGTERM.
func startOrphans(t *testing.T, c *cluster, tag string, timeout time.Duration) string {
	t.Helper()
	id := c.Submit(jobs.Spec{Type: "orphans", Args: map[string]string{"tag": tag}, Timeout: timeout})[0]
	testproc.Poll(t, 20*time.Second, "the job's processes to start", func() bool {
		live := liveTagged(tag)
		return len(live) >= 5 && slices.ContainsFunc(live, func(p string) bool { return strings.Contains(p, "sleep 301") })
	})
	return id
}

// noneLeft fails the test unless no process tagged tag is alive within d.
func noneLeft(t *testing.T, tag string, d time.Duration) {
	t.Helper()
	testproc.PollErr(t, d, "no process of the job left", func() error {
		if live := liveTagged(tag); len(live) > 0 {
			return fmt.Errorf("still alive: %v", live)
		}
		return nil
	})
}

// liveTagged lists the processes tagged tag that are not zombies, with
// their command lines.
func liveTagged(tag string) []string {
	var live []string
	for _, pid := range testproc.WithEnv("ORPHAN_TAG=" + tag) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		live = append(live, fmt.Sprintf("%d %q", pid, strings.ReplaceAll(string(cmd), "\x00", " ")))
	}
	return live
}

// TestNoOrphans: every process a command job starts, a setsid daemon and
// a process that ignores SIGTERM included, is gone within kill_grace + 1s
// of the job's worker being killed with SIGKILL (as the OOM killer does),
// of a cancel and of a timeout.
func TestNoOrphans(t *testing.T) {
	c := startCluster(t, 1, orphanCommand)
	t.Run("worker killed", func(t *testing.T) {
		tag := uniqueTag("kill9")
		startOrphans(t, c, tag, 0)
		c.Workers[0].Signal(syscall.SIGKILL)
		defer c.RestartWorker(0)
		noneLeft(t, tag, orphanGrace+time.Second)
	})
	t.Run("cancel", func(t *testing.T) {
		tag := uniqueTag("cancel")
		id := startOrphans(t, c, tag, 0)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, err := c.MC.Cancel(ctx, &rpcapi.CancelArgs{IDs: []string{id}}); err != nil {
			t.Fatal(err)
		}
		noneLeft(t, tag, orphanGrace+time.Second)
	})
	t.Run("timeout", func(t *testing.T) {
		const timeout = 3 * time.Second
		tag := uniqueTag("timeout")
		start := time.Now()
		startOrphans(t, c, tag, timeout)
		noneLeft(t, tag, time.Until(start.Add(timeout+orphanGrace+time.Second)))
	})
	t.Run("job ends", func(t *testing.T) {
		tag := uniqueTag("ends")
		start := time.Now()
		id := c.Submit(jobs.Spec{Type: "leaver", Args: map[string]string{"tag": tag}})[0]
		if r := testproc.WaitAll(t, c.MC, []string{id}, 20*time.Second); r.Counts[jobs.Succeeded] != 1 {
			t.Fatalf("the job did not succeed: %v", r.Counts)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("the job took %s", took)
		}
		noneLeft(t, tag, orphanGrace+time.Second)
	})
}

// watchdogOf returns the pid of the watchdog of the worker process pid
// (its DROVER_WATCHDOG names the worker's pid: GRACE,FD,KEY.PID.START.INST.),
// or 0.
func watchdogOf(pid int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			v, ok := bytes.CutPrefix(kv, []byte("DROVER_WATCHDOG="))
			if !ok {
				continue
			}
			f := bytes.Split(v, []byte{','})
			if life := bytes.Split(f[len(f)-1], []byte{'.'}); len(life) > 1 && string(life[1]) == strconv.Itoa(pid) {
				return p
			}
		}
	}
	return 0
}

// TestRestartedWorkerEndsOrphans: when a worker and its watchdog die
// together (an OOM kill of the whole service), the job's processes run on;
// the worker, started again, ends them, and not what another dead worker
// of the machine left while that one's watchdog is still at work.
func TestRestartedWorkerEndsOrphans(t *testing.T) {
	c := &cluster{testproc.StartCluster(t, testproc.ClusterConfig{Workers: 2, Slots: 1, Heartbeat: testBeat,
		DeadAfter: testDead, Master: `retry_backoff = "50ms"`, Worker: orphanCommand}), t}
	tagA, tagB := uniqueTag("restart-a"), uniqueTag("restart-b")
	a := startOrphans(t, c, tagA, 0)
	b := startOrphans(t, c, tagB, 0)
	wa, wb := c.runningWorker(a), c.runningWorker(b)
	if wa == wb {
		t.Fatalf("both jobs run on worker %d", wa)
	}
	dogA, dogB := watchdogOf(c.Workers[wa].PID()), watchdogOf(c.Workers[wb].PID())
	if dogA == 0 || dogB == 0 {
		t.Fatalf("watchdogs not found: %d, %d", dogA, dogB)
	}
	// Stopped, the watchdogs cannot act on their workers' deaths.
	syscall.Kill(dogA, syscall.SIGSTOP)
	syscall.Kill(dogB, syscall.SIGSTOP)
	c.Workers[wa].Signal(syscall.SIGKILL)
	c.Workers[wb].Signal(syscall.SIGKILL)
	syscall.Kill(dogA, syscall.SIGKILL)
	<-c.Workers[wa].Done()
	<-c.Workers[wb].Done()
	t.Cleanup(func() { syscall.Kill(dogB, syscall.SIGCONT) })
	// Without the restart they live on.
	time.Sleep(orphanGrace + time.Second)
	if len(liveTagged(tagA)) == 0 || len(liveTagged(tagB)) == 0 {
		t.Fatal("nothing left to end: the test does not test the restart")
	}
	c.RestartWorker(wa)
	noneLeft(t, tagA, 10*time.Second)
	testproc.Poll(t, 10*time.Second, "the restarted worker to register", func() bool { return c.Alive() == 1 })
	if len(liveTagged(tagB)) == 0 {
		t.Error("the restarted worker ended what another dead worker left")
	}
	// That worker's watchdog, running again, ends them.
	syscall.Kill(dogB, syscall.SIGCONT)
	noneLeft(t, tagB, orphanGrace+time.Second)
}

// runningWorker returns the index of the worker that runs job id.
func (c *cluster) runningWorker(id string) int {
	c.t.Helper()
	j := c.Job(id)
	for i := range c.Workers {
		if wi, ok := c.WorkerInfo(fmt.Sprintf("worker-%d", i)); ok && wi.ID == j.Worker {
			return i
		}
	}
	c.t.Fatalf("no worker runs job %s (worker %q)", id, j.Worker)
	return -1
}
