#!/usr/bin/env python3
"""Submit a batch of jobs to a drover master and wait for them, standard
library only.

    client.py --master HOST:PORT [--count N] [--type T] [--group G] [--timeout S]
              [--arg KEY=VALUE]... [--retries N]

Submits N jobs (default 10) of type T (default "py.echo", which
examples/python/worker.py runs), job i with args {"text": "hello i"} plus any
--arg, in one submit_jobs call; then calls wait_jobs (10 s a call) until they
are all final or --timeout seconds (default 120) pass; then prints one line per
job: ID, state, the worker of its last attempt, and that attempt's output (or
error).

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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--master", required=True, help="the master's HOST:PORT")
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
    group = a.group or "py-client-%d-%d" % (os.getpid(), int(time.time()))

    # Every call times out: this process talks to the master alone, so the
    # default timeout of its sockets serves (a wait_jobs call takes up to
    # WAIT_PER_CALL).
    socket.setdefaulttimeout(WAIT_PER_CALL + 20)
    master = xmlrpc.client.ServerProxy("http://%s/RPC2" % a.master, allow_none=True)
    try:
        specs = []
        for i in range(1, a.count + 1):
            args = {"text": "hello %d" % i}
            args.update(extra)
            specs.append({"type": a.type, "args": args, "group": group, "retries": a.retries})
        ids = master.submit_jobs({"specs": specs})["ids"]
        print("submitted %d jobs in group %s" % (len(ids), group), file=sys.stderr)

        deadline = time.monotonic() + a.timeout
        done = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            reply = master.wait_jobs({"ids": ids, "timeout": min(WAIT_PER_CALL, left)})
            if reply["done"]:
                done = True
                break

        ok = True
        for job_id in ids:
            job = master.get_job({"id": job_id})["job"]
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
        print("client.py: master %s: %s" % (a.master, e), file=sys.stderr)
        return 1
    if not done:
        print("client.py: not all jobs final within %gs" % a.timeout, file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
