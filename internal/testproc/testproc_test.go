package testproc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// child returns the test program testdata/child.
func child(t *testing.T) string {
	t.Helper()
	return Build(t, "./testdata/child")
}

// fakeTB records what a helper under test reports. Fatalf ends the
// goroutine, as testing's does; run runs f in a goroutine of its own and
// then the cleanups.
type fakeTB struct {
	mu       sync.Mutex
	errs     []string
	fatal    string
	logs     []string
	cleanups []func()
}

func (f *fakeTB) Helper()          {}
func (f *fakeTB) Cleanup(c func()) { f.mu.Lock(); f.cleanups = append(f.cleanups, c); f.mu.Unlock() }
func (f *fakeTB) Errorf(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, a...))
}
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, a...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Logf(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, a...))
}
func (f *fakeTB) TempDir() string {
	dir, err := os.MkdirTemp("", "fakeTB-")
	if err != nil {
		panic(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errs) > 0 || f.fatal != ""
}

func (f *fakeTB) run(fn func(tb TB)) *fakeTB {
	var wg sync.WaitGroup
	wg.Go(func() { fn(f) })
	wg.Wait()
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	return f
}

func TestAddrAndGraceStop(t *testing.T) {
	bin := child(t)
	for format, want := range map[string]string{"json": "127.0.0.1:4242", "text": "127.0.0.1:4243"} {
		t.Run(format, func(t *testing.T) {
			var p *Proc
			f := new(fakeTB).run(func(tb TB) {
				p = Options{Name: "m", Grace: 5 * time.Second}.Start(tb, bin, "listen", format)
				if got := p.Addr(); got != want {
					t.Errorf("Addr() = %q, want %q", got, want)
				}
				if got := p.WaitFor("ready", time.Second); got != "ready" {
					t.Errorf("WaitFor(ready) = %q", got)
				}
			})
			if f.fatal != "" || len(f.errs) > 0 {
				t.Fatalf("fatal %q, errors %q", f.fatal, f.errs)
			}
			if !p.Exited() || p.Err() != nil {
				t.Errorf("after cleanup: exited %v, err %v; want exit 0 on SIGTERM", p.Exited(), p.Err())
			}
		})
	}
}

func TestCleanupKills(t *testing.T) {
	bin := child(t)
	var p *Proc
	f := new(fakeTB).run(func(tb TB) {
		p = Options{Name: "stubborn"}.Start(tb, bin, "ignore-term")
		p.WaitFor("ready", 10*time.Second)
		p.Signal(syscall.SIGSTOP)
	})
	if f.fatal != "" || len(f.errs) > 0 || len(f.logs) > 0 {
		t.Fatalf("fatal %q, errors %q, logs %q", f.fatal, f.errs, f.logs)
	}
	if !p.Exited() {
		t.Fatal("a stopped process outlived the cleanup")
	}
}

func TestGraceIgnored(t *testing.T) {
	bin := child(t)
	start := time.Now()
	f := new(fakeTB).run(func(tb TB) {
		p := Options{Grace: 300 * time.Millisecond}.Start(tb, bin, "ignore-term")
		p.WaitFor("ready", 10*time.Second)
	})
	if len(f.errs) != 1 || !strings.Contains(f.errs[0], "ignored SIGTERM for 300ms; killed") {
		t.Errorf("errors %q; want one saying SIGTERM was ignored", f.errs)
	}
	if len(f.logs) != 1 || !strings.Contains(f.logs[0], "ready") {
		t.Errorf("logs %q; want the output of the failed test's process", f.logs)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestGraceBadExitAndKill(t *testing.T) {
	bin := child(t)
	f := new(fakeTB).run(func(tb TB) {
		o := Options{Grace: time.Second}
		p := o.Start(tb, bin, "exit", "3")
		<-p.Done()
		q := o.Start(tb, bin, "ignore-term")
		q.WaitFor("ready", 10*time.Second)
		q.Kill() // on purpose: no error for q
		if q.Err() == nil {
			t.Errorf("a killed process has no error")
		}
	})
	if len(f.errs) != 1 || !strings.Contains(f.errs[0], "exit status 3") {
		t.Errorf("errors %q; want one for the exit status 3", f.errs)
	}
}

func TestDataRace(t *testing.T) {
	bin := child(t)
	f := new(fakeTB).run(func(tb TB) {
		Start(tb, bin, "race").WaitFor("DATA RACE", 10*time.Second)
	})
	if len(f.errs) != 1 || !strings.Contains(f.errs[0], "reported a data race") {
		t.Errorf("errors %q", f.errs)
	}
}

func TestStop(t *testing.T) {
	bin := child(t)
	p := Start(t, bin, "listen", "json")
	p.WaitFor("ready", 10*time.Second)
	if !p.Stop(5*time.Second) || p.Err() != nil {
		t.Errorf("Stop: err %v; want exit 0 on SIGTERM", p.Err())
	}
	q := Start(t, bin, "ignore-term")
	q.WaitFor("ready", 10*time.Second)
	if q.Stop(100 * time.Millisecond) {
		t.Errorf("Stop of a process that ignores SIGTERM reported a clean exit")
	}
	if !q.Exited() {
		t.Errorf("Stop left the process running")
	}
}

func TestWaitLine(t *testing.T) {
	bin := child(t)
	p := Start(t, bin, "exit", "0")
	<-p.Done()
	if _, err := p.WaitLine(time.Second, func(l string) bool { return l == "nothing" }); !errors.Is(err, ErrExited) {
		t.Errorf("WaitLine for a line never printed: %v; want ErrExited", err)
	}
	q := Start(t, bin, "partial")
	if l, err := q.WaitLine(10*time.Second, func(l string) bool { return true }); l != "no newline" || err != nil {
		t.Errorf("the last line without a newline: %q, %v", l, err)
	}
	pc := Start(t, bin, "pieces")
	if l, err := pc.WaitLine(10*time.Second, func(l string) bool { return strings.HasPrefix(l, "registered") }); l != "registered w1" || err != nil {
		t.Errorf("a line written in pieces: %q, %v", l, err)
	}
	<-pc.Done()
	if out := pc.Output(); out != "noise\nregistered w1\n" || pc.Stdout() != "registered w1\n" || pc.Stderr() != "noise\n" {
		t.Errorf("Output %q, Stdout %q, Stderr %q", out, pc.Stdout(), pc.Stderr())
	}
	ls := pc.Lines()
	if len(ls) != 2 || ls[0].Text != "noise" || ls[1].Text != "registered w1" || ls[0].At.IsZero() || ls[1].At.Before(ls[0].At) {
		t.Errorf("Lines %+v; want noise, then registered w1, each with when it ended", ls)
	}
	r := Start(t, bin, "listen", "json")
	_, err := r.WaitLine(50*time.Millisecond, func(l string) bool { return false })
	if err == nil || errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "within 50ms") {
		t.Errorf("WaitLine past its timeout: %v", err)
	}
	f := new(fakeTB).run(func(tb TB) {
		Start(tb, bin, "exit", "0").LogField("master listening", "addr", 10*time.Second)
		t.Error("LogField returned for a process that never logs the line")
	})
	if !strings.Contains(f.fatal, "master listening") || !strings.Contains(f.fatal, "exited") {
		t.Errorf("fatal %q", f.fatal)
	}
}

func TestRun(t *testing.T) {
	bin := child(t)
	r := Run(t, bin, "exit", "4")
	if r.Stdout != "out\n" || r.Stderr != "err\n" || r.Code != 4 || len(r.Output) != 8 {
		t.Errorf("Run: %+v", r)
	}
	r = Options{Env: []string{"DROVER_MASTER=testproc-run"}}.Run(t, "sh", "-c", `echo "$DROVER_MASTER"`)
	if r.Stdout != "testproc-run\n" || r.Code != 0 {
		t.Errorf("Run with Env: %+v", r)
	}
	f := new(fakeTB).run(func(tb TB) {
		Options{Timeout: 100 * time.Millisecond}.Run(tb, bin, "ignore-term")
	})
	if !strings.Contains(f.fatal, "not done within 100ms") {
		t.Errorf("fatal %q", f.fatal)
	}
}

func TestScan(t *testing.T) {
	bin := child(t)
	const addr = "testproc-scan:1"
	p := Options{Env: []string{"DROVER_MASTER=" + addr}}.Start(t, bin, "ignore-term")
	p.WaitFor("ready", 10*time.Second)
	if got := JobProcs(addr); !slices.Equal(got, []int{p.PID()}) {
		t.Errorf("JobProcs = %v, want [%d]", got, p.PID())
	}
	p.Kill()
	Poll(t, 5*time.Second, "no process left", func() bool { return len(JobProcs(addr)) == 0 })
	if g := Group(syscall.Getpgrp()); !slices.Contains(g, os.Getpid()) {
		t.Errorf("Group(our group) = %v lacks us (%d)", g, os.Getpid())
	}
}

func TestPoll(t *testing.T) {
	n := 0
	Poll(t, time.Second, "three calls", func() bool { n++; return n == 3 })
	f := new(fakeTB).run(func(tb TB) { Poll(tb, 30*time.Millisecond, "never", func() bool { return false }) })
	if f.fatal != "timed out after 30ms waiting for never" {
		t.Errorf("fatal %q", f.fatal)
	}
	f = new(fakeTB).run(func(tb TB) {
		PollErr(tb, 30*time.Millisecond, "never", func() error { return errors.New("not yet") })
	})
	if f.fatal != "timed out after 30ms waiting for never: not yet" {
		t.Errorf("fatal %q", f.fatal)
	}
	start := time.Now()
	f = new(fakeTB).run(func(tb TB) {
		PollErr(tb, time.Minute, "x", func() error { return fmt.Errorf("%w: it exited", ErrStop) })
	})
	if !strings.Contains(f.fatal, "it exited") || time.Since(start) > time.Second {
		t.Errorf("ErrStop: fatal %q after %s", f.fatal, time.Since(start))
	}
}

func TestBuildWithoutMain(t *testing.T) {
	builds.mu.Lock()
	builds.main = false
	builds.mu.Unlock()
	defer func() {
		builds.mu.Lock()
		builds.main = true
		builds.mu.Unlock()
	}()
	f := new(fakeTB).run(func(tb TB) { Build(tb, "./testdata/child") })
	if !strings.Contains(f.fatal, "testproc.Main") {
		t.Errorf("fatal %q", f.fatal)
	}
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds drover and starts a cluster")
	}
	c := StartCluster(t, ClusterConfig{Workers: 1, Slots: 2, Worker: "[commands.echo]\nargv = [\"echo\", \"hi\"]"})
	if n := c.Alive(); n != 1 {
		t.Fatalf("Alive() = %d, want 1", n)
	}
	ids := c.Submit(jobs.Spec{Type: "echo"})
	if r := WaitAll(t, c.MC, ids, 20*time.Second); r.Counts[jobs.Succeeded] != 1 {
		t.Fatalf("WaitAll: counts %v, want one succeeded", r.Counts)
	}
	j := c.Job(ids[0])
	if j.State != jobs.Succeeded || len(j.Attempts) != 1 || j.Attempts[0].Output != "hi\n" {
		t.Fatalf("Job: %s, attempts %+v; want succeeded once, output hi", j.State, j.Attempts)
	}
	if wi, ok := c.WorkerInfo("worker-0"); !ok || wi.State != rpcapi.WorkerAlive || wi.ID != j.Attempts[0].Worker {
		t.Fatalf("WorkerInfo(worker-0) = %+v, %v; want the alive worker that ran the job", wi, ok)
	}
	if _, ok := c.WorkerInfo("nobody"); ok {
		t.Fatal("WorkerInfo(nobody) found a worker")
	}
	addr := c.Addr
	c.RestartMaster()
	if c.Addr != addr || c.Counts() == nil {
		t.Fatalf("after RestartMaster: addr %s (was %s), counts %v", c.Addr, addr, c.Counts())
	}
	c.Workers[0].Kill()
	c.RestartWorker(0)
	Poll(t, 20*time.Second, "the restarted worker alive", func() bool { return c.Alive() >= 1 })
}
