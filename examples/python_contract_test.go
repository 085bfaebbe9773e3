package examples_test

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPythonContract runs pyContract, a client and pull worker in
// Python's standard library written from docs/protocol.md alone, against
// a real master: a group with a follow-up job, whose ID the submit
// reserves (then_ids), followed to its end with wait_jobs and get_group,
// the members a reply always has, and the faults
// (codes and strings) of the Faults section and of the methods' pages.
func TestPythonContract(t *testing.T) {
	env := newPyEnv(t)
	addr := env.master(t)
	out := env.python(t, 30*time.Second, "-c", pyContract, addr)
	for _, want := range []string{
		// Follow-up flow (wait_jobs, get_group, Spec's then).
		`then_ids [('chord', True)]`,
		`reserved follow-up before the group ends 2 rpcapi: not found: job "ID" is the follow-up of group "chord", not made yet: it is made when every job of the group is final`,
		`part then {}`,
		`wait before the follow-up ran: done False`,
		`merge input group chord results 2`,
		`wait done True then=merge then_state succeeded counts {'succeeded': 3} failed []`,
		`group on_done then=merge then_state succeeded`,
		`follow-up spec then {} group ''`,
		`resubmitted a part's spec: existing False then_ids []`,
		`group without then: done True then '' then_state '' then_error ''`,
		// Faults: code and faultString.
		`fault get_job unknown 2 rpcapi: not found: job "999"`,
		`fault unknown member -32602 get_job: xmlrpc: params[0]: unknown member "bogus"`,
		`fault two params -32602 get_job: takes one struct param, got 2 params`,
		`fault wrong type -32602 get_job: xmlrpc: params[0].id: want string, got int`,
		`fault no method -32601 no method "nope" (system.listMethods lists them)`,
		`fault no specs 3 rpcapi: bad request: submit of no jobs`,
		`fault fetch negative timeout -32602 fetch_tasks: xmlrpc: params[0].timeout: negative duration -1s`,
		`fault fetch negative max 3 rpcapi: bad request: negative max or timeout`,
		`fault list_jobs limit -1 3 rpcapi: bad request: limit -1: want 1..1000 (0: 100)`,
		`fault methodHelp struct -32602 system.methodHelp: takes one string param (a method name), got a struct`,
		`fault methodHelp unknown 2 rpcapi: not found: no method "nope"`,
		`fault heartbeat wrong secret 6 rpcapi: unauthorized: `,
		`spec members in submit_jobs help: args broadcast catch_up delay group input key limit_key name overlap priority ` +
			`retries run_at schedule tags then timeout timezone type unique_for unique_key`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^fault parse error -32700 parse error: .+$`).MatchString(out) {
		t.Errorf("output lacks the parse error's fault:\n%s", out)
	}
}

// pyContract is run as python3 -c pyContract HOST:PORT. The follow-up's ID
// is printed as "merge" once checked, so that the lines are fixed.
const pyContract = `
import json, re, sys, urllib.request, xmlrpc.client
url = "http://%s/RPC2" % sys.argv[1]
p = xmlrpc.client.ServerProxy(url, allow_none=True)

# This script is the only worker (pull mode) for the job types below.
reg = p.register_worker({"name": "contract", "types": ["py.part", "py.merge"], "slots": 4, "mode": "pull"})
me = {"worker_id": reg["worker_id"], "secret": reg["secret"]}

def run(n):  # fetch and report n tasks, all ok; returns them
    done = []
    while len(done) < n:
        for t in p.fetch_tasks(dict(me, max=4, timeout=1))["tasks"]:
            p.task_complete(dict(me, reports=[{"job_id": t["job_id"], "attempt": t["attempt"], "outcome": "ok"}]))
            done.append(t)
        p.heartbeat(dict(me, running=[], free_slots=4))
    return done

# A group of two with a follow-up job.
sub = p.submit_jobs({"specs": [
    {"type": "py.part", "group": "chord", "then": {"type": "py.merge", "args": {"out": "all"}}},
    {"type": "py.part", "group": "chord"}]})
ids, reserved = sub["ids"], sub["then_ids"][0]["id"]
print("then_ids", [(f["group"], f["id"] not in ids) for f in sub["then_ids"]])
try:
    p.get_job({"id": reserved})
except xmlrpc.client.Fault as f:
    print("reserved follow-up before the group ends", f.faultCode, f.faultString.replace(reserved, "ID"))
print("part then", p.get_job({"id": ids[1]})["job"]["spec"]["then"])
run(2)
w = p.wait_jobs({"group": "chord", "timeout": 0.2})
print("wait before the follow-up ran: done", w["done"])
merge = run(1)[0]
inp = json.loads(merge["input"])
print("merge input group", inp["group"], "results", len(inp["results"]))
w = p.wait_jobs({"group": "chord", "timeout": 10})
then = "merge" if w["then"] == merge["job_id"] == reserved else w["then"]
print("wait done", w["done"], "then=%s then_state %s counts %s failed %s" % (then, w["then_state"], w["counts"], w["failed"]))
od = p.get_group({"name": "chord"})["on_done"]
print("group on_done then=%s then_state %s" % ("merge" if od["then"] == merge["job_id"] else od["then"], od["then_state"]))
spec = p.get_job({"id": merge["job_id"]})["job"]["spec"]
print("follow-up spec then", spec["then"], "group", repr(spec["group"]))
part = p.get_job({"id": ids[1]})["job"]["spec"]
again = p.submit_jobs({"specs": [dict(part, group="again")]})
print("resubmitted a part's spec: existing", again["existing"][0], "then_ids", again["then_ids"])
run(1)
w = p.wait_jobs({"group": "again", "timeout": 10})
print("group without then: done", w["done"], "then", repr(w["then"]), "then_state", repr(w["then_state"]), "then_error", repr(w["then_error"]))

def fault(label, call):
    try:
        call()
        print("fault", label, "none")
    except xmlrpc.client.Fault as f:
        print("fault", label, f.faultCode, f.faultString)
fault("get_job unknown", lambda: p.get_job({"id": "999"}))
fault("unknown member", lambda: p.get_job({"id": "1", "bogus": 1}))
fault("wrong type", lambda: p.get_job({"id": 1}))
fault("two params", lambda: p.get_job({"id": "1"}, {"id": "2"}))
fault("no method", lambda: p.nope({}))
fault("no specs", lambda: p.submit_jobs({"specs": []}))
fault("fetch negative timeout", lambda: p.fetch_tasks(dict(me, timeout=-1)))
fault("fetch negative max", lambda: p.fetch_tasks(dict(me, max=-1)))
fault("list_jobs limit -1", lambda: p.list_jobs({"limit": -1}))
fault("methodHelp struct", lambda: p.system.methodHelp({"name": "get_job"}))
fault("methodHelp unknown", lambda: p.system.methodHelp("nope"))
fault("heartbeat wrong secret", lambda: p.heartbeat(dict(me, secret="0")))
req = urllib.request.Request(url, data=b"<methodCall><methodName>get_job", headers={"Content-Type": "text/xml"})
fault("parse error", lambda: xmlrpc.client.loads(urllib.request.urlopen(req).read()))

h = p.system.methodHelp("submit_jobs")
spec = re.search(r" Spec: \{(.*?)\}\.", h).group(1)
print("spec members in submit_jobs help:", " ".join(sorted(m.split(":")[0] for m in spec.split(", "))))
p.logout_worker(me)
`

// TestPythonQueues runs pyQueues, a client in Python's standard library
// written from docs/protocol.md, against a real master with 20 pending
// jobs of a type no worker has (the one worker, a pull worker of the
// script, has another) and 2 of a third: list_queues shows their lanes,
// the biggest first, with the reason and count, its params select and
// fault as the page says, and get_master_status has the attention
// entries (an empty list before).
func TestPythonQueues(t *testing.T) {
	env := newPyEnv(t)
	addr := env.master(t)
	out := env.python(t, 30*time.Second, "-c", pyQueues, addr)
	reason := `no live worker has type "py.ocr" (live workers have: py.echo)`
	for _, want := range []string{
		"attention before []",
		"methods has list_queues True",
		"help list_queues Params {type: string, order: string, limit: int}. Result {queues: [QueueView], more: int}.",
		"lanes 2 more 0",
		"lane py.ocr pending 20 ready 20 delayed 0 running 0 tags [] limit_key '' pin '' waiting [('" + reason + "', 20)]",
		"lane members delayed failed finished limit_key oldest_pending_seconds oldest_pending_since pending per_minute pin " +
			"ready running tags type waiting",
		"oldest wait ok True",
		"echo lanes 0",
		"pdf lanes py.pdf 2",
		"asc limit 1 lanes py.pdf more 1",
		"attention no_worker 20 20 pending jobs of type \"py.ocr\": " + reason + " #/jobs?state=pending&type=py.ocr",
		"attention no_worker 2 2 pending jobs of type \"py.pdf\": " + strings.ReplaceAll(reason, "ocr", "pdf") + " #/jobs?state=pending&type=py.pdf",
		"fault list_queues order 3 rpcapi: bad request: order \"sideways\": want asc or desc",
		"fault list_queues limit -1 3 rpcapi: bad request: limit -1: want 1..1000 (0: 100)",
		"fault list_queues limit 1001 3 rpcapi: bad request: limit 1001: want 1..1000 (0: 100)",
		"fault list_queues unknown member -32602 list_queues: xmlrpc: params[0]: unknown member \"cursor\"",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks line %q:\n%s", want, out)
		}
	}
}

// pyQueues is run as python3 -c pyQueues HOST:PORT.
const pyQueues = `
import sys, xmlrpc.client
p = xmlrpc.client.ServerProxy("http://%s/RPC2" % sys.argv[1], allow_none=True)
print("attention before", p.get_master_status()["attention"])
print("methods has list_queues", "list_queues" in p.system.listMethods())
h = p.system.methodHelp("list_queues")
print("help list_queues", h[h.index("Params"):h.index(" QueueView:")])

reg = p.register_worker({"name": "queues", "types": ["py.echo"], "slots": 1, "mode": "pull"})
p.submit_jobs({"specs": [{"type": "py.ocr", "args": {"page": str(i)}} for i in range(20)] + [{"type": "py.pdf"}] * 2})

r = p.list_queues({})
print("lanes", len(r["queues"]), "more", r["more"])
q = r["queues"][0]
print("lane", q["type"], "pending", q["pending"], "ready", q["ready"], "delayed", q["delayed"], "running", q["running"],
      "tags", q["tags"], "limit_key", repr(q["limit_key"]), "pin", repr(q["pin"]),
      "waiting", [(w["reason"], w["count"]) for w in q["waiting"]])
print("lane members", " ".join(sorted(q)))
print("oldest wait ok", q["oldest_pending_seconds"] >= 0 and q["oldest_pending_since"].endswith("Z"))
print("echo lanes", len(p.list_queues({"type": "py.echo"})["queues"]))
print("pdf lanes", *[(q["type"], q["pending"]) for q in p.list_queues({"type": "py.pdf"})["queues"]][0])
r = p.list_queues({"order": "asc", "limit": 1})
print("asc limit 1 lanes", *[q["type"] for q in r["queues"]], "more", r["more"])
for a in p.get_master_status()["attention"]:
    print("attention", a["kind"], a["count"], a["text"], a["link"])

def fault(label, call):
    try:
        call()
        print("fault", label, "none")
    except xmlrpc.client.Fault as f:
        print("fault", label, f.faultCode, f.faultString)
fault("list_queues order", lambda: p.list_queues({"order": "sideways"}))
fault("list_queues limit -1", lambda: p.list_queues({"limit": -1}))
fault("list_queues limit 1001", lambda: p.list_queues({"limit": 1001}))
fault("list_queues unknown member", lambda: p.list_queues({"cursor": "x"}))
p.logout_worker({"worker_id": reg["worker_id"], "secret": reg["secret"]})
`
