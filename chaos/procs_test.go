package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
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

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// droverBin is the drover binary built by TestMain.
var droverBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every scenario skips itself
	}
	dir, err := os.MkdirTemp("", "drover-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	droverBin = filepath.Join(dir, "drover")
	args := []string{"build", "-o", droverBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "github.com/drover/drover/cmd/drover")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build drover: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Timing of the process clusters: short, so a dead worker is noticed in
// about a second.
const (
	beat      = 250 * time.Millisecond
	deadAfter = 1200 * time.Millisecond
)

// proc is a drover process started by a test. It is killed (and resumed
// first, if stopped) at cleanup, and its log is checked for data races.
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
		p.signal(syscall.SIGCONT)
		p.kill9()
		log := p.log.String()
		if strings.Contains(log, "WARNING: DATA RACE") {
			t.Errorf("%s (pid %d) reported a data race:\n%s", p.name, p.cmd.Process.Pid, log)
		} else if t.Failed() {
			t.Logf("--- log of %s (pid %d), last 4KB ---\n%s", p.name, p.cmd.Process.Pid, tail(log, 4096))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func (p *proc) signal(s syscall.Signal) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(s)
	}
}

// kill9 kills the process with SIGKILL and waits until it is gone.
func (p *proc) kill9() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// logField waits for the first JSON log line with msg and returns its
// field.
func (p *proc) logField(msg, field string) string {
	p.t.Helper()
	var v string
	drovertest.Eventually(p.t, 20*time.Second, "log line "+strconv.Quote(msg)+" of "+p.name, func() bool {
		select {
		case <-p.done:
			p.t.Fatalf("%s exited: %v\n%s", p.name, p.cmd.ProcessState, tail(p.log.String(), 4096))
		default:
		}
		sc := bufio.NewScanner(strings.NewReader(p.log.String()))
		sc.Buffer(nil, 1<<20)
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

// appendCommand is the job every process scenario runs: it appends
// "ID ATTEMPT" to the file {log}, then sleeps {sleep} seconds, so a job
// killed in its sleep has run (and will run again).
const appendCommand = `
[commands.append]
argv = ["sh", "-c", "echo \"$DROVER_JOB_ID $DROVER_ATTEMPT\" >> \"$0\"; sleep \"$1\"", "{log}", "{sleep}"]
timeout = "30s"
`

// procCluster is a master process and worker processes on 127.0.0.1.
type procCluster struct {
	t       *testing.T
	dir     string
	ranLog  string
	addr    string
	master  *proc
	workers []*proc
	confs   []string
	mc      rpcapi.MasterClient
}

// startProcCluster starts a master (bolt store in a temporary data dir)
// and n workers of slots slots each, and waits until they have registered.
func startProcCluster(t *testing.T, n, slots int) *procCluster {
	t.Helper()
	c := &procCluster{t: t, dir: t.TempDir()}
	c.ranLog = filepath.Join(c.dir, "ran.log")
	writeFile(t, filepath.Join(c.dir, "master.toml"), fmt.Sprintf(`
listen = "127.0.0.1:0"
data_dir = %q
heartbeat_interval = "%s"
dead_after = "%s"
retry_backoff = "20ms"
max_backoff = "200ms"
log_format = "json"
`, filepath.Join(c.dir, "data"), beat, deadAfter))
	c.startMaster("127.0.0.1:0")
	// Registered after the processes' cleanups, so it runs once they are
	// all killed: no job process of this cluster may be left.
	addr := c.addr
	t.Cleanup(func() {
		drovertest.Eventually(t, 10*time.Second, "no job process left", func() bool {
			return len(jobProcs(addr)) == 0
		})
	})
	cl, err := rpcapi.NewCaller(c.addr, rpcapi.TransportGob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	c.mc = rpcapi.MasterClient{C: cl}
	for i := range n {
		name := fmt.Sprintf("worker-%d", i)
		conf := filepath.Join(c.dir, name+".toml")
		writeFile(t, conf, fmt.Sprintf(`
master = %q
listen = "127.0.0.1:0"
name = %q
slots = %d
kill_grace = "300ms"
log_format = "json"
%s`, c.addr, name, slots, appendCommand))
		c.confs = append(c.confs, conf)
		c.workers = append(c.workers, startProc(t, name, "worker", "--config", conf))
	}
	drovertest.Eventually(t, 20*time.Second, "workers to register", func() bool { return c.alive() == n })
	return c
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startMaster starts the master process on listen and waits for its
// address.
func (c *procCluster) startMaster(listen string) {
	c.t.Helper()
	c.master = startProc(c.t, "master", "master", "--config", filepath.Join(c.dir, "master.toml"), "--listen", listen)
	c.addr = c.master.logField("master listening", "addr")
}

// killMaster kills the master with SIGKILL and starts it again on the
// same address and data dir.
func (c *procCluster) killMaster() {
	c.t.Helper()
	c.master.kill9()
	addr := c.addr
	c.startMaster(addr)
	if c.addr != addr {
		c.t.Fatalf("master came back on %s, want %s", c.addr, addr)
	}
	drovertest.Eventually(c.t, 10*time.Second, "the restarted master to answer", func() bool { return c.counts() != nil })
}

// restartWorker starts worker i again (same conf, so the same name) after
// it was killed.
func (c *procCluster) restartWorker(i int) {
	c.t.Helper()
	c.workers[i] = startProc(c.t, fmt.Sprintf("worker-%d", i), "worker", "--config", c.confs[i])
}

func ctx5() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// alive counts the workers the master lists alive; -1 when it does not
// answer.
func (c *procCluster) alive() int {
	ctx, cancel := ctx5()
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

// workerInfo returns the master's latest record of the worker named name.
func (c *procCluster) workerInfo(name string) (rpcapi.WorkerInfo, bool) {
	ctx, cancel := ctx5()
	defer cancel()
	r, err := c.mc.ListWorkers(ctx)
	if err != nil {
		return rpcapi.WorkerInfo{}, false
	}
	var best rpcapi.WorkerInfo
	found := false
	for _, w := range r.Workers {
		if w.Name == name && (!found || w.Registered.After(best.Registered)) {
			best, found = w, true
		}
	}
	return best, found
}

// counts returns the master's job counts by state, nil when it does not
// answer.
func (c *procCluster) counts() map[jobs.State]int {
	ctx, cancel := ctx5()
	defer cancel()
	r, err := c.mc.Status(ctx)
	if err != nil {
		return nil
	}
	return r.Counts
}

func final(counts map[jobs.State]int) int {
	return counts[jobs.Succeeded] + counts[jobs.Failed] + counts[jobs.Cancelled]
}

// submit submits n append jobs that sleep for sleep seconds, in group.
func (c *procCluster) submit(group string, n int, sleep string) []string {
	c.t.Helper()
	specs := make([]jobs.Spec, n)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "append", Retries: retries, Group: group,
			Args: map[string]string{"log": c.ranLog, "sleep": sleep}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := c.mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs})
	if err != nil {
		c.t.Fatalf("submit: %v", err)
	}
	return r.IDs
}

// waitFinal waits until n jobs are final, riding out master restarts.
func (c *procCluster) waitFinal(n int, timeout time.Duration) {
	c.t.Helper()
	var last map[jobs.State]int
	deadline := time.Now().Add(timeout)
	for {
		if m := c.counts(); m != nil {
			last = m
			if final(m) >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("jobs not final within %s: counts %v", timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jobs lists every job of the master.
func (c *procCluster) jobs() []jobs.Job {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all, err := c.mc.ListAllJobs(ctx, rpcapi.ListJobsArgs{Limit: rpcapi.MaxPageSize})
	if err != nil {
		c.t.Fatalf("list jobs: %v", err)
	}
	return all
}

// metric reads one metric from the master's /metrics page.
func (c *procCluster) metric(name string) float64 {
	c.t.Helper()
	text, err := drovertest.FetchMetrics(c.addr)
	if err != nil {
		c.t.Fatal(err)
	}
	v, _ := drovertest.MetricValue(text, name)
	return v
}

// started returns the attempts that have started (written their line to
// the run log).
func (c *procCluster) started() map[rpcapi.JobRef]bool {
	out := map[rpcapi.JobRef]bool{}
	data, _ := os.ReadFile(c.ranLog)
	for line := range strings.Lines(string(data)) {
		id, att, ok := strings.Cut(strings.TrimSpace(line), " ")
		if n, err := strconv.Atoi(att); ok && err == nil {
			out[rpcapi.JobRef{JobID: id, Attempt: n}] = true
		}
	}
	return out
}

// jobProcs returns the PIDs of processes whose environment names the
// master at addr: the subprocesses of its jobs.
func jobProcs(addr string) []int {
	var pids []int
	want := []byte("DROVER_MASTER=" + addr)
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
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}
