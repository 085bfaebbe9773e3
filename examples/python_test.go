package examples_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestPython runs the Python examples (examples/python) and the minimal
// worker and client of docs/protocol.md against real master processes over
// XML-RPC: a push worker and a pull worker with client.py, a worker killed
// with SIGKILL mid-job, a fleet mixing Go workers (gob and XML-RPC) with a
// Python one, calls made straight to a Python worker without its
// registration's secret, and XML-RPC introspection (and purge_jobs) from
// Python. Each subtest has a master of its own and they run in parallel.
func TestPython(t *testing.T) {
	env := newPyEnv(t)

	t.Run("PushWorkerAndClient", func(t *testing.T) {
		t.Parallel()
		addr := env.master(t)
		w := env.worker(t, addr, "--name", "py-push")
		w.waitRegistered(t)
		out := env.client(t, addr, 0, "--count", "20", "--timeout", "30")
		pyCheckEcho(t, out, 20, w.ids())
	})

	t.Run("PullWorkerAndClient", func(t *testing.T) {
		t.Parallel()
		addr := env.master(t)
		w := env.worker(t, addr, "--pull", "--name", "py-pull", "--slots", "3")
		w.waitRegistered(t)
		out := env.client(t, addr, 0, "--count", "12", "--timeout", "30")
		pyCheckEcho(t, out, 12, w.ids())
		// A job that fails for good: py.echo without a "text" arg.
		mc := pyXMLClient(t, addr)
		ids := testproc.Submit(t, mc, jobs.Spec{Type: "py.echo", Args: map[string]string{"other": "x"}, Retries: 3})
		testproc.WaitAll(t, mc, ids, 10*time.Second)
		if j := testproc.Job(t, mc, ids[0]); j.State != jobs.Failed || len(j.Attempts) != 1 ||
			!strings.Contains(j.Attempts[0].Error, `missing arg "text"`) {
			t.Errorf("py.echo without text: state %s, attempts %+v; want failed after 1 attempt naming the arg", j.State, j.Attempts)
		}
	})

	// A call made straight to the push worker's endpoint, without the
	// secret of its registration, is fault 6: it runs nothing and stops
	// nothing; the master's own work goes on.
	t.Run("DirectAssignRefused", func(t *testing.T) {
		t.Parallel()
		addr := env.master(t)
		w := env.worker(t, addr, "--name", "py-direct")
		wid := w.waitRegistered(t)
		mc := pyXMLClient(t, addr)
		id := testproc.Submit(t, mc, jobs.Spec{Type: "py.sleep", Args: map[string]string{"seconds": "1.5"}})[0]
		var endpoint string
		testproc.Poll(t, 10*time.Second, "the sleep job running on the Python worker", func() bool {
			ws, err := listWorkers(mc)
			for _, x := range ws {
				if x.ID == wid && x.Running == 1 {
					endpoint = x.Addr
				}
			}
			return err == nil && endpoint != ""
		})
		c, err := rpcapi.NewXMLClient(endpoint)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		wc := rpcapi.WorkerClient{C: c}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, secret := range []string{"", strings.Repeat("0", 64)} {
			_, err := wc.Assign(ctx, &rpcapi.AssignArgs{WorkerID: wid, Secret: secret,
				Tasks: []rpcapi.Task{{JobID: "made-up", Attempt: 1, Type: "py.echo", Args: map[string]string{"text": "x"}}}})
			if !errors.Is(err, rpcapi.ErrUnauthorized) {
				t.Errorf("assign_task with secret %q: %v, want fault 6", secret, err)
			}
			err = wc.Cancel(ctx, &rpcapi.WorkerCancelArgs{Secret: secret, Jobs: []rpcapi.JobRef{{JobID: id, Attempt: 1}}})
			if !errors.Is(err, rpcapi.ErrUnauthorized) {
				t.Errorf("cancel_task with secret %q: %v, want fault 6", secret, err)
			}
		}
		if p, err := wc.Ping(ctx); err != nil || p.Running != 1 {
			t.Errorf("ping after refused calls: %+v %v, want the 1 job the master gave", p, err)
		}
		testproc.WaitAll(t, mc, []string{id}, 10*time.Second)
		if j := testproc.Job(t, mc, id); j.State != jobs.Succeeded || j.Attempts[0].Worker != wid {
			t.Errorf("the master's job: %s, attempts %+v; want succeeded on %s", j.State, j.Attempts, wid)
		}
	})

	t.Run("KillWorker", func(t *testing.T) {
		t.Parallel()
		addr := env.master(t)
		push := env.worker(t, addr, "--name", "py-a", "--slots", "2")
		pull := env.worker(t, addr, "--pull", "--name", "py-b", "--slots", "2")
		push.waitRegistered(t)
		pull.waitRegistered(t)
		owner := func(wid string) *pyProc { // a worker reaped under load re-registers
			for _, p := range []*pyProc{push, pull} {
				if slices.Contains(p.ids(), wid) {
					return p
				}
			}
			return nil
		}
		mc := pyXMLClient(t, addr)
		ids := testproc.Submit(t, mc, jobs.Spec{Type: "py.sleep", Args: map[string]string{"seconds": "2"}, Retries: 2})

		// Wait until the job runs on a worker that has taken it (the master
		// logs "started on" for push, "fetched by" for pull), then kill that
		// worker's process outright.
		var victim string
		testproc.PollErr(t, 10*time.Second, "the job to start on a worker", func() error {
			j := testproc.Job(t, mc, ids[0])
			if j.State != jobs.Running || owner(j.Worker) == nil {
				return fmt.Errorf("job %s on %q", j.State, j.Worker)
			}
			for _, e := range j.Events {
				if strings.Contains(e.Text, "started on "+j.Worker) || strings.Contains(e.Text, "fetched by "+j.Worker) {
					victim = j.Worker
					return nil
				}
			}
			return fmt.Errorf("not taken yet: %+v", j.Events)
		})
		killed := owner(victim)
		killed.Kill()
		survivor := push
		if killed == push {
			survivor = pull
		}

		testproc.PollErr(t, 10*time.Second, "the master to declare "+victim+" dead", func() error {
			ws, err := listWorkers(mc)
			if err != nil {
				return err
			}
			for _, w := range ws {
				if w.ID == victim {
					if w.State != rpcapi.WorkerDead || w.Died.IsZero() {
						return fmt.Errorf("%s is %s", victim, w.State)
					}
					return nil
				}
			}
			return fmt.Errorf("%s not listed", victim)
		})
		testproc.WaitAll(t, mc, ids, 15*time.Second)
		j := testproc.Job(t, mc, ids[0])
		if j.State != jobs.Succeeded || len(j.Attempts) != 2 {
			t.Fatalf("job %s after %d attempts (%+v); want succeeded after 2", j.State, len(j.Attempts), j.Attempts)
		}
		if a := j.Attempts[0]; a.Outcome != jobs.Lost || a.Worker != victim {
			t.Errorf("attempt 1: %s on %s; want lost on %s", a.Outcome, a.Worker, victim)
		}
		if a := j.Attempts[1]; a.Outcome != jobs.OK || !slices.Contains(survivor.ids(), a.Worker) || a.Output != "slept 2s" {
			t.Errorf("attempt 2: %s on %s, output %q; want ok on %s, %q", a.Outcome, a.Worker, a.Output, survivor.ids(), "slept 2s")
		}
	})

	t.Run("MixedFleet", func(t *testing.T) {
		t.Parallel()
		addr := env.master(t)
		for _, transport := range []string{"xmlrpc", "gob"} {
			conf := pyWriteFile(t, t.TempDir(), "worker.toml", fmt.Sprintf(`
slots = 2
kill_grace = "300ms"
shutdown_grace = "5s"
log_format = "json"
[commands.go-%s]
argv = ["echo", "{text}"]
`, transport))
			pyStart(t, env.drover, "worker", "--config", conf, "--master", addr, "--transport", transport,
				"--name", "go-"+transport)
		}
		env.worker(t, addr, "--name", "py-mixed").waitRegistered(t)
		mc := pyXMLClient(t, addr)
		pyWaitWorkers(t, mc, 3)

		var specs []jobs.Spec
		want := map[string]string{} // job text -> the name of the worker that must run it
		for i := range 6 {
			for _, typ := range []string{"go-xmlrpc", "go-gob", "py.echo"} {
				text := fmt.Sprintf("%s %d", typ, i)
				specs = append(specs, jobs.Spec{Type: typ, Args: map[string]string{"text": text}, Group: "mixed"})
				want[text] = map[string]string{"go-xmlrpc": "go-xmlrpc", "go-gob": "go-gob", "py.echo": "py-mixed"}[typ]
			}
		}
		ids := testproc.Submit(t, mc, specs...)
		testproc.WaitAll(t, mc, ids, 15*time.Second)
		names := pyWorkerNames(t, mc)
		for i, id := range ids {
			j := testproc.Job(t, mc, id)
			text := specs[i].Args["text"]
			if j.State != jobs.Succeeded || len(j.Attempts) == 0 {
				t.Errorf("job %s (%s): %s; want succeeded", id, text, j.State)
				continue
			}
			a := j.Attempts[len(j.Attempts)-1]
			wantOut := text + "\n"
			if specs[i].Type == "py.echo" {
				wantOut = pyReverse(text)
			}
			if a.Output != wantOut || names[a.Worker] != want[text] {
				t.Errorf("job %s (%s): output %q on %s (%s); want %q on %s", id, text, a.Output, a.Worker, names[a.Worker], wantOut, want[text])
			}
		}
	})

	t.Run("Introspection", func(t *testing.T) {
		t.Parallel()
		addr := env.master(t)
		out := env.python(t, 10*time.Second, "-c", pyIntrospect, addr)
		for _, want := range []string{
			"methods cancel_jobs fetch_tasks get_group get_job get_master_status heartbeat list_groups list_jobs list_queues list_schedules list_workers " +
				"logout_worker pause_schedule purge_jobs register_worker resume_schedule submit_jobs system.listMethods " +
				"system.methodHelp system.methodSignature task_complete wait_jobs",
			"help Submit a batch of jobs; one invalid spec fails the whole call. Params {specs: [Spec]}. Result {ids: [string], existing: [boolean], then_ids: [FollowUp]}.",
			"sig [['struct'], ['struct', 'struct']]",
			"sig listMethods [['array']]",
			"status counts=cancelled,failed,pending,running,succeeded workers=0",
			"fault no_such_method -32601",
			"fault get_job 2",
			"fault bogus member -32602",
			"fault two params -32602",
			"fault heartbeat ok unknown",
			"fault fetch unknown 1",
			"paged 5 4 3 2 1 asc 1 2 3",
			"fault bad cursor 3",
			"fault limit over max 3",
			"workers page 0 ''",
			"purge 1 0",
			"fault purge gone 2",
			"purge live pending",
			"fault purge no filter 3",
			"fault purge running 3",
			"fault purge negative -32602",
		} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("output lacks line %q:\n%s", want, out)
			}
		}
	})

	t.Run("DocMinimalWorker", func(t *testing.T) {
		t.Parallel()
		code := pyDocBlock(t, filepath.Join("..", "docs", "protocol.md"), "## A minimal worker")
		file := pyWriteFile(t, t.TempDir(), "minimal_worker.py", code)
		addr := env.master(t)
		w := pyStart(t, env.py, file, addr)
		w.waitRegistered(t)
		mc := pyXMLClient(t, addr)
		var specs []jobs.Spec
		for i := range 5 {
			specs = append(specs, jobs.Spec{Type: "py.upper", Args: map[string]string{"text": fmt.Sprintf("hello %d", i)}})
		}
		specs = append(specs, jobs.Spec{Type: "py.upper", Retries: 2}) // no text: fails for good
		ids := testproc.Submit(t, mc, specs...)
		testproc.WaitAll(t, mc, ids, 10*time.Second)
		for i, id := range ids {
			j := testproc.Job(t, mc, id)
			if i == len(ids)-1 {
				if j.State != jobs.Failed || len(j.Attempts) != 1 {
					t.Errorf("job without text: %s after %d attempts; want failed after 1", j.State, len(j.Attempts))
				}
				continue
			}
			want := strings.ToUpper(specs[i].Args["text"])
			if a := j.Attempts[len(j.Attempts)-1]; j.State != jobs.Succeeded || a.Output != want || !slices.Contains(w.ids(), a.Worker) {
				t.Errorf("job %s: %s, output %q on %s; want succeeded, %q on one of %v", id, j.State, a.Output, a.Worker, want, w.ids())
			}
		}
		// The doc's minimal client, pointed at this master.
		client := strings.ReplaceAll(pyDocBlock(t, filepath.Join("..", "docs", "protocol.md"), "## A minimal client"),
			"127.0.0.1:7070", addr)
		if out := env.python(t, 10*time.Second, "-c", client); out != "succeeded HI\n" {
			t.Errorf("minimal client printed %q, want %q", out, "succeeded HI\n")
		}

		// Idle, it keeps itself alive past dead_after (1.2s).
		testproc.PollErr(t, 10*time.Second, "the minimal worker to stay alive past dead_after", func() error {
			ws, err := listWorkers(mc)
			if err != nil {
				return err
			}
			for _, x := range ws {
				if x.State == rpcapi.WorkerAlive && slices.Contains(w.ids(), x.ID) && x.LastHeartbeat.Sub(x.Registered) > 1500*time.Millisecond {
					return nil
				}
			}
			return fmt.Errorf("no worker of %v alive for 1.5s: %+v", w.ids(), ws)
		})
	})
}

