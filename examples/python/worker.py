#!/usr/bin/env python3
"""A drover worker in Python, standard library only.

    worker.py --master HOST:PORT[,HOST:PORT...] [--pull] [--name NAME] [--slots N]
              [--listen HOST:PORT]

It runs two job types:

    py.echo   args {"text": T}        output: T reversed ("hello 3" -> "3 olleh")
    py.sleep  args {"seconds": S}     sleeps S seconds (a float), stops early on cancel

Push mode (the default) serves XML-RPC at http://LISTEN/RPC2 (assign_task,
cancel_task, ping) and registers with transport "xmlrpc"; the master pushes
tasks to it. Pull mode (--pull) opens no port: it registers with mode "pull"
and long-polls fetch_tasks.

Every call for the worker's ID carries the secret register_worker returned,
and the endpoint refuses assign_task and cancel_task without it (fault 6):
only the master the worker registered with can give it work.

In both modes one thread talks to the master about liveness: it heartbeats
every heartbeat_interval (from the register_worker reply) with the jobs the
worker holds (running, plus results the master has not acknowledged), re-
registers reporting them when the master answers "unknown", and drops what the
master lists in "cancel". In pull mode the same thread calls fetch_tasks
between beats: a heartbeat must never be composed while a fetch_tasks reply
may be on its way, or the master could take the beat's silence about a task
just handed out as the worker having lost it (see docs/protocol.md). A second
thread reports results in batches with task_complete, retrying until the
master acknowledges them.

Given several masters (a raft group, docs/ha.md), it calls the one that
answered last, follows a standby's fault 8 to the leader it names, and
skips a master that refuses connections (class Masters). It keeps the
highest raft term a master has named (the "term" of replies and of
assign_task and cancel_task) and refuses what comes with a lower one: an
assign_task or cancel_task gets fault 8, and a reply is taken as a failed
call (a registration is made again, a heartbeat's answer and a fetch's
tasks are ignored, reports are sent again). A new leader does not know
the worker: it registers again with what it holds, as after a master
restart.

SIGTERM or SIGINT: take no new work, let running jobs finish (10 s grace),
send the last results, log out, exit 0. A second signal exits at once.

Prints "registered WORKER_ID" on stdout at each registration; logs go to
stderr.
"""

import argparse
import hashlib
import hmac
import http.client
import os
import random
import secrets
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

# Fault codes of the drover master (docs/protocol.md).
FAULT_UNKNOWN_WORKER = 1
FAULT_UNAUTHORIZED = 6
FAULT_NOT_LEADER = 8

SHUTDOWN_GRACE = 10.0  # seconds running jobs get to finish on SIGTERM
FLUSH_GRACE = 5.0  # seconds to deliver the last results
CALL_TIMEOUT = 10.0  # seconds a call to the master may take (a fetch: its wait more)
MAX_REPORTS = 500  # reports in one task_complete call


def log(msg):
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(now)) + ".%03d" % (now % 1 * 1000)
    sys.stderr.write("%s worker.py: %s\n" % (stamp, msg))
    sys.stderr.flush()


class PermanentError(Exception):
    """A failure retrying cannot fix: the job fails without retries."""


class Stopped(Exception):
    """A handler stopped early because run.stop was set."""


class TimeoutTransport(xmlrpc.client.Transport):
    """An xmlrpc.client transport whose socket operations time out, and
    that makes each call once, on a connection of its own."""

    def __init__(self, timeout):
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = self.timeout
        if conn.sock is not None:
            conn.sock.settimeout(self.timeout)
        return conn

    def request(self, host, handler, body, verbose=False):
        # xmlrpc.client would send the call again when the connection
        # closed without an answer (made for kept-alive connections), and a
        # master killed meanwhile would then refuse it as if nothing had
        # been sent (see Masters).
        try:
            return self.single_request(host, handler, body, verbose)
        finally:
            self.close()


def master_url(addr):
    """The XML-RPC URL of a master given as HOST:PORT (or a URL)."""
    url = addr if "://" in addr else "http://" + addr
    return url if url.count("/") >= 3 else url + "/RPC2"


