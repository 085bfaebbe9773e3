package examples_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
)

// TestPythonWant runs pyWant, a push worker in Python's standard library
// written from docs/protocol.md alone (task_complete's want, tasks, commit
// and durable; Heartbeats and reconciliation; A worker's duty), against
// real masters with the bolt store, one each:
//
//   - RepliesCarryTasks: 3 jobs on 1 slot; the first task comes by
//     assign_task, each report with want 1 gets the next task in its reply
//     with a commit, the last (queue empty) none and commit 0, with a
//     durable that reaches the earlier commits; no assign_task for the
//     tasks the replies carried; every job succeeded once.
//   - BadOrIgnoredWant: want -1 is fault 3 and changes nothing; want from a
//     draining push worker and from a pull worker hands out nothing.
//   - UnstartedTaskLost: a task a reply handed out that the worker never
//     starts is kept by the first heartbeat that leaves it out, ended lost
//     by the second, and runs again (attempt 2, by assign_task).
//   - EmptyReportsConfirm: task_complete without reports returns a durable
//     that reaches the commit seen before.
//   - WantBelowFreeSlots: with 2 free slots and want 1, the reply carries
//     one task and the other comes by assign_task at once.
//   - ResendAfterReap: a worker reaped while a report of it was answered
//     with a commit (on disk, not confirmed to it) registers again: the
//     reply's cancel names the attempt (its outcome is recorded), so the
//     worker drops the report instead of sending it again.
//   - DurableAcrossKill: the master is killed with SIGKILL and started
//     again on its data dir while a report answered with a commit is on
//     disk (another registration's empty task_complete waited for it) but
//     not confirmed to the worker; the confirmed report is recorded, the
//     other's attempt comes back in register_worker's cancel (recorded),
//     the running job is adopted, and each job has one ok attempt.
func TestPythonWant(t *testing.T) {
	env := newPyEnv(t)
	for _, sc := range []struct {
		name, arg string
		want      []string
	}{
		{"RepliesCarryTasks", "s1", []string{
			"s1 first task job1:1",
			"s1 reply 1 members accepted beat commit dropped durable refused tasks",
			"s1 reply 1 accepted 1 dropped 0 refused 0 tasks ['job2:1']",
			"s1 reply 1 commit set True task members args attempt group input job_id timeout type args {'n': '2'}",
			"s1 reply 2 members accepted beat commit dropped durable refused tasks",
			"s1 reply 2 accepted 1 dropped 0 refused 0 tasks ['job3:1']",
			"s1 reply 2 commit set True task members args attempt group input job_id timeout type args {'n': '3'}",
			"s1 reply 3 members accepted beat commit dropped durable refused tasks",
			"s1 reply 3 accepted 1 dropped 0 refused 0 tasks []",
			"s1 reply 3 commit 0 durable reaches 2 earlier commits True",
			"s1 assign_task carried ['job1:1']",
			"s1 job1 succeeded attempts [(1, 'ok', 'w0')]",
			"s1 job2 succeeded attempts [(1, 'ok', 'w0')]",
			"s1 job3 succeeded attempts [(1, 'ok', 'w0')]",
		}},
		{"BadOrIgnoredWant", "s2", []string{
			"s2 want -1 fault 3 rpcapi: bad request: want -1 is negative",
			"s2 after the fault job1 running attempt 1 outcomes ['']",
			"s2 after the fault job2 pending attempt 0 outcomes []",
			"s2 want 0 accepted 1 tasks [] commit 0",
			"s2 by assign_task job2:1",
			"s2 draining want 1 accepted 1 tasks [] commit 0",
			"s2 job1 succeeded attempts [(1, 'ok', 'w0')]",
			"s2 job2 succeeded attempts [(1, 'ok', 'w0')]",
			"s2 job3 pending attempts []",
			"s2 pull want 1 accepted 1 tasks [] commit 0",
			"s2 pull fetched ['job5:1']",
			"s2 pull job4 succeeded attempts [(1, 'ok', True)]",
			"s2 pull job5 succeeded attempts [(1, 'ok', True)]",
		}},
		{"UnstartedTaskLost", "s3", []string{
			"s3 handed out ['job2:1']",
			"s3 after 1 beats without it: status ok cancel [] job2 attempt 1 ''",
			"s3 after 2 beats without it: status ok cancel [] job2 attempt 1 'lost'",
			"s3 by assign_task job2:2",
			"s3 reported accepted 1 commit 0",
			"s3 assign_task carried ['job1:1', 'job2:2']",
			"s3 job1 succeeded attempts [(1, 'ok', 'w0')]",
			"s3 job2 succeeded attempts [(1, 'lost', 'w0'), (2, 'ok', 'w0')]",
		}},
		{"WantBelowFreeSlots", "s6", []string{
			"s6 reply accepted 2 tasks ['job3:1'] commit set True",
			"s6 by assign_task job4:1 within a heartbeat interval True",
			"s6 assign_task carried ['job1:1', 'job2:1', 'job4:1']",
			"s6 job1 succeeded attempts [(1, 'ok', 'w0')]",
			"s6 job2 succeeded attempts [(1, 'ok', 'w0')]",
			"s6 job3 succeeded attempts [(1, 'ok', 'w0')]",
			"s6 job4 succeeded attempts [(1, 'ok', 'w0')]",
		}},
		{"ResendAfterReap", "s7", []string{
			"s7 handed out ['job2:1'] commit set True; on disk True",
			"s7 reaped: heartbeat unknown",
			// job1 succeeded and job2's lease ended lost when w0 was reaped:
			// neither attempt is live.
			"s7 registered again cancel ['job1:1', 'job2:1']",
			"s7 sent again []", // both in cancel: job1's outcome is recorded
			"s7 by assign_task job2 attempt above 1 True accepted 1",
			"s7 job1 succeeded attempts [(1, 'ok', 'w0')]",
			"s7 job2 succeeded attempts [(1, 'lost', 'w0'), ('2+', 'ok', 'w1')]",
		}},
		{"EmptyReportsConfirm", "s4", []string{
			"s4 reply commit set True tasks ['job2:1']",
			"s4 empty members accepted beat commit dropped durable refused tasks",
			"s4 empty accepted 0 dropped 0 refused 0 tasks []",
			"s4 empty commit 0 durable reaches the commit True",
			"s4 last accepted 1 tasks [] commit 0",
			"s4 nothing held []",
			"s4 job1 succeeded attempts [(1, 'ok', 'w0')]",
			"s4 job2 succeeded attempts [(1, 'ok', 'w0')]",
		}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			addr := wantMaster(t, env, t.TempDir(), "127.0.0.1:0").Addr()
			out := env.python(t, 30*time.Second, wantScript(t), addr, sc.arg)
			wantOutput(t, out, sc.want)
		})
	}

	t.Run("DurableAcrossKill", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		m := wantMaster(t, env, dir, "127.0.0.1:0")
		addr := m.Addr()
		w := testproc.Options{Name: "want.py s5", Grace: 5 * time.Second}.Start(t, env.py, wantScript(t), addr, "s5")
		w.WaitFor("s5 kill the master", 20*time.Second)
		m.Kill()
		if again := wantMaster(t, env, dir, addr).Addr(); again != addr {
			t.Fatalf("the master came back on %s, want %s", again, addr)
		}
		if !w.WaitExit(30 * time.Second) {
			t.Fatalf("want.py s5 still runs after 30s:\n%s", w.Output())
		}
		if err := w.Err(); err != nil {
			t.Fatalf("want.py s5: %v\n%s", err, w.Output())
		}
		wantOutput(t, w.Stdout(), []string{
			"s5 job1 confirmed True held ['job2:1']",
			"s5 commit set True unconfirmed ['job2:1'] held ['job2:1', 'job3:1']",
			"s5 flushed by another registration: durable reaches job2's commit True",
			"s5 kill the master",
			"s5 master back: heartbeat unknown",
			// job2 succeeded before the kill: its attempt is not live, so
			// register_worker returns it in cancel (and adopts job3's).
			"s5 registered again holding ['job3:1'] cancel ['job2:1']",
			"s5 sent again []", // job2's outcome is recorded
			"s5 job3 accepted 1 dropped 0 refused 0 commit 0",
			"s5 job1 succeeded attempts [(1, 'ok', True)]",
			"s5 job2 succeeded attempts [(1, 'ok', True)]",
			"s5 job3 succeeded attempts [(1, 'ok', True)]",
		})
	})
}

