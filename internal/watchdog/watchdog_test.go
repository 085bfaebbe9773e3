//go:build linux

package watchdog

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
)

// proc is a process started by a test, in a session of its own (as a
// setsid daemon is), with a mark in its environment.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startMarked starts script (one process: it execs its program) under
// sh with MarkEnv=mark; it is killed at
// the end of the test.
func startMarked(t *testing.T, mark, script string) *proc {
	t.Helper()
	c := exec.Command("sh", "-c", script)
	c.Env = append(os.Environ(), MarkEnv+"="+mark)
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: c, done: make(chan struct{})}
	go func() {
		c.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
	// Wait until the script has run to its exec of sleep (so a trap it
	// sets is in place), with the mark in its environment.
	dir := "/proc/" + strconv.Itoa(c.Process.Pid) + "/"
	poll.Until(t, 10*time.Second, "the process to start", func() bool {
		comm, _ := os.ReadFile(dir + "comm")
		env, _ := os.ReadFile(dir + "environ")
		return string(comm) == "sleep\n" && bytes.Contains(env, []byte(MarkEnv+"="+mark+"\x00"))
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit fails the test unless p exits within d.
func (p *proc) waitExit(t *testing.T, d time.Duration, what string) {
	t.Helper()
	poll.Until(t, d, what, p.exited)
}

const (
	sleeper     = "exec sleep 300"
	termIgnorer = `trap "" TERM; exec sleep 300`
)

func startWatchdog(t *testing.T, identity string, grace time.Duration) *Watchdog {
	t.Helper()
	d, err := Start(identity, grace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestEndAndTerm: End kills the processes of one job, wherever they are
// (here in sessions of their own), and no other job's; Term gives them
// SIGTERM.
func TestEndAndTerm(t *testing.T) {
	d := startWatchdog(t, "end", time.Second)
	m1, s1 := d.Mark()
	m2, s2 := d.Mark()
	m3, s3 := d.Mark()
	a, b := startMarked(t, m1, sleeper), startMarked(t, m1, termIgnorer)
	other := startMarked(t, m2, sleeper)
	third := startMarked(t, m3, termIgnorer)
	if err := d.End(s1); err != nil {
		t.Fatal(err)
	}
	a.waitExit(t, 2*time.Second, "job 1's first process to be killed")
	b.waitExit(t, 2*time.Second, "job 1's second process to be killed")
	if err := d.Term(s2); err != nil {
		t.Fatal(err)
	}
	if err := d.Term(s3); err != nil {
		t.Fatal(err)
	}
	other.waitExit(t, 2*time.Second, "job 2 to end on SIGTERM")
	time.Sleep(3 * ScanGap) // a scan has passed job 3 by
	if third.exited() {
		t.Fatal("a process that ignores SIGTERM exited on Term")
	}
	d.End(s3)
	third.waitExit(t, 2*time.Second, "job 3 to be killed")
}

// TestCloseEndsTheLife: when the worker goes (its pipe closes), the
// watchdog gives every process of its jobs SIGTERM, and SIGKILL after the
// grace; the processes of another worker are left alone.
func TestCloseEndsTheLife(t *testing.T) {
	const grace = 500 * time.Millisecond
	d := startWatchdog(t, "close", grace)
	other := startWatchdog(t, "close", grace) // another worker, same identity
	m1, _ := d.Mark()
	m2, _ := d.Mark()
	mo, _ := other.Mark()
	a, b := startMarked(t, m1, sleeper), startMarked(t, m2, termIgnorer)
	keep := startMarked(t, mo, sleeper)
	start := time.Now()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	a.waitExit(t, time.Second, "the first job to end")
	b.waitExit(t, time.Second, "the second job to be killed")
	if took := time.Since(start); took < grace {
		t.Errorf("a process that ignores SIGTERM was killed %s after the worker left, before the grace of %s", took, grace)
	}
	if keep.exited() {
		t.Error("another worker's job was ended")
	}
}

// TestDeadlineFences: at the fence deadline the watchdog stops the jobs
// on its own (SIGTERM, SIGKILL after the grace), while the worker does
// nothing; a later deadline is kept by jobs that start after it.
func TestDeadlineFences(t *testing.T) {
	const grace = 300 * time.Millisecond
	d := startWatchdog(t, "fence", grace)
	m1, _ := d.Mark()
	a := startMarked(t, m1, termIgnorer)
	deadline := time.Now().Add(400 * time.Millisecond)
	if err := d.Deadline(deadline); err != nil {
		t.Fatal(err)
	}
	a.waitExit(t, 5*time.Second, "the job to be stopped at the deadline")
	if late := time.Since(deadline); late < grace || late > grace+time.Second {
		t.Errorf("the job ignoring SIGTERM ended %s after the deadline; want the grace %s (within a second)", late, grace)
	}
	if err := d.Deadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	m2, _ := d.Mark()
	b := startMarked(t, m2, sleeper)
	time.Sleep(3 * ScanGap)
	if b.exited() {
		t.Error("a job started after a renewed deadline was stopped")
	}
}

// TestKillDead: a starting worker kills what the dead lives of its own
// identity left, and neither what another identity's dead worker left
// (its watchdog may still be in its grace) nor its live workers' jobs.
func TestKillDead(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := gone.Process.Pid
	self, _ := StartTime(os.Getpid())
	mark := func(identity string, pid int, start uint64) string {
		return IdentityKey(identity) + "." + strconv.Itoa(pid) + "." + strconv.FormatUint(start, 10) + ".1.7"
	}
	mine := startMarked(t, mark("me", deadPid, 12345), sleeper)
	restarted := startMarked(t, mark("me", os.Getpid(), self+1), sleeper) // pid reused
	theirs := startMarked(t, mark("them", deadPid, 12345), sleeper)
	live := startMarked(t, mark("me", os.Getpid(), self), sleeper)
	if n := KillDead("me"); n != 2 {
		t.Errorf("KillDead killed %d processes, want 2", n)
	}
	mine.waitExit(t, 2*time.Second, "the dead life's job to be killed")
	restarted.waitExit(t, 2*time.Second, "the job of a dead life whose pid was reused to be killed")
	if theirs.exited() || live.exited() {
		t.Errorf("KillDead killed another identity's job (%v) or a live worker's (%v)", theirs.exited(), live.exited())
	}
}

func TestParseWatchConf(t *testing.T) {
	for _, v := range []string{"", "1,3", "x,3,L", "1,2,L", "-1,3,L", "1,3,"} {
		if _, err := parseWatchConf(v); err == nil {
			t.Errorf("parseWatchConf(%q) accepted", v)
		}
	}
	if c, err := parseWatchConf("5,3,k.1.2.3."); err != nil || c.grace != 5 || c.fd != 3 || c.life != "k.1.2.3." {
		t.Errorf("parseWatchConf = %+v, %v", c, err)
	}
}