// pyIntrospect is run as python3 -c pyIntrospect HOST:PORT.
const pyIntrospect = `
import sys, xmlrpc.client
p = xmlrpc.client.ServerProxy("http://%s/RPC2" % sys.argv[1], allow_none=True)
print("methods", " ".join(p.system.listMethods()))
h = p.system.methodHelp("submit_jobs")
print("help", h[:h.index(" Spec: {")])
print("sig", p.system.methodSignature("submit_jobs"))
print("sig listMethods", p.system.methodSignature("system.listMethods"))
st = p.get_master_status()
print("status counts=%s workers=%d" % (",".join(sorted(st["counts"])), len(st["workers"])))
def fault(label, call):
    try:
        call()
        print("fault", label, "none")
    except xmlrpc.client.Fault as f:
        print("fault", label, f.faultCode)
fault("no_such_method", lambda: p.no_such_method({}))
fault("get_job", lambda: p.get_job({"id": "999"}))
fault("bogus member", lambda: p.get_job({"id": "1", "bogus": 1}))
fault("two params", lambda: p.get_job({"id": "1"}, {"id": "2"}))
print("fault heartbeat ok", p.heartbeat({"worker_id": "w404"})["status"])
fault("fetch unknown", lambda: p.fetch_tasks({"worker_id": "w404", "timeout": 0.1}))
p.submit_jobs({"specs": [{"type": "py.none"}] * 5})
page, seen = p.list_jobs({"limit": 2}), []
while True:  # follow next_cursor to the end
    seen += [j["id"] for j in page["jobs"]]
    if not page["next_cursor"]:
        break
    page = p.list_jobs({"limit": 2, "cursor": page["next_cursor"]})
print("paged", " ".join(seen), "asc", " ".join(j["id"] for j in p.list_jobs({"limit": 3, "order": "asc"})["jobs"]))
fault("bad cursor", lambda: p.list_jobs({"cursor": "nope"}))
fault("limit over max", lambda: p.list_jobs({"limit": 1001}))
w = p.list_workers({"limit": 1})
print("workers page", len(w["workers"]), repr(w["next_cursor"]))
ids = p.submit_jobs({"specs": [{"type": "py.none"}] * 2})["ids"]
p.cancel_jobs({"ids": ids[:1]})
print("purge", p.purge_jobs({"state": "cancelled"})["purged"], p.purge_jobs({"state": "cancelled"})["purged"])
fault("purge gone", lambda: p.get_job({"id": ids[0]}))
print("purge live", p.get_job({"id": ids[1]})["job"]["state"])
fault("purge no filter", lambda: p.purge_jobs({}))
fault("purge running", lambda: p.purge_jobs({"state": "running"}))
fault("purge negative", lambda: p.purge_jobs({"older_than": -1}))
`