class Masters:
    """Calls the leader among masters given as a list of XML-RPC URLs.

    The class of docs/protocol.md ("Several masters: following the
    leader"), with two changes for a long-lived worker: its transport's
    socket operations time out (TimeoutTransport, which also sends each
    call once, as the doc's Once does), and after a call whose connection
    broke or timed out the next call starts at the next master (that one
    may have been stopped). Such a call may have happened: it is not sent
    again, the error goes to the caller. Not thread-safe: each thread has
    its own.
    """

    def __init__(self, urls):
        self.urls, self.i = list(urls), 0

    def call(self, method, arg, timeout=CALL_TIMEOUT, io_timeout=CALL_TIMEOUT):
        end, url = time.monotonic() + timeout, self.urls[self.i]
        while True:
            try:
                proxy = xmlrpc.client.ServerProxy(url, allow_none=True, transport=TimeoutTransport(io_timeout))
                result = getattr(proxy, method)(arg)
                self.i = self.urls.index(url)  # the next call starts here
                return result
            except xmlrpc.client.Fault as f:
                if f.faultCode != FAULT_NOT_LEADER:  # 8: a standby, naming the leader if it knows it
                    raise
                _, named, leader = f.faultString.partition("the leader is at ")
            except ConnectionRefusedError:  # nothing was sent
                named = leader = ""
            except (OSError, http.client.HTTPException):  # broken, timed out: it may have happened
                self.i = (self.urls.index(url) + 1) % len(self.urls)
                raise
            if time.monotonic() > end:
                raise TimeoutError("no master answered " + method)
            leader = master_url(leader)
            if named and url == self.urls[self.i] and leader != url:
                url = leader  # named by the master in turn: call it next
                if url not in self.urls:
                    self.urls.append(url)
            else:  # the next master in turn; a pause after each round
                self.i = (self.i + 1) % len(self.urls)
                url = self.urls[self.i]
                if self.i == 0:
                    time.sleep(0.2)


# ---- job handlers ------------------------------------------------------------
#
# A handler gets the task's args (a dict of str) and a Run; it returns the
# output string or raises. It should return soon after run.stop is set
# (cancel, timeout, shutdown).


def handle_echo(args, run):
    if "text" not in args:
        raise PermanentError('missing arg "text"')
    return args["text"][::-1]


def handle_sleep(args, run):
    try:
        seconds = float(args.get("seconds", "1"))
    except ValueError:
        raise PermanentError("seconds: not a number: %r" % args.get("seconds"))
    if run.stop.wait(max(seconds, 0.0)):
        raise Stopped("stopped after %.3fs" % (time.monotonic() - run.started))
    return "slept %gs" % seconds


HANDLERS = {"py.echo": handle_echo, "py.sleep": handle_sleep}


class Run:
    """One attempt in progress."""

    def __init__(self, task):
        self.job_id = str(task["job_id"])
        self.attempt = int(task["attempt"])
        self.type = task["type"]
        self.args = dict(task.get("args") or {})
        self.timeout = float(task.get("timeout") or 0)  # seconds; 0: none
        self.stop = threading.Event()
        self.started = time.monotonic()
        self.drop = False  # the master no longer leases it: do not report it
        self.cancelled = False  # the master cancelled it: report "cancelled"
        self.timed_out = False

    def ref(self):
        return {"job_id": self.job_id, "attempt": self.attempt}


