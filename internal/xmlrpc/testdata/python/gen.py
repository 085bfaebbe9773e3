#!/usr/bin/env python3
"""Generate the XML-RPC requests that Python's standard library sends.

Each case is written as NAME.xml by xmlrpc.client.dumps(params, method,
allow_none=True), exactly as xmlrpc.client.ServerProxy would send it. The Go
test TestDecodePythonCorpus (internal/xmlrpc) decodes every file and checks
the tree it expects; files named invalid_*.xml must be refused. The files are
also seeds of FuzzDecodeCall, FuzzDecodeCallDiff and (in rpcapi)
FuzzWireToGo.

Usage: python3 gen.py [OUTDIR]   (default: the directory of this script)
"""

import datetime
import os
import sys
import xmlrpc.client

Binary = xmlrpc.client.Binary

CASES = [
    # Scalars, one param each, as a positional call would send them.
    ("scalars", "Master.Status", (
        0, 1, -1, 2**31 - 1, -2**31,
        True, False,
        3.25, -0.5, 0.1, 1e100, 1e-7, 5e-324, 1.7976931348623157e308, -0.0,
        "hello", "",
        None,
    )),
    ("unicode", "Master.Submit", (
        "h\u00e9llo w\u00f6rld",
        "\u65e5\u672c\u8a9e",
        "emoji \U0001F680",
        "a&b<c>d",
        "tab\there\nnewline",
        "  spaces  ",
        "]]>",
        "quotes \" and '",
        "\u00a0nbsp and \u2028 line separator",
    )),
    ("binary", "Master.Complete", (
        Binary(b"\x00\x01\xffhello"),
        Binary(b""),
        Binary(bytes(range(256))),  # long enough for encodebytes to wrap lines
    )),
    ("datetime", "Master.Wait", (
        datetime.datetime(2026, 11, 23, 8, 43, 45),
        datetime.datetime(1999, 12, 31, 23, 59, 59),
        datetime.datetime(1, 1, 1, 0, 0, 0),
        datetime.datetime(2024, 2, 29, 12, 0, 0, 999999),  # microseconds are dropped
    )),
    ("submit", "Master.Submit", ({
        "specs": [
            {
                "type": "shell",
                "args": {"cmd": "echo hi", "url": "http://example.com/?a=1&b=2"},
                "priority": 5,
                "retries": 2,
                "timeout": 1.5,
                "group": "g1",
                "key": "k1",
            },
            {"type": "noop"},
            {"type": "sleep", "args": {}, "timeout": "250ms", "group": None},
        ],
    },)),
    ("register", "Master.Register", ({
        "name": "py-1",
        "addr": "http://127.0.0.1:9000/RPC2",
        "types": ["shell", "py"],
        "slots": 4,
        "transport": "xmlrpc",
        "mode": "pull",
        "running": [{"job_id": "j1", "attempt": 2}],
    },)),
    ("complete", "Master.Complete", ({
        "worker_id": "w-7",
        "reports": [
            {"job_id": "j1", "attempt": 1, "outcome": "ok", "exit_code": 0,
             "output": "done\n", "data": "{\"n\": 1}", "permanent": False},
            {"job_id": "j2", "attempt": 3, "outcome": "error", "exit_code": 2,
             "error": "exit status 2", "permanent": True, "output": None},
        ],
    },)),
    ("none", "Master.Status", (None, {"a": None, "b": [None, 1]}, [None])),
    ("empty", "Master.ListWorkers", ()),
    ("containers", "Master.ListJobs", ({}, [], {"": "empty name", "x y": [[], {}]}, [[1, [2, [3]]]])),
    ("deep", "Master.Status", (
        # 32 nested lists: the default MaxDepth, still accepted.
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["bottom"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    )),
    ("carriage_return", "Master.Status", ("a\rb", "c\r\nd")),
    # Python writes control characters as they are, which is not XML: the
    # decoder must refuse the request.
    ("invalid_control_char", "Master.Status", ("a\x01b",)),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for name, method, params in CASES:
        data = xmlrpc.client.dumps(params, method, allow_none=True)
        with open(os.path.join(out, name + ".xml"), "w", encoding="utf-8", newline="") as f:
            f.write(data)


if __name__ == "__main__":
    main()
