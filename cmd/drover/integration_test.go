package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

var droverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "drover-bin-")
	if err != nil {
		panic(err)
	}
	droverBin = filepath.Join(dir, "drover")
	out, err := exec.Command("go", "build", "-o", droverBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build drover: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a drover process started by a test.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc runs drover with args; the process is killed at cleanup and its
// log shown if the test failed.
func startProc(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(droverBin, args...)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("--- log of %s ---\n%s", p.name, p.log.String())
		}
	})
	return p
}

func (p *proc) signal(s syscall.Signal) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(s)
	}
}

// kill9 kills the process with SIGKILL and waits for it to be gone.
func (p *proc) kill9() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// logField polls the JSON log for the first line with msg and returns its
// field.
func (p *proc) logField(msg, field string) string {
	p.t.Helper()
	var v string
	poll(p.t, 10*time.Second, "log line "+msg+" of "+p.name, func() bool {
		sc := bufio.NewScanner(strings.NewReader(p.log.String()))
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
				v, _ = m[field].(string)
				return true
			}
		}
		return false
	})
	return v
}

// poll calls cond every 20ms until it is true or d passes.
func poll(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// cluster is a master process and worker processes on loopback.
type cluster struct {
	t       testing.TB
	dir     string
	master  *proc
	addr    string
	workers []*proc
	mc      rpcapi.MasterClient
}

const (
	testBeat = 300 * time.Millisecond
	testDead = 1200 * time.Millisecond
)

func startCluster(t testing.TB, nWorkers int, commands string) *cluster {
	return startClusterOver(t, "gob", nWorkers, commands)
}

// startClusterOver starts a cluster whose workers talk transport.
func startClusterOver(t testing.TB, transport string, nWorkers int, commands string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir()}
	writeFile(t, c.dir, "master.toml", fmt.Sprintf(`
listen = "127.0.0.1:0"
data_dir = %q
heartbeat_interval = "%s"
dead_after = "%s"
retry_backoff = "50ms"
log_format = "json"
`, filepath.Join(c.dir, "data"), testBeat, testDead))
	c.startMaster("127.0.0.1:0")
	for i := range nWorkers {
		name := fmt.Sprintf("worker-%d", i)
		conf := writeFile(t, c.dir, name+".toml", fmt.Sprintf(`
master = %q
listen = "127.0.0.1:0"
name = %q
slots = 4
kill_grace = "300ms"
log_format = "json"
transport = %q
%s
`, c.addr, name, transport, commands))
		w := startProc(t, name, "worker", "--config", conf)
		c.workers = append(c.workers, w)
	}
	cl, err := rpcapi.NewCaller(c.addr, transport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	c.mc = rpcapi.MasterClient{C: cl}
	poll(t, 10*time.Second, "workers to register", func() bool {
		return c.alive() == nWorkers
	})
	return c
}

func (c *cluster) startMaster(listen string) {
	c.master = startProc(c.t, "master", "master", "--config", filepath.Join(c.dir, "master.toml"), "--listen", listen)
	c.addr = c.master.logField("master listening", "addr")
}

func (c *cluster) alive() int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := c.mc.ListWorkers(ctx)
	if err != nil {
		return -1
	}
	n := 0
	for _, w := range r.Workers {
		if w.State == rpcapi.WorkerAlive {
			n++
		}
	}
	return n
}

func (c *cluster) count(s jobs.State) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := c.mc.Status(ctx)
	if err != nil {
		return -1
	}
	return r.Counts[s]
}

func (c *cluster) job(id string) jobs.Job {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.mc.GetJob(ctx, id)
	if err != nil {
		c.t.Fatal(err)
	}
	return info.Job
}