class Worker:
    def __init__(self, masters, name, slots, pull, listen):
        self.masters = masters  # the masters' XML-RPC URLs
        self.name = name
        self.slots = slots
        self.pull = pull
        self.listen = listen
        self.mu = threading.Condition()  # guards everything below; notified on any change
        self.worker_id = ""
        self.secret = ""  # the registration's: sent with every call, required of the master
        # Sent with every registration: registering again after a lost
        # reply keeps the jobs the last registration was given.
        self.instance = secrets.token_hex(16)
        self.term = 0  # the highest raft term a master has named; 0: none yet
        self.interval = 1.0
        self.running = {}  # job_id -> Run
        self.results = []  # reports not yet acknowledged
        self.draining = False
        self.fetching = False  # pull: a fetch_tasks call is out
        self.need_register = True
        self.beat_now = threading.Event()
        self.report_wake = threading.Event()
        self.quit = threading.Event()  # stops the background threads
        self.server = None
        self.addr = ""
        self.threads = []

    # -- the raft term -----------------------------------------------------------

    def check_term(self, term, what):
        """Keep the highest raft term a master has named; refuse a lower
        one (0, a single master's, never), as fault 8: that master has been
        deposed, though it may not know it yet. Caller holds mu."""
        term = int(term or 0)
        if term == 0 or term >= self.term:
            self.term = max(self.term, term)
            return
        raise xmlrpc.client.Fault(FAULT_NOT_LEADER, "%s from a master of raft term %d; this worker has seen term %d "
                                  "(that master was deposed)" % (what, term, self.term))

    # -- what the worker holds -------------------------------------------------

    def held(self):
        """Running attempts and unacknowledged results. Caller holds mu."""
        out = [r.ref() for r in self.running.values() if not r.drop]
        out += [{"job_id": rep["job_id"], "attempt": rep["attempt"]} for rep in self.results]
        return out

    def drop_refs(self, refs):
        """Stop and forget attempts the master does not lease to us: no
        report. Caller holds mu."""
        if not refs:
            return
        gone = {(str(r["job_id"]), int(r["attempt"])) for r in refs}
        for r in self.running.values():
            if (r.job_id, r.attempt) in gone:
                r.drop = True
                r.stop.set()
        self.results = [rep for rep in self.results if (rep["job_id"], rep["attempt"]) not in gone]
        log("master does not lease %d job(s) to us; dropped them" % len(gone))

    def cancel_refs(self, refs):
        """Stop attempts the master cancelled: reported as cancelled. Caller
        holds mu."""
        for ref in refs:
            r = self.running.get(str(ref["job_id"]))
            if r is not None and r.attempt == int(ref["attempt"]):
                r.cancelled = True
                r.stop.set()

    # -- running tasks -----------------------------------------------------------

    def take(self, tasks, worker_id, fetched=False):
        """Start the tasks that fit; return (accepted, rejected) as the
        assign_task reply wants them. Fetched tasks are ours already, so
        they run even while draining. Caller holds mu."""
        accepted, rejected = [], []
        for t in tasks:
            ref = {"job_id": str(t["job_id"]), "attempt": int(t["attempt"])}

            def reject(why):
                rejected.append(dict(ref, reason=why))

            if self.draining and not fetched:
                reject("worker is shutting down")
                continue
            if self.worker_id and worker_id and worker_id != self.worker_id:
                reject("assigned to worker %r, this is %r" % (worker_id, self.worker_id))
                continue
            old = self.running.get(ref["job_id"])
            if old is not None:
                if old.attempt == ref["attempt"]:
                    accepted.append(ref)  # a repeated assign
                    continue
                old.drop = True  # the master moved on from that attempt
                old.stop.set()
            if len(self.running) >= self.slots:
                reject("no free slot (%d running)" % len(self.running))
                continue
            if t.get("type") not in HANDLERS:
                reject("no handler for type %r" % t.get("type"))
                continue
            self.start_run(Run(t))
            accepted.append(ref)
        return accepted, rejected

    def start_run(self, run):
        """Run one attempt in a thread of its own. Caller holds mu."""
        self.running[run.job_id] = run
        timer = None
        if run.timeout > 0:
            def expire():
                run.timed_out = True
                run.stop.set()
            timer = threading.Timer(run.timeout, expire)
            timer.daemon = True
            timer.start()
        th = threading.Thread(target=self.execute, args=(run, timer), daemon=True,
                              name="job-%s-%d" % (run.job_id, run.attempt))
        th.start()

    def execute(self, run, timer):
        rep = {"job_id": run.job_id, "attempt": run.attempt, "outcome": "ok", "exit_code": 0,
               "error": "", "output": "", "data": "", "permanent": False}
        try:
            rep["output"] = str(HANDLERS[run.type](run.args, run))
        except PermanentError as e:
            rep.update(outcome="error", error=str(e), permanent=True, exit_code=-1)
        except Stopped as e:
            rep.update(outcome="error", error=str(e), exit_code=-1)
        except Exception as e:  # noqa: BLE001 - any failure fails the attempt
            rep.update(outcome="error", error="%s: %s" % (type(e).__name__, e), exit_code=-1,
                       output=traceback.format_exc()[-4000:])
        if timer is not None:
            timer.cancel()
        if rep["outcome"] != "ok" or run.stop.is_set():
            if run.cancelled:
                rep.update(outcome="cancelled", error="cancelled by the master")
            elif run.timed_out:
                rep.update(outcome="timeout", error="timed out after %gs" % run.timeout)
        with self.mu:
            if self.running.get(run.job_id) is run:
                del self.running[run.job_id]
            if not run.drop:
                self.results.append(rep)
            self.mu.notify_all()
        if not run.drop:
            self.report_wake.set()

    # -- the worker's own endpoint (push mode) ------------------------------------

    def from_master(self, args, method):
        """Refuse a call without our registration's secret (fault 6): only
        our master knows it; and one of a lower raft term than we have seen
        (fault 8): that master was deposed. Caller holds mu."""
        got = hashlib.sha256(str(args.get("secret") or "").encode()).digest()
        want = hashlib.sha256(self.secret.encode()).digest()
        if not self.secret or not hmac.compare_digest(got, want):
            log("%s refused: it does not carry our registration's secret" % method)
            raise xmlrpc.client.Fault(FAULT_UNAUTHORIZED, "%s without this worker's registration secret" % method)
        try:
            self.check_term(args.get("term"), method)
        except xmlrpc.client.Fault as f:
            log("%s refused: %s" % (method, f.faultString))
            raise

    def assign_task(self, args):
        with self.mu:
            tasks = args.get("tasks") or []
            if not self.secret:
                # Registering: the master may call before its reply reaches us.
                return {"accepted": [], "rejected": [
                    {"job_id": str(t["job_id"]), "attempt": int(t["attempt"]), "reason": "not registered yet"} for t in tasks]}
            self.from_master(args, "assign_task")
            accepted, rejected = self.take(tasks, str(args.get("worker_id") or ""))
        return {"accepted": accepted, "rejected": rejected}

    def cancel_task(self, args):
        with self.mu:
            self.from_master(args, "cancel_task")
            self.cancel_refs(args.get("jobs") or [])
        return {}

    def ping(self, args=None):
        with self.mu:
            return {"name": self.name, "running": len(self.running), "slots": self.slots}

    def serve(self):
        host, port = self.listen.rsplit(":", 1)

        class Handler(SimpleXMLRPCRequestHandler):
            rpc_paths = ("/RPC2",)

        class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
            daemon_threads = True

        self.server = Server((host, int(port)), requestHandler=Handler, logRequests=False)
        self.server.register_function(self.assign_task, "assign_task")
        self.server.register_function(self.cancel_task, "cancel_task")
        self.server.register_function(self.ping, "ping")
        bound = self.server.server_address
        self.addr = "http://%s:%d/RPC2" % (bound[0], bound[1])
        self.spawn(self.server.serve_forever, "server")

    # -- talking to the master ---------------------------------------------------

    def register(self, masters):
        with self.mu:
            # No ID and no secret until the reply: nothing is reported and
            # no assignment runs meanwhile.
            self.worker_id, self.secret = "", ""
            args = {"name": self.name, "types": sorted(HANDLERS), "slots": self.slots,
                    "running": self.held(), "instance": self.instance}
            if self.pull:
                args["mode"] = "pull"
            else:
                args.update(mode="push", transport="xmlrpc", addr=self.addr)
        reply = masters.call("register_worker", args)
        with self.mu:
            self.check_term(reply.get("term"), "register_worker reply")  # a failed registration: again
            self.worker_id, self.secret = str(reply["worker_id"]), str(reply["secret"])
            self.interval = float(reply.get("heartbeat_interval") or 1.0)
            self.need_register = False
            self.drop_refs(reply.get("cancel") or [])
            draining = self.draining
            self.mu.notify_all()
        print("registered %s" % self.worker_id, flush=True)
        log("registered as %s with %s (term %d, %d held, heartbeat every %gs)" % (
            self.worker_id, masters.urls[masters.i], int(reply.get("term") or 0), len(args["running"]), self.interval))
        self.report_wake.set()  # results held across a master restart
        if draining:
            self.beat_now.set()
        return reply

    def heartbeat(self, masters):
        with self.mu:
            args = {"worker_id": self.worker_id, "secret": self.secret, "running": self.held(),
                    "free_slots": max(self.slots - len(self.running), 0), "draining": self.draining}
        reply = masters.call("heartbeat", args)
        status = reply.get("status")
        with self.mu:
            self.check_term(reply.get("term"), "heartbeat reply")  # a failed beat: its answer is ignored
            if status == "unknown":
                log("master does not know us (restarted, reaped us, or a new leader); re-registering")
                self.need_register = True
                return
            self.drop_refs(reply.get("cancel") or [])
            if status == "drain" and not self.draining:
                log("master asked us to drain; taking no new jobs")
                self.draining = True
            self.mu.notify_all()

    def fetch(self, masters, free, wait):
        with self.mu:
            worker_id, secret = self.worker_id, self.secret
            self.fetching = True
        try:
            reply = masters.call("fetch_tasks", {"worker_id": worker_id, "secret": secret, "max": free, "timeout": wait},
                                 io_timeout=wait + CALL_TIMEOUT)
        finally:
            with self.mu:
                self.fetching = False
                self.mu.notify_all()
        with self.mu:
            self.check_term(reply.get("term"), "fetch_tasks reply")  # a deposed master's tasks are not run
            self.cancel_refs(reply.get("cancel") or [])
            tasks = reply.get("tasks") or []
            accepted, rejected = self.take(tasks, worker_id, fetched=True)
            for rej in rejected:
                # The lease stays ours at the master; our heartbeats leave it
                # out, so the master requeues it as lost.
                log("fetched task %s/%s refused: %s" % (rej["job_id"], rej["attempt"], rej["reason"]))

    def master_loop(self):
        """Register, heartbeat every interval, re-register on "unknown"; in
        pull mode, fetch tasks between beats (in this same thread)."""
        masters = Masters(self.masters)
        next_beat = 0.0
        retry = 0.0
        failing = False
        while not self.quit.is_set():
            try:
                if self.need_register:
                    self.register(masters)
                    next_beat = time.monotonic() + self.jitter()
                    retry, failing = 0.0, False
                    continue
                now = time.monotonic()
                if now >= next_beat or self.beat_now.is_set():
                    self.beat_now.clear()
                    self.heartbeat(masters)
                    next_beat = time.monotonic() + self.jitter()
                    if failing:
                        log("master reachable again")
                    retry, failing = 0.0, False
                    continue
                wait = next_beat - now
                with self.mu:
                    free = self.slots - len(self.running)
                    idle = not self.pull or self.draining or free <= 0 or wait < 0.05
                    if self.pull and idle:
                        # Woken when a slot frees (notify_all) or the time
                        # to beat comes.
                        self.mu.wait(wait)
                if not self.pull:
                    self.beat_now.wait(wait)
                elif not idle:
                    self.fetch(masters, free, wait)
                    retry = 0.0
            except xmlrpc.client.Fault as f:
                if f.faultCode == FAULT_UNKNOWN_WORKER:
                    with self.mu:
                        self.need_register = True
                    continue
                log("master fault %d: %s" % (f.faultCode, f.faultString))
                retry = self.backoff(retry)
            except (OSError, xmlrpc.client.ProtocolError, http.client.HTTPException) as e:
                if not self.quit.is_set() and not failing:
                    log("cannot reach the master (%s); jobs keep running, retrying" % e)
                failing = True
                retry = self.backoff(retry)

    def backoff(self, retry):
        retry = min(max(2 * retry, 0.1), 2.0)
        self.quit.wait(retry)
        return retry

    def jitter(self):
        return self.interval * random.uniform(0.9, 1.1)

    def report_loop(self):
        """Send finished results in batches until the master acknowledges
        them."""
        masters = Masters(self.masters)
        retry = 0.0
        while not self.quit.is_set():
            self.report_wake.wait(1.0)
            self.report_wake.clear()
            while not self.quit.is_set():
                with self.mu:
                    worker_id, secret = self.worker_id, self.secret
                    batch = list(self.results[:MAX_REPORTS])
                if not batch or not worker_id:
                    break
                try:
                    reply = masters.call("task_complete", {"worker_id": worker_id, "secret": secret, "reports": batch})
                    with self.mu:
                        self.check_term(reply.get("term"), "task_complete reply")  # the reports go again
                except xmlrpc.client.Fault as f:
                    if f.faultCode == FAULT_UNKNOWN_WORKER:
                        with self.mu:
                            # Unless the master thread registered again meanwhile.
                            self.need_register = self.need_register or self.worker_id == worker_id
                    else:
                        log("task_complete fault %d: %s" % (f.faultCode, f.faultString))
                    retry = self.backoff(retry)
                    continue
                except (OSError, xmlrpc.client.ProtocolError, http.client.HTTPException) as e:
                    log("task_complete failed (%s); retrying" % e)
                    retry = self.backoff(retry)
                    continue
                retry = 0.0
                sent = {(rep["job_id"], rep["attempt"]) for rep in batch}
                with self.mu:
                    self.results = [rep for rep in self.results if (rep["job_id"], rep["attempt"]) not in sent]
                    self.mu.notify_all()
                if reply.get("dropped"):
                    log("master dropped %d stale report(s)" % reply["dropped"])
                if reply.get("refused"):
                    log("master refused %d report(s): leased to another worker" % reply["refused"])

    # -- life ----------------------------------------------------------------------

    def spawn(self, fn, name):
        th = threading.Thread(target=fn, name=name, daemon=True)
        th.start()
        self.threads.append(th)

    def run(self, stop):
        if not self.pull:
            self.serve()
            log("serving %s" % self.addr)
        self.spawn(self.master_loop, "master")
        self.spawn(self.report_loop, "reporter")
        while not stop.wait(0.2):
            pass
        self.shutdown()

    def shutdown(self):
        with self.mu:
            self.draining = True
            n = len(self.running)
            self.mu.notify_all()
        log("draining: %d job(s) running" % n)
        self.beat_now.set()  # tell the master now, so it sends nothing more
        deadline = time.monotonic() + SHUTDOWN_GRACE
        with self.mu:
            while (self.running or self.fetching) and time.monotonic() < deadline:
                self.mu.wait(deadline - time.monotonic())
            if self.running:
                log("grace over; stopping %d job(s); the master requeues them" % len(self.running))
                for r in self.running.values():
                    r.drop = True
                    r.stop.set()
        self.report_wake.set()
        deadline = time.monotonic() + FLUSH_GRACE
        with self.mu:
            while self.results and time.monotonic() < deadline:
                self.mu.wait(min(deadline - time.monotonic(), 0.2))
            left = len(self.results)
            worker_id, secret = self.worker_id, self.secret
        if left:
            log("%d result(s) not delivered" % left)
        self.quit.set()
        self.beat_now.set()
        self.report_wake.set()
        with self.mu:
            self.mu.notify_all()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for th in self.threads:
            th.join(15)
        log("threads stopped")
        if worker_id:
            try:
                Masters(self.masters).call("logout_worker", {"worker_id": worker_id, "secret": secret}, timeout=5, io_timeout=5)
                log("logged out")
            except (xmlrpc.client.Fault, OSError, xmlrpc.client.ProtocolError, http.client.HTTPException) as e:
                log("logout failed: %s" % e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--master", required=True, help="the master's HOST:PORT, or several separated by commas")
    ap.add_argument("--pull", action="store_true", help="pull mode: no endpoint, long-poll fetch_tasks")
    ap.add_argument("--name", default="%s-py-%d" % (socket.gethostname(), os.getpid()))
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--listen", default="127.0.0.1:0", help="push mode: the endpoint's HOST:PORT")
    a = ap.parse_args()
    if a.slots < 1:
        ap.error("--slots must be at least 1")
    masters = [m.strip() for m in a.master.split(",")]
    if "" in masters:
        ap.error("--master %r: an empty address" % a.master)

    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():
            log("second signal; exiting at once")
            os._exit(1)
        log("signal %d; stopping" % signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    Worker([master_url(m) for m in masters], a.name, a.slots, a.pull, a.listen).run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