// pyEnv is what the subtests share: the python3 and drover binaries and
// the directory of the Python examples.
type pyEnv struct {
	py, drover, dir string
}

// newPyEnv is the environment of a test of the Python examples. It skips
// the test with -short, or without python3 (see pyNeedPython), and builds
// drover.
func newPyEnv(t *testing.T) *pyEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("builds drover and runs Python processes")
	}
	return &pyEnv{py: pyNeedPython(t), drover: testproc.Drover(t), dir: "python"}
}

// master starts a drover master with an in-memory store and fast beats and
// returns its address.
func (e *pyEnv) master(t *testing.T) string {
	t.Helper()
	conf := pyWriteFile(t, t.TempDir(), "master.toml", `
heartbeat_interval = "300ms"
dead_after = "1200ms"
retry_backoff = "50ms"
`)
	return pyStart(t, e.drover, "master", "--config", conf, "--listen", "127.0.0.1:0", "--store", "memory", "--log-format", "json").Addr()
}

// worker starts examples/python/worker.py against addr.
func (e *pyEnv) worker(t *testing.T, addr string, args ...string) *pyProc {
	t.Helper()
	return pyStart(t, e.py, append([]string{filepath.Join(e.dir, "worker.py"), "--master", addr}, args...)...)
}

// client runs examples/python/client.py to the end, fails the test unless
// it exits with code, and returns its stdout.
func (e *pyEnv) client(t *testing.T, addr string, code int, args ...string) string {
	t.Helper()
	return e.pythonExit(t, 40*time.Second, code, append([]string{filepath.Join(e.dir, "client.py"), "--master", addr}, args...)...)
}

