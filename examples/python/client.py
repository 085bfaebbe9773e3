#!/usr/bin/env python3
"""Submit a batch of jobs to a drover master and wait for them, standard
library only.

    client.py --master HOST:PORT[,HOST:PORT...] [--count N] [--type T] [--group G] [--timeout S]
              [--arg KEY=VALUE]... [--retries N]

Submits N jobs (default 10) of type T (default "py.echo", which
examples/python/worker.py runs), job i with args {"text": "hello i"} plus any
--arg, in one submit_jobs call; then calls wait_jobs (10 s a call) until they
are all final or --timeout seconds (default 120) pass; then prints one line per
job: ID, state, the worker of its last attempt, and that attempt's output (or
error).

Given several masters (a raft group, docs/ha.md), it calls the leader
among them (class Masters, from docs/protocol.md). A call whose connection
broke, or that a master answered with fault 4 (unavailable), is made again
until the timeout: each is safe to repeat, the submit too, since every spec
carries a key of this run (a key already known makes no new job).

Exit status: 0 if every job succeeded, 1 if any failed or was cancelled (or
the master could not be reached), 2 on timeout.
"""

import argparse
import http.client
import os
import socket
import sys
import time
import xmlrpc.client

WAIT_PER_CALL = 10.0  # seconds; the master caps one wait_jobs call at 30
FAULT_UNAVAILABLE = 4


# Once and Masters are docs/protocol.md's, "Several masters: following the leader".
class Once(xmlrpc.client.Transport):
    """Sends a call once. xmlrpc.client sends it again when the connection
    closed without an answer; a master killed meanwhile then refuses it, as
    if nothing had been sent, and the call would go to the next master."""

    def request(self, host, handler, body, verbose=False):
        return self.single_request(host, handler, body, verbose)


class Masters:
    """Calls the leader among masters given as a list of XML-RPC URLs."""

    def __init__(self, urls):
        self.urls, self.i = list(urls), 0

    def call(self, method, arg, timeout=30):
        end, url = time.monotonic() + timeout, self.urls[self.i]
        while True:
            try:
                proxy = xmlrpc.client.ServerProxy(url, allow_none=True, transport=Once())
                result = getattr(proxy, method)(arg)
                self.i = self.urls.index(url)  # the next call starts here
                return result
            except xmlrpc.client.Fault as f:
                if f.faultCode != 8:  # 8: not_leader, this master is a standby
                    raise
                _, named, leader = f.faultString.partition("the leader is at ")
            except ConnectionRefusedError:  # nothing was sent
                named = leader = ""
            if time.monotonic() > end:
                raise TimeoutError("no master answered " + method)
            leader = "http://%s/RPC2" % leader
            if named and url == self.urls[self.i] and leader != url:
                url = leader  # named by the master in turn: call it next
                if url not in self.urls:
                    self.urls.append(url)
            else:  # the next master in turn; a pause after each round
                self.i = (self.i + 1) % len(self.urls)
                url = self.urls[self.i]
                if self.i == 0:
                    time.sleep(0.2)


def call(masters, method, arg, deadline):
    """masters.call, made again after a broken connection or fault 4 until
    the deadline (time.monotonic())."""
    while True:
        try:
            return masters.call(method, arg)
        except xmlrpc.client.Fault as f:
            if f.faultCode != FAULT_UNAVAILABLE or time.monotonic() > deadline:
                raise
            err = f.faultString
        except (OSError, xmlrpc.client.ProtocolError, http.client.HTTPException) as e:
            if time.monotonic() > deadline:
                raise
            err = e
        print("client.py: %s: %s; again" % (method, err), file=sys.stderr)
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--master", required=True, help="the master's HOST:PORT, or several separated by commas")
    ap.add_argument("--count", type=int, default=10, help="jobs to submit (default 10)")
    ap.add_argument("--type", default="py.echo", help='job type (default "py.echo")')
    ap.add_argument("--group", default="", help="group name (default: py-client-PID-TIME)")
    ap.add_argument("--timeout", type=float, default=120.0, help="overall wait in seconds (default 120)")
    ap.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE", help="an arg for every job")
    ap.add_argument("--retries", type=int, default=0, help="retries per job (default 0)")
    a = ap.parse_args()
    if a.count < 1:
        ap.error("--count must be at least 1")
    extra = {}
    for kv in a.arg:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            ap.error("--arg %r: want KEY=VALUE" % kv)
        extra[k] = v
    addrs = [m.strip() for m in a.master.split(",")]
    if "" in addrs:
        ap.error("--master %r: an empty address" % a.master)
    run = "py-client-%d-%d" % (os.getpid(), int(time.time()))
    group = a.group or run

    # Every call times out: this process talks to the masters alone, so the
    # default timeout of its sockets serves (a wait_jobs call takes up to
    # WAIT_PER_CALL).
    socket.setdefaulttimeout(WAIT_PER_CALL + 20)
    masters = Masters("http://%s/RPC2" % m for m in addrs)
    deadline = time.monotonic() + a.timeout
    try:
        specs = []
        for i in range(1, a.count + 1):
            args = {"text": "hello %d" % i}
            args.update(extra)
            specs.append({"type": a.type, "args": args, "group": group, "retries": a.retries,
                          "key": "%s/%d" % (run, i)})
        ids = call(masters, "submit_jobs", {"specs": specs}, deadline)["ids"]
        print("submitted %d jobs in group %s" % (len(ids), group), file=sys.stderr)

        done = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            reply = call(masters, "wait_jobs", {"ids": ids, "timeout": min(WAIT_PER_CALL, left)}, deadline)
            if reply["done"]:
                done = True
                break

        ok = True
        for job_id in ids:
            job = call(masters, "get_job", {"id": job_id}, time.monotonic() + 30)["job"]
            attempts = job.get("attempts") or []
            last = attempts[-1] if attempts else {}
            worker = job.get("worker") or last.get("worker") or "-"
            text = last.get("output") or last.get("error") or ""
            print("%s\t%s\t%s\t%s" % (job["id"], job["state"], worker, text.replace("\n", "\\n")))
            ok = ok and job["state"] == "succeeded"
    except xmlrpc.client.Fault as f:
        print("client.py: master fault %d: %s" % (f.faultCode, f.faultString), file=sys.stderr)
        return 1
    except (OSError, xmlrpc.client.ProtocolError, http.client.HTTPException) as e:
        print("client.py: masters %s: %s" % (a.master, e), file=sys.stderr)
        return 1
    if not done:
        print("client.py: not all jobs final within %gs" % a.timeout, file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