// wantMaster starts a drover master with the bolt store in dataDir, fast
// beats and short retries, listening on listen. At cleanup it gets SIGTERM
// and must exit 0 (unless the test killed it).
func wantMaster(t *testing.T, env *pyEnv, dataDir, listen string) *pyProc {
	t.Helper()
	conf := pyWriteFile(t, t.TempDir(), "master.toml", `
heartbeat_interval = "300ms"
dead_after = "1200ms"
retry_backoff = "50ms"
store = "bolt"
`)
	return pyStart(t, env.drover, "master", "--config", conf, "--listen", listen,
		"--data-dir", filepath.Join(dataDir, "data"), "--log-format", "json")
}

// wantScript writes pyWant to a file and returns its path.
func wantScript(t *testing.T) string {
	t.Helper()
	return pyWriteFile(t, t.TempDir(), "want.py", pyWant)
}

// wantOutput fails the test unless out is the lines of want, in order,
// naming each line that differs.
func wantOutput(t *testing.T, out string, want []string) {
	t.Helper()
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i := range max(len(got), len(want)) {
		g, w := "(none)", "(none)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("line %d:\n got  %s\n want %s", i+1, g, w)
		}
	}
	if t.Failed() {
		t.Logf("pyWant printed:\n%s", out)
	}
}