// python runs python3 with args to the end, fails the test unless it exits
// 0, and returns its stdout.
func (e *pyEnv) python(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	return e.pythonExit(t, timeout, 0, args...)
}

func (e *pyEnv) pythonExit(t *testing.T, timeout time.Duration, code int, args ...string) string {
	t.Helper()
	r := testproc.Options{Timeout: timeout}.Run(t, e.py, args...)
	if r.Code != code {
		t.Fatalf("python3 %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// pyCheckEcho checks client.py's lines for n py.echo jobs, all succeeded on
// one of the worker IDs wids (a worker reaped under load re-registers) with
// the text reversed.
func pyCheckEcho(t *testing.T, out string, n int, wids []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("client printed %d lines, want %d:\n%s", len(lines), n, out)
	}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		want := pyReverse(fmt.Sprintf("hello %d", i+1))
		if len(f) != 4 || f[1] != "succeeded" || !slices.Contains(wids, f[2]) || f[3] != want {
			t.Errorf("line %d: %q; want ID, succeeded, one of %v, %q", i+1, line, wids, want)
		}
	}
}

func pyReverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

func pyNeedPython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 is not on PATH; CI must have it to test examples/python")
		}
		t.Skip("python3 is not on PATH: skipping the Python examples")
	}
	return py
}

func pyWriteFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pyDocBlock returns the first ```python block after the line heading in
// the Markdown file at path.
func pyDocBlock(t *testing.T, path, heading string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no heading %q", path, heading)
	}
	_, rest, ok = strings.Cut(rest, "\n```python\n")
	if !ok {
		t.Fatalf("%s: no ```python block under %q", path, heading)
	}
	code, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatalf("%s: the python block under %q does not end", path, heading)
	}
	return code + "\n"
}

func pyXMLClient(t *testing.T, addr string) rpcapi.MasterClient {
	t.Helper()
	c, err := rpcapi.NewXMLClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return rpcapi.MasterClient{C: c}
}

// pyWaitWorkers waits until n workers are alive.
func pyWaitWorkers(t *testing.T, mc rpcapi.MasterClient, n int) {
	t.Helper()
	testproc.Poll(t, 10*time.Second, fmt.Sprintf("%d live workers", n), func() bool { return testproc.Alive(mc) == n })
}

// pyWorkerNames returns the name of every listed worker (dead ones too) by
// ID.
func pyWorkerNames(t *testing.T, mc rpcapi.MasterClient) map[string]string {
	t.Helper()
	ws, err := listWorkers(mc)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, w := range ws {
		names[w.ID] = w.Name
	}
	return names
}

// pyProc is a process started by a test; pyStart documents its cleanup.
type pyProc struct{ *testproc.Proc }

// pyStart starts path with args. At cleanup the process gets SIGTERM, then
// SIGKILL after 5s; the test fails unless it exited 0 on SIGTERM (or was
// killed on purpose with Kill). Its output is logged when the test failed.
func pyStart(t *testing.T, path string, args ...string) *pyProc {
	t.Helper()
	name := filepath.Base(path)
	if len(args) > 0 && strings.HasSuffix(args[0], ".py") {
		name = filepath.Base(args[0])
	}
	return &pyProc{testproc.Options{Name: name, Grace: 5 * time.Second}.Start(t, path, args...)}
}

var pyRegistered = regexp.MustCompile(`(?m)^registered (\S+)$`)

// ids returns every worker ID the process printed ("registered ID" lines):
// a worker that was reaped, or whose master restarted, registers again.
func (p *pyProc) ids() []string {
	var ids []string
	for _, m := range pyRegistered.FindAllStringSubmatch(p.Stdout(), -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// waitRegistered waits for the "registered WORKER_ID" line on stdout and
// returns the ID.
func (p *pyProc) waitRegistered(t *testing.T) string {
	t.Helper()
	line, err := p.WaitLine(10*time.Second, pyRegistered.MatchString)
	if err != nil {
		t.Fatalf("%s to register: %v\n%s", p.Name(), err, p.Stderr())
	}
	return pyRegistered.FindStringSubmatch(line)[1]
}
