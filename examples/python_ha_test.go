package examples_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestPythonHA runs examples/python/worker.py (a push worker and a pull
// worker) and client.py against a raft group of three master processes
// (docs/ha.md), all given the three addresses (docs/protocol.md, "Several
// masters: following the leader"). client.py submits a batch of py.sleep
// jobs; once some are done the leader is killed with SIGKILL. Each worker
// must follow the new leader, register there again (with what it holds)
// under its term, and go on; client.py must wait across the change and see
// every job succeed; and the new leader must have every job of the batch
// once, succeeded with one ok attempt.
func TestPythonHA(t *testing.T) {
	env := newPyEnv(t)
	const n, group = 60, "py-ha"
	g := testproc.StartHA(t, testproc.HAConfig{Masters: 3, ClusterConfig: testproc.ClusterConfig{
		Heartbeat: 500 * time.Millisecond, DeadAfter: 3 * time.Second, Master: `retry_backoff = "50ms"`}})
	workers := map[string]*pyProc{
		"py-ha-push": env.worker(t, g.Addr, "--name", "py-ha-push", "--slots", "3"),
		"py-ha-pull": env.worker(t, g.Addr, "--name", "py-ha-pull", "--slots", "3", "--pull"),
	}
	for _, w := range workers {
		w.waitRegistered(t)
	}
	ids := func() []string { return append(workers["py-ha-push"].ids(), workers["py-ha-pull"].ids()...) }
	client := pyStart(t, env.py, filepath.Join(env.dir, "client.py"), "--master", g.Addr, "--group", group,
		"--count", fmt.Sprint(n), "--type", "py.sleep", "--arg", "seconds=0.2", "--timeout", "120")

	l, term := g.Leader(10 * time.Second)
	testproc.Poll(t, 60*time.Second, "a fifth of the jobs done", func() bool {
		m := g.Counts()
		return m != nil && m[jobs.Succeeded] >= n/5
	})
	before := g.Counts()
	killed := time.Now()
	g.KillMember(l)
	nl, nterm := g.Leader(30 * time.Second)
	elected := time.Since(killed)
	leader := g.Member(nl)
	moved := map[string]string{}
	for name, w := range workers {
		var wid string
		testproc.PollErr(t, 30*time.Second, name+" registered with the new leader", func() error {
			ids := w.ids()
			ws, err := listWorkers(leader)
			if err != nil {
				return err
			}
			for _, x := range ws {
				if x.Name == name && x.State == rpcapi.WorkerAlive && x.ID == ids[len(ids)-1] {
					wid = x.ID
					return nil
				}
			}
			return fmt.Errorf("no live %s with its last ID %v: %+v", name, ids, ws)
		})
		line := fmt.Sprintf("registered as %s with http://%s/RPC2 (term %d,", wid, g.RPC[nl], nterm)
		i := strings.Index(w.Stderr(), line)
		if i < 0 {
			t.Errorf("%s's log has no line %q:\n%s", name, line, w.Stderr())
			continue
		}
		held, _, _ := strings.Cut(w.Stderr()[i+len(line):], ",")
		moved[name] = fmt.Sprintf("%s after the kill, %s", time.Since(killed).Round(time.Millisecond), strings.TrimSpace(held))
	}

	if !client.WaitExit(120 * time.Second) {
		t.Fatalf("client.py still runs after 120s:\n%s", client.Stderr())
	}
	if err := client.Err(); err != nil {
		t.Fatalf("client.py: %v\n%s", err, client.Stderr())
	}
	lines := strings.Split(strings.TrimSuffix(client.Stdout(), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("client.py printed %d lines, want %d:\n%s", len(lines), n, client.Stdout())
	}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 4 || f[1] != "succeeded" || !slices.Contains(ids(), f[2]) || f[3] != "slept 0.2s" {
			t.Errorf("client.py line %d: %q; want ID, succeeded, one of %v, %q", i+1, line, ids(), "slept 0.2s")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := leader.ListAllJobs(ctx, rpcapi.ListJobsArgs{Group: group})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Errorf("the new leader has %d jobs in group %s, want %d", len(all), group, n)
	}
	attempts, other := 0, 0
	for _, j := range all {
		ok := 0
		for _, a := range j.Attempts {
			if a.Outcome == jobs.OK {
				ok++
			} else {
				other++
			}
		}
		attempts += len(j.Attempts)
		if j.State != jobs.Succeeded || ok != 1 {
			t.Errorf("job %s: %s with %d ok attempts (%+v); want succeeded with one", j.ID, j.State, ok, j.Attempts)
		}
	}
	t.Logf("killed leader m%d (term %d) with %d of %d jobs done; m%d leads (term %d) %s later; "+
		"the workers registered with it: %v; %d attempts for %d jobs (%d not ok); client.py made %d calls again",
		l+1, term, before[jobs.Succeeded], n, nl+1, nterm, elected.Round(time.Millisecond), moved,
		attempts, len(all), other, strings.Count(client.Stderr(), "; again"))
}

// TestPythonFollowBrokenCall runs the Masters class of docs/protocol.md
// with a list whose first master reads the call, then dies without
// answering (it closes the connection, and refuses connections from then
// on), and a live leader. The call may have happened, so the class must
// not send it again anywhere (xmlrpc.client alone would send it once more,
// be refused, and the class would go on to the leader): it raises, and the
// leader has no job.
func TestPythonFollowBrokenCall(t *testing.T) {
	py, script := followScript(t)
	m := followLeader(t)
	ln := testnet.Listen(t)
	read := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			read <- err
			return
		}
		defer conn.Close()
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if err == nil {
			_, err = io.Copy(io.Discard, req.Body)
		}
		read <- err
	}()
	dying := "http://" + ln.Addr().String() + "/RPC2"
	r := testproc.Options{Timeout: 30 * time.Second}.Run(t, py, script, dying, "http://"+m.Addr()+"/RPC2")
	if err := <-read; err != nil {
		t.Fatalf("the dying master read no call: %v", err)
	}
	if r.Code == 0 || !strings.Contains(r.Stderr, "RemoteDisconnected") {
		t.Errorf("follow.py: exit %d, want an error for the broken call (RemoteDisconnected)\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	mc := rpcapi.MasterClient{C: rpcapi.NewClient(m.Addr())}
	defer mc.C.Close()
	if c := testproc.Counts(mc); c == nil || c[jobs.Pending] != 0 {
		t.Errorf("the leader's jobs by state: %v; want none (the call was sent once, to the master that died)", c)
	}
}

// TestPythonStaleTerm runs examples/python/worker.py against a master of
// the test's own that answers with a raft term it sets (docs/protocol.md,
// "The term"), and calls the worker's endpoint with the registration's
// secret as a master of a group would. The worker must refuse an
// assign_task or cancel_task of a term below the highest it has seen
// (fault 8, running or stopping nothing), take those of that term or a
// higher one (which then becomes the highest), and take a task_complete
// reply of a lower term as a failed call: the report is sent again, and
// held, until a reply of the current term.
func TestPythonStaleTerm(t *testing.T) {
	env := newPyEnv(t)
	m := &termMaster{Standby: &rpcapi.Standby{}, term: 5, secret: strings.Repeat("5e", 32)}
	addr := m.serve(t)
	w := env.worker(t, addr, "--name", "py-term")
	w.waitRegistered(t)

	c, err := rpcapi.NewXMLClient(m.endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	wc := rpcapi.WorkerClient{C: c}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sleep := func(id string) []rpcapi.Task {
		return []rpcapi.Task{{JobID: id, Attempt: 1, Type: "py.sleep", Args: map[string]string{"seconds": "60"}}}
	}
	assign := func(id string, term int64) error {
		r, err := wc.Assign(ctx, &rpcapi.AssignArgs{WorkerID: "w-py", Secret: m.secret, Tasks: sleep(id), Term: term})
		if err == nil && len(r.Accepted) != 1 {
			return fmt.Errorf("not accepted: %+v", r)
		}
		return err
	}
	cancelJob := func(id string, term int64) error {
		return wc.Cancel(ctx, &rpcapi.WorkerCancelArgs{Secret: m.secret, Jobs: []rpcapi.JobRef{{JobID: id, Attempt: 1}}, Term: term})
	}
	running := func(want int) {
		t.Helper()
		if p, err := wc.Ping(ctx); err != nil || p.Running != want {
			t.Fatalf("ping: %+v, %v; want %d running", p, err, want)
		}
	}

	// The registration's term is 5.
	if err := assign("1", 4); !errors.Is(err, rpcapi.ErrNotLeader) {
		t.Fatalf("assign_task of term 4 after term 5: %v, want fault 8", err)
	}
	running(0)
	if err := assign("1", 5); err != nil {
		t.Fatalf("assign_task of term 5: %v", err)
	}
	if err := assign("2", 6); err != nil {
		t.Fatalf("assign_task of term 6: %v", err)
	}
	running(2)
	// Term 6 is the highest now: 5 is refused.
	if err := cancelJob("1", 5); !errors.Is(err, rpcapi.ErrNotLeader) {
		t.Fatalf("cancel_task of term 5 after term 6: %v, want fault 8", err)
	}
	if err := assign("3", 5); !errors.Is(err, rpcapi.ErrNotLeader) {
		t.Fatalf("assign_task of term 5 after term 6: %v, want fault 8", err)
	}
	running(2)

	// The master answers task_complete with term 3 now: the cancelled
	// job's report goes again and stays held until a term-6 reply.
	m.setTerm(3)
	if err := cancelJob("1", 6); err != nil {
		t.Fatalf("cancel_task of term 6: %v", err)
	}
	testproc.PollErr(t, 10*time.Second, "the report of job 1 sent twice", func() error {
		if sent := m.sent("1"); sent < 2 {
			return fmt.Errorf("sent %d times", sent)
		}
		return nil
	})
	m.setTerm(6)
	testproc.PollErr(t, 10*time.Second, "a heartbeat without job 1", func() error {
		if held := m.held(); slices.Contains(held, "1") || !slices.Contains(held, "2") {
			return fmt.Errorf("the last heartbeat lists %v", held)
		}
		return nil
	})
	// Job 2 is stopped too, so that the worker exits at once at the end.
	if err := cancelJob("2", 6); err != nil {
		t.Fatalf("cancel_task of term 6: %v", err)
	}
	testproc.Poll(t, 10*time.Second, "the report of job 2", func() bool { return m.sent("2") > 0 })
	for _, id := range []string{"1", "2"} {
		if out := m.outcome(id); out != jobs.OutcomeCanceled {
			t.Errorf("job %s reported %q, want cancelled", id, out)
		}
	}
	t.Logf("the report of job 1 went %d times; worker.py's refusals:\n%s", m.sent("1"),
		strings.Join(slices.DeleteFunc(strings.Split(w.Stderr(), "\n"), func(s string) bool { return !strings.Contains(s, "term") }), "\n"))
}

// termMaster is enough of a master for one push worker: it registers it
// (worker ID w-py, the secret it is given), answers its heartbeats and
// reports with the raft term it is set to, and keeps what they carry.
type termMaster struct {
	*rpcapi.Standby // every other call: fault 8
	secret          string

	mu      sync.Mutex
	term    int64
	addr    string              // the worker's endpoint, from its registration
	running []string            // job IDs of the last heartbeat
	reports map[string][]string // job ID -> the outcome of each report of it
}

func (m *termMaster) serve(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(rpcapi.XMLRPCPath, rpcapi.NewXMLRPCHandler(m, nil, rpcapi.XMLRPCOptions{}))
	return testnet.Serve(t, mux)
}

func (m *termMaster) setTerm(term int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.term = term
}

func (m *termMaster) endpoint() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addr
}

func (m *termMaster) sent(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.reports[id])
}

func (m *termMaster) outcome(id string) jobs.Outcome {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.reports[id]; len(r) > 0 {
		return jobs.Outcome(r[len(r)-1])
	}
	return ""
}

func (m *termMaster) held() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.running)
}