// pyWant is run as python3 want.py HOST:PORT SCENARIO (s1 to s7). Job IDs
// are printed as job1, job2, ... in the order of submission, worker IDs as
// w0, w1, ... in the order of registration, tasks and reports as JOB:ATTEMPT.
const pyWant = `
import http.client, sys, threading, time, xmlrpc.client
from xmlrpc.server import SimpleXMLRPCServer

URL = "http://%s/RPC2" % sys.argv[1]
p = xmlrpc.client.ServerProxy(URL, allow_none=True)  # the main thread's; the endpoint calls nothing
LABELS = {}  # job ID -> "job1", ... in the order of submission

def submit(n, typ="py.want", retries=0):
    ids = p.submit_jobs({"specs": [{"type": typ, "args": {"n": str(len(LABELS) + i + 1)}, "retries": retries}
                                   for i in range(n)]})["ids"]
    for i in ids:
        LABELS[i] = "job%d" % (len(LABELS) + 1)
    return ids

def key(x):
    return (x["job_id"], x["attempt"])

def lab(x):
    return "%s:%d" % (LABELS.get(x["job_id"], x["job_id"]), x["attempt"])

def labs(xs):
    return sorted(lab(x) for x in xs)

def run(task):  # the job type: ok, with its arg n as the output
    return {"job_id": task["job_id"], "attempt": task["attempt"], "outcome": "ok", "output": "done " + task["args"]["n"]}

def until(what, cond, tick, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for " + what)
        tick()
        time.sleep(0.02)

class Push:
    """A push worker: its XML-RPC endpoint serves assign_task and cancel_task."""

    def __init__(self, name, slots=1):
        self.name, self.slots = name, slots
        self.lock = threading.Lock()  # guards what the endpoint's thread shares
        self.me = None          # {worker_id, secret}; None while registering
        self.ids = []           # every worker_id of ours
        self.held = {}          # (job_id, attempt) -> "task" or "report": listed in beats
        self.unconfirmed = {}   # (job_id, attempt) -> (report, commit)
        self.inbox = []         # tasks from assign_task not taken yet
        self.by_assign = []     # every task assign_task carried
        self.interval, self.last_beat = 0.3, 0.0
        self.server = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False)
        self.server.register_function(self.assign_task, "assign_task")
        self.server.register_function(self.cancel_task, "cancel_task")
        self.addr = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)  # a failed run exits
        self.thread.start()

    def assign_task(self, args):
        with self.lock:
            if self.me is None:
                return {"accepted": [], "rejected": [dict(job_id=t["job_id"], attempt=t["attempt"], reason="not registered yet")
                                                     for t in args["tasks"]]}
            if args.get("secret") != self.me["secret"]:
                raise xmlrpc.client.Fault(6, "rpcapi: unauthorized: not my registration's secret")
            accepted, rejected = [], []
            for t in args["tasks"]:
                self.by_assign.append(t)
                ref = {"job_id": t["job_id"], "attempt": t["attempt"]}
                if self.held.get(key(t)) == "task":  # a repeat while it runs
                    accepted.append(ref)
                elif self.free() > 0:
                    self.held[key(t)] = "task"
                    self.inbox.append(t)
                    accepted.append(ref)
                else:
                    rejected.append(dict(ref, reason="no free slot"))
            return {"accepted": accepted, "rejected": rejected}

    def free(self):  # the caller holds lock
        return self.slots - sum(v == "task" for v in self.held.values())

    def cancel_task(self, args):
        with self.lock:
            if self.me is None or args.get("secret") != self.me["secret"]:
                raise xmlrpc.client.Fault(6, "rpcapi: unauthorized: not my registration's secret")
            for r in args["jobs"]:
                if self.held.get(key(r)) == "task":
                    del self.held[key(r)]
            return {}

    def running(self):
        with self.lock:
            return [{"job_id": k[0], "attempt": k[1]} for k in sorted(self.held)]

    def register(self):
        with self.lock:
            self.me = None
        r = p.register_worker({"name": self.name, "addr": self.addr, "types": ["py.want"], "slots": self.slots,
                               "transport": "xmlrpc", "mode": "push", "running": self.running()})
        with self.lock:
            self.me = {"worker_id": r["worker_id"], "secret": r["secret"]}
            for c in r["cancel"]:
                self.held.pop(key(c), None)
            # Commit numbers belong to one run of the master: send them all again.
            self.unconfirmed = {k: (rep, float("inf")) for k, (rep, _) in self.unconfirmed.items()}
        self.ids.append(r["worker_id"])
        self.interval = r["heartbeat_interval"]
        return r

    def who(self, wid):
        return "w%d" % self.ids.index(wid) if wid in self.ids else "other"

    def beat(self, draining=False):
        with self.lock:
            free = self.free()
        r = p.heartbeat(dict(self.me, running=self.running(), free_slots=free, draining=draining))
        self.last_beat = time.monotonic()
        with self.lock:
            for c in r["cancel"]:
                if self.held.get(key(c)) == "task":
                    del self.held[key(c)]
        return r

    def tick(self):  # beat when one is due
        if time.monotonic() - self.last_beat >= self.interval:
            self.beat()

    def take(self, what):  # the next task assign_task brought
        until(what, lambda: self.inbox, self.tick)
        with self.lock:
            return self.inbox.pop(0)

    def complete(self, reports, want=0, start=True):
        with self.lock:  # their slots are free: an assign_task may come before the reply
            for rep in reports:
                self.held[key(rep)] = "report"
        r = p.task_complete(dict(self.me, reports=reports, want=want))
        with self.lock:
            for k, (_, c) in list(self.unconfirmed.items()):  # a later reply's durable confirms
                if r["durable"] >= c:
                    del self.unconfirmed[k]
                    self.held.pop(k, None)
            for rep in reports:
                if r["commit"] == 0:
                    self.held.pop(key(rep), None)
                else:
                    self.unconfirmed[key(rep)] = (rep, r["commit"])
                    self.held[key(rep)] = "report"
            for t in r["tasks"] if start else []:
                self.held[key(t)] = "task"
        return r

    def close(self):
        p.logout_worker(self.me)
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()

def show(tag, w, ids):
    for i in ids:
        j = p.get_job({"id": i})["job"]
        print(tag, LABELS[i], j["state"], "attempts", [(a["n"], a["outcome"], w.who(a["worker"])) for a in j["attempts"]])

def flush():  # another registration's task_complete without reports: everything recorded is on disk
    other = p.register_worker({"name": "want-flush", "types": ["py.none"], "slots": 1, "mode": "pull"})
    me = {"worker_id": other["worker_id"], "secret": other["secret"]}
    durable = p.task_complete(dict(me, reports=[]))["durable"]
    p.logout_worker(me)
    return durable

def reply(tag, r):
    print(tag, "members", " ".join(sorted(r)))
    print(tag, "accepted %d dropped %d refused %d tasks %s" % (r["accepted"], r["dropped"], r["refused"], labs(r["tasks"])))

def s1():  # 3 jobs on 1 slot: a task by assign_task, then one in each reply
    w = Push("want-s1")
    w.register()
    ids = submit(3)
    t, n, commits = w.take("the first task"), 0, []
    print("s1 first task", lab(t))
    while t is not None and n < 5:
        n += 1
        r = w.complete([run(t)], want=1)
        reply("s1 reply %d" % n, r)
        if r["tasks"]:
            print("s1 reply %d commit set %s task members %s args %s" % (
                n, r["commit"] > 0, " ".join(sorted(r["tasks"][0])), r["tasks"][0]["args"]))
            commits.append(r["commit"])
        else:
            print("s1 reply %d commit %d durable reaches %d earlier commits %s" % (
                n, r["commit"], len(commits), all(r["durable"] >= c for c in commits)))
        t = r["tasks"][0] if r["tasks"] else None
    t0 = time.monotonic()  # an assign_task for a task a reply carried would come by now
    until("a heartbeat interval", lambda: time.monotonic() - t0 > w.interval * 1.5, w.tick)
    print("s1 assign_task carried", labs(w.by_assign))
    show("s1", w, ids)
    w.close()

def s2():  # a negative want; want from a draining and a pull worker
    w = Push("want-s2")
    w.register()
    ids = submit(2)
    t = w.take("the first task")
    try:
        w.complete([run(t)], want=-1)
        print("s2 want -1: no fault")
    except xmlrpc.client.Fault as f:
        print("s2 want -1 fault", f.faultCode, f.faultString)
    for i in ids:
        j = p.get_job({"id": i})["job"]
        print("s2 after the fault", LABELS[i], j["state"], "attempt", j["attempt"], "outcomes", [a["outcome"] for a in j["attempts"]])
    r = w.complete([run(t)], want=0)
    print("s2 want 0 accepted %d tasks %s commit %d" % (r["accepted"], labs(r["tasks"]), r["commit"]))
    t = w.take("the second task")
    print("s2 by assign_task", lab(t))
    w.beat(draining=True)
    ids += submit(1)
    r = w.complete([run(t)], want=1)
    print("s2 draining want 1 accepted %d tasks %s commit %d" % (r["accepted"], labs(r["tasks"]), r["commit"]))
    show("s2", w, ids)
    w.close()

    reg = p.register_worker({"name": "want-s2-pull", "types": ["py.pull"], "slots": 1, "mode": "pull"})
    me, held = {"worker_id": reg["worker_id"], "secret": reg["secret"]}, []
    def fetch():
        held.extend(p.fetch_tasks(dict(me, max=1, timeout=0.2))["tasks"])
        p.heartbeat(dict(me, running=[{"job_id": x["job_id"], "attempt": x["attempt"]} for x in held], free_slots=0))
    pids = submit(2, "py.pull")
    until("the pull worker's first task", lambda: held, fetch)
    r = p.task_complete(dict(me, reports=[run(held.pop())], want=1))
    print("s2 pull want 1 accepted %d tasks %s commit %d" % (r["accepted"], labs(r["tasks"]), r["commit"]))
    until("the pull worker's second task", lambda: held, fetch)
    print("s2 pull fetched", labs(held))
    r = p.task_complete(dict(me, reports=[run(held.pop())]))
    for i in pids:
        j = p.get_job({"id": i})["job"]
        print("s2 pull", LABELS[i], j["state"], "attempts", [(a["n"], a["outcome"], a["worker"] == me["worker_id"]) for a in j["attempts"]])
    p.logout_worker(me)

def s3():  # a task handed out in a reply and never started
    w = Push("want-s3")
    w.register()
    ids = submit(2, retries=2)
    r = w.complete([run(w.take("the first task"))], want=1, start=False)
    print("s3 handed out", labs(r["tasks"]))
    for n in (1, 2):
        b = w.beat()
        j = p.get_job({"id": ids[1]})["job"]
        print("s3 after %d beats without it: status %s cancel %s job2 attempt 1 %r" % (
            n, b["status"], labs(c for c in b["cancel"] if c["job_id"] == ids[1]), j["attempts"][0]["outcome"]))
    t = w.take("job2 again")
    print("s3 by assign_task", lab(t))
    r = w.complete([run(t)])
    print("s3 reported accepted %d commit %d" % (r["accepted"], r["commit"]))
    print("s3 assign_task carried", labs(w.by_assign))
    show("s3", w, ids)
    w.close()

def s4():  # task_complete without reports waits for the commits seen before
    w = Push("want-s4")
    w.register()
    ids = submit(2)
    r = w.complete([run(w.take("the first task"))], want=1)
    c = r["commit"]
    print("s4 reply commit set %s tasks %s" % (c > 0, labs(r["tasks"])))
    e = w.complete([])
    reply("s4 empty", e)
    print("s4 empty commit %d durable reaches the commit %s" % (e["commit"], e["durable"] >= c))
    r = w.complete([run(r["tasks"][0])], want=1)
    print("s4 last accepted %d tasks %s commit %d" % (r["accepted"], labs(r["tasks"]), r["commit"]))
    print("s4 nothing held", w.running())
    show("s4", w, ids)
    w.close()

def s5():  # the master is killed (SIGKILL) with a report unconfirmed; the test starts it again
    w = Push("want-s5")
    w.register()
    ids = submit(3, retries=2)
    r = w.complete([run(w.take("the first task"))], want=1)
    c1, t2 = r["commit"], r["tasks"][0]
    e = w.complete([])
    print("s5 job1 confirmed %s held %s" % (e["durable"] >= c1, labs(w.running())))
    r = w.complete([run(t2)], want=1)
    t3 = r["tasks"][0]
    print("s5 commit set %s unconfirmed %s held %s" % (r["commit"] > 0, labs(v[0] for v in w.unconfirmed.values()), labs(w.running())))
    # Another registration's empty task_complete puts job2's outcome on disk and tells w nothing.
    print("s5 flushed by another registration: durable reaches job2's commit %s" % (flush() >= r["commit"]))
    print("s5 kill the master", flush=True)
    def beat():
        try:
            return w.beat()["status"]
        except (OSError, http.client.HTTPException):
            return "down"
    seen = set()
    until("the master to come back", lambda: "unknown" in seen, lambda: seen.add(beat()), timeout=20)
    print("s5 master back: heartbeat unknown")
    reg = w.register()
    print("s5 registered again holding %s cancel %s" % (labs(w.running()), labs(reg["cancel"])))
    gone = {key(c) for c in reg["cancel"]}
    print("s5 sent again %s" % labs(v[0] for v in w.unconfirmed.values() if key(v[0]) not in gone))
    r = w.complete([run(t3)])
    print("s5 job3 accepted %d dropped %d refused %d commit %d" % (r["accepted"], r["dropped"], r["refused"], r["commit"]))
    for i in ids:
        j = p.get_job({"id": i})["job"]
        print("s5", LABELS[i], j["state"], "attempts", [(a["n"], a["outcome"], w.who(a["worker"]) != "other") for a in j["attempts"]])
    w.close()

def s6():  # 2 free slots and want 1: one task in the reply, the other by assign_task
    w = Push("want-s6", slots=2)
    w.register()
    ids = submit(2)
    until("two tasks", lambda: len(w.inbox) == 2, w.tick)
    t1, t2 = w.inbox.pop(0), w.inbox.pop(0)
    ids += submit(2)
    r = w.complete([run(t1), run(t2)], want=1)
    print("s6 reply accepted %d tasks %s commit set %s" % (r["accepted"], labs(r["tasks"]), r["commit"] > 0))
    t0 = time.monotonic()
    t = w.take("the fourth task")
    print("s6 by assign_task %s within a heartbeat interval %s" % (lab(t), time.monotonic() - t0 < w.interval))
    w.complete([run(t), run(r["tasks"][0])])
    print("s6 assign_task carried", labs(w.by_assign))
    show("s6", w, ids)
    w.close()

def s7():  # reaped with a report answered with a commit and not confirmed; it registers again and sends it
    w = Push("want-s7")
    w.register()
    ids = submit(2, retries=2)
    r = w.complete([run(w.take("the first task"))], want=1)
    print("s7 handed out %s commit set %s; on disk %s" % (labs(r["tasks"]), r["commit"] > 0, flush() >= r["commit"]))
    until("the master to reap w0", lambda: [x["state"] for x in p.list_workers({})["workers"] if x["id"] == w.ids[0]] == ["dead"],
          lambda: time.sleep(0.05))
    print("s7 reaped: heartbeat", w.beat()["status"])
    reg = w.register()
    print("s7 registered again cancel %s" % labs(reg["cancel"]))
    gone = {key(c) for c in reg["cancel"]}
    print("s7 sent again %s" % labs(v[0] for v in w.unconfirmed.values() if key(v[0]) not in gone))
    t = w.take("job2 again")
    # An assign_task that comes before register_worker's reply is refused
    # ("not registered yet", as the contract allows), which uses up an
    # attempt number: the new attempt is 2 or later.
    print("s7 by assign_task", LABELS[t["job_id"]], "attempt above 1", t["attempt"] > 1, "accepted", w.complete([run(t)])["accepted"])
    for i in ids:
        j = p.get_job({"id": i})["job"]
        print("s7", LABELS[i], j["state"], "attempts", [(a["n"] if a["n"] < 2 else "2+", a["outcome"], w.who(a["worker"])) for a in j["attempts"]])
    w.close()

{"s1": s1, "s2": s2, "s3": s3, "s4": s4, "s5": s5, "s6": s6, "s7": s7}[sys.argv[2]]()
`