// jobProcs returns the PIDs of processes whose environment names this
// cluster's master: the subprocesses of its jobs.
func jobProcs(masterAddr string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if string(kv) == "DROVER_MASTER="+masterAddr {
				pids = append(pids, pid)
			}
		}
	}
	return pids
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
	ranLog := filepath.Join(c.dir, "ran.log")
	specs := make([]jobs.Spec, n)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "step", Args: map[string]string{"ranlog": ranLog}, Retries: 3}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r, err := c.mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs})
	cancel()
	if err != nil {
		t.Fatal(err)
	}

	poll(t, 60*time.Second, "a third of the jobs", func() bool { return c.count(jobs.Succeeded) >= n/3 })
	victim := c.workers[0]
	victim.kill9()
	killed := time.Now()
	t.Logf("killed worker-0 with %d succeeded", c.count(jobs.Succeeded))

	var dead rpcapi.WorkerInfo
	poll(t, 10*time.Second, "worker-0 reported dead", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := c.mc.ListWorkers(ctx)
		if err != nil {
			return false
		}
		for _, w := range r.Workers {
			if w.Name == "worker-0" && w.State == rpcapi.WorkerDead {
				dead = w
				return true
			}
		}
		return false
	})
	silent := dead.Died.Sub(dead.LastHeartbeat)
	t.Logf("worker-0 declared dead %s after its last heartbeat, %s after the kill", silent, dead.Died.Sub(killed))
	if silent > testDead+testBeat {
		t.Errorf("worker-0 declared dead %s after its last heartbeat; want within dead_after+interval = %s", silent, testDead+testBeat)
	}

	poll(t, 60*time.Second, "two thirds of the jobs", func() bool { return c.count(jobs.Succeeded) >= 2*n/3 })
	t.Logf("killing the master with %d succeeded", c.count(jobs.Succeeded))
	c.master.kill9()
	addr := c.addr
	c.startMaster(addr)
	if c.addr != addr {
		t.Fatalf("master came back on %s, want %s", c.addr, addr)
	}

	poll(t, 90*time.Second, "every job final", func() bool {
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
	for _, id := range r.IDs {
		j := c.job(id)
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
	poll(t, 5*time.Second, "no job process left", func() bool { return len(jobProcs(c.addr)) == 0 })
	for _, w := range c.workers[1:] {
		w.signal(syscall.SIGTERM)
	}
	for _, w := range c.workers[1:] {
		select {
		case <-w.done:
		case <-time.After(15 * time.Second):
			t.Fatalf("%s did not exit after SIGTERM", w.name)
		}
	}
	if left := jobProcs(c.addr); len(left) > 0 {
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
	pidfile := filepath.Join(c.dir, "hang.pid")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r, err := c.mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{
		{Type: "fail", Retries: 2},
		{Type: "hang", Args: map[string]string{"pidfile": pidfile}, Timeout: time.Second},
	}})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "both jobs final", func() bool { return c.count(jobs.Failed) == 2 })

	fail := c.job(r.IDs[0])
	if len(fail.Attempts) != 3 {
		t.Errorf("fail: %d attempts, want retries+1 = 3", len(fail.Attempts))
	}
	for _, a := range fail.Attempts {
		if a.Outcome != jobs.Error || a.ExitCode != 1 {
			t.Errorf("fail attempt %d: outcome %s exit %d", a.N, a.Outcome, a.ExitCode)
		}
	}
	hang := c.job(r.IDs[1])
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
	poll(t, 5*time.Second, "the hang job's process group gone", func() bool {
		return len(groupMembers(pgid)) == 0
	})
}

// groupMembers lists the processes in process group pgid.
func groupMembers(pgid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command (which is in parentheses): state ppid pgrp.
		rest := stat[bytes.LastIndexByte(stat, ')')+2:]
		f := strings.Fields(string(rest))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			out = append(out, pid)
		}
	}
	return out
}

// TestDemo runs `drover demo` as a newcomer would and checks it ends well.
func TestDemo(t *testing.T) {
	out, err := exec.Command(droverBin, "demo").CombinedOutput()
	if err != nil {
		t.Fatalf("drover demo: %v\n%s", err, out)
	}
	for _, want := range []string{"crashed", "master reaped", "attempts lost with the crashed worker and rerun elsewhere", "all 18 jobs succeeded"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