func (m *termMaster) Register(_ context.Context, a *rpcapi.RegisterArgs, r *rpcapi.RegisterReply) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addr = a.Addr
	*r = rpcapi.RegisterReply{WorkerID: "w-py", Secret: m.secret, HeartbeatInterval: 200 * time.Millisecond,
		DeadAfter: 2 * time.Second, Term: m.term}
	return nil
}

func (m *termMaster) Heartbeat(_ context.Context, a *rpcapi.HeartbeatArgs, r *rpcapi.HeartbeatReply) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running = nil
	for _, j := range a.Running {
		m.running = append(m.running, j.JobID)
	}
	*r = rpcapi.HeartbeatReply{Status: rpcapi.BeatOK, Term: m.term}
	return nil
}

func (m *termMaster) Complete(_ context.Context, a *rpcapi.CompleteArgs, r *rpcapi.CompleteReply) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reports == nil {
		m.reports = map[string][]string{}
	}
	for _, rep := range a.Reports {
		m.reports[rep.JobID] = append(m.reports[rep.JobID], string(rep.Outcome))
	}
	*r = rpcapi.CompleteReply{Accepted: len(a.Reports), Term: m.term}
	return nil
}

func (m *termMaster) Logout(context.Context, *rpcapi.LogoutArgs, *rpcapi.Empty) error { return nil }
