package xmlrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/xmlrpc/xmlrpctest"
)

// pythonCorpus returns the committed Python requests, by base name.
func pythonCorpus(tb testing.TB) map[string][]byte {
	tb.Helper()
	return xmlrpctest.Corpus(tb, xmlrpctest.PythonDir)
}

// pythonCall is a call of the Python corpus, decoded.
type pythonCall struct {
	method string
	params []any
}

// pyUTC returns a time in UTC, to the second.
func pyUTC(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

// pythonCorpusWant is what each file of the Python corpus decodes to.
var pythonCorpusWant = map[string]pythonCall{
	"scalars": {"Master.Status", []any{
		int64(0), int64(1), int64(-1), int64(math.MaxInt32), int64(math.MinInt32),
		true, false,
		3.25, -0.5, 0.1, 1e100, 1e-7, 5e-324, math.MaxFloat64, math.Copysign(0, -1),
		"hello", "",
		nil,
	}},
	"unicode": {"Master.Submit", []any{
		"h\u00e9llo w\u00f6rld", "\u65e5\u672c\u8a9e", "emoji \U0001F680", "a&b<c>d", "tab\there\nnewline",
		"  spaces  ", "]]>", "quotes \" and '", "\u00a0nbsp and \u2028 line separator",
	}},
	"binary": {"Master.Complete", []any{
		[]byte("\x00\x01\xffhello"), []byte{}, func() []byte {
			b := make([]byte, 256)
			for i := range b {
				b[i] = byte(i)
			}
			return b
		}(),
	}},
	"datetime": {"Master.Wait", []any{
		pyUTC(2026, 11, 23, 8, 43, 45), pyUTC(1999, 12, 31, 23, 59, 59), pyUTC(1, 1, 1, 0, 0, 0), pyUTC(2024, 2, 29, 12, 0, 0),
	}},
	"submit": {"Master.Submit", []any{map[string]any{"specs": []any{
		map[string]any{
			"type":     "shell",
			"args":     map[string]any{"cmd": "echo hi", "url": "http://example.com/?a=1&b=2"},
			"priority": int64(5),
			"retries":  int64(2),
			"timeout":  1.5,
			"group":    "g1",
			"key":      "k1",
		},
		map[string]any{"type": "noop"},
		map[string]any{"type": "sleep", "args": map[string]any{}, "timeout": "250ms", "group": nil},
	}}}},
	"register": {"Master.Register", []any{map[string]any{
		"name": "py-1", "addr": "http://127.0.0.1:9000/RPC2", "types": []any{"shell", "py"}, "slots": int64(4),
		"transport": "xmlrpc", "mode": "pull", "running": []any{map[string]any{"job_id": "j1", "attempt": int64(2)}},
	}}},
	"complete": {"Master.Complete", []any{map[string]any{
		"worker_id": "w-7",
		"reports": []any{
			map[string]any{"job_id": "j1", "attempt": int64(1), "outcome": "ok", "exit_code": int64(0),
				"output": "done\n", "data": `{"n": 1}`, "permanent": false},
			map[string]any{"job_id": "j2", "attempt": int64(3), "outcome": "error", "exit_code": int64(2),
				"error": "exit status 2", "permanent": true, "output": nil},
		},
	}}},
	"none":       {"Master.Status", []any{nil, map[string]any{"a": nil, "b": []any{nil, int64(1)}}, []any{nil}}},
	"empty":      {"Master.ListWorkers", []any{}},
	"containers": {"Master.ListJobs", []any{map[string]any{}, []any{}, map[string]any{"": "empty name", "x y": []any{[]any{}, map[string]any{}}}, []any{[]any{int64(1), []any{int64(2), []any{int64(3)}}}}}},
	"deep":       {"Master.Status", []any{testNestTree(32, "bottom")}},
	// XML turns line ends (CR, CRLF) into LF; Python's own decoder does too.
	"carriage_return": {"Master.Status", []any{"a\nb", "c\nd"}},
}

func TestDecodePythonCorpus(t *testing.T) {
	want := pythonCorpusWant
	corpus := pythonCorpus(t)
	for name, data := range corpus {
		t.Run(name, func(t *testing.T) {
			method, params, err := DecodeCall(bytes.NewReader(data), Limits{})
			if strings.HasPrefix(name, "invalid_") {
				if !errors.Is(err, ErrParse) {
					t.Fatalf("decode = %q %#v, %v; want ErrParse", method, params, err)
				}
				return
			}
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for testdata/python/%s.xml: add one", name)
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if method != w.method || !reflect.DeepEqual(params, w.params) {
				t.Errorf("got %q %#v\nwant %q %#v", method, params, w.method, w.params)
			}
		})
	}
	for name := range want {
		if _, ok := corpus[name]; !ok {
			t.Errorf("testdata/python/%s.xml is missing: run python3 testdata/python/gen.py", name)
		}
	}
}

// findPython returns the path of python3, or skips the test without it
// (fails it on CI, where python3 must be present).
func findPython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 is required on CI for the XML-RPC interoperability tests: %v", err)
		}
		t.Skipf("python3 not found in PATH (%v): skipping the XML-RPC interoperability test with Python's xmlrpc.client", err)
	}
	return py
}

// runPython runs python3 with args, feeding it stdin, and returns its
// stdout.
func runPython(t *testing.T, py string, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3: %v\nstderr:\n%s", err, stderr.String())
	}
	return stdout.Bytes()
}

func TestPythonCorpusUpToDate(t *testing.T) {
	py := findPython(t)
	dir := t.TempDir()
	runPython(t, py, nil, filepath.Join("testdata", "python", "gen.py"), dir)
	corpus := pythonCorpus(t)
	fresh, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	if len(fresh) != len(corpus) {
		t.Errorf("gen.py writes %d files, testdata/python holds %d: rerun gen.py", len(fresh), len(corpus))
	}
	for _, f := range fresh {
		b, _ := os.ReadFile(f)
		name := strings.TrimSuffix(filepath.Base(f), ".xml")
		if !bytes.Equal(b, corpus[name]) {
			t.Errorf("testdata/python/%s.xml differs from what gen.py writes now: rerun gen.py", name)
		}
	}
}

// pythonLoads is the script that reads a JSON list of XML-RPC documents
// on stdin, decodes each with xmlrpc.client.loads and prints the results as
// JSON (bytes and datetimes tagged).
const pythonLoads = `
import base64, datetime, json, sys, xmlrpc.client

def conv(v):
    if isinstance(v, bytes):
        return {"$base64": base64.b64encode(v).decode()}
    if isinstance(v, datetime.datetime):
        return {"$datetime": v.isoformat()}
    if isinstance(v, dict):
        return {k: conv(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [conv(x) for x in v]
    return v

out = []
for doc in json.load(sys.stdin):
    try:
        params, method = xmlrpc.client.loads(doc, use_builtin_types=True)
        out.append({"method": method, "params": conv(list(params))})
    except xmlrpc.client.Fault as f:
        out.append({"fault": f.faultCode, "string": f.faultString})
json.dump(out, sys.stdout)
`

// jsonNormalize decodes JSON with numbers as int64 or float64.
func jsonNormalize(t *testing.T, data []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("bad JSON %s: %v", data, err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case json.Number:
			if n, err := x.Int64(); err == nil {
				return n
			}
			f, err := x.Float64()
			if err != nil {
				t.Fatalf("bad number %s", x)
			}
			return f
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	return walk(v)
}

// pythonReadTree is a response tree of every type and of the strings
// that need escaping or repair.
var pythonReadTree = map[string]any{
	"big":       1 << 40,
	"neg_big":   int64(-1 << 40),
	"max_int64": int64(math.MaxInt64),
	"max_int32": int64(math.MaxInt32),
	"min_int32": int64(math.MinInt32),
	"ctl":       "a\x01b\x00c\x1fd\uFFFEe",
	"bad_utf8":  "x\xffy",
	"cr":        "a\rb\r\nc\n",
	"escape":    "<&>]]>'\"",
	"unicode":   "日本語 🚀",
	"nested":    map[string]any{"a": map[string]any{"b": []any{1, "two", 3.5, true, false, []any{}}}, "empty": map[string]any{}},
	"when":      time.Date(2026, 11, 23, 8, 43, 45, 999, time.FixedZone("CET", 3600)),
	"bytes":     []byte{0, 1, 2, 254, 255},
	"nil":       nil,
	"empty":     "",
	"floats":    []any{0.1, math.Copysign(0, -1), 1e-7, 1e21, math.MaxFloat64, 5e-324},
}

// pythonReadWant is what Python reads from the documents of
// pythonReadDocs, as JSON.
const pythonReadWant = `[
	{"method": null, "params": [{
		"big": 1099511627776,
		"neg_big": -1099511627776,
		"max_int64": 9223372036854775807,
		"max_int32": 2147483647,
		"min_int32": -2147483648,
		"ctl": "a\ufffdb\ufffdc\ufffdd\ufffde",
		"bad_utf8": "x\ufffdy",
		"cr": "a\rb\r\nc\n",
		"escape": "<&>]]>'\"",
		"unicode": "日本語 🚀",
		"nested": {"a": {"b": [1, "two", 3.5, true, false, []]}, "empty": {}},
		"when": {"$datetime": "2026-11-23T07:43:45"},
		"bytes": {"$base64": "AAEC/v8="},
		"nil": null,
		"empty": "",
		"floats": [0.1, -0.0, 1e-7, 1e21, 1.7976931348623157e308, 5e-324]
	}]},
	{"fault": -32602, "string": "bad params: <x> & \ufffd"},
	{"method": "Worker.Assign", "params": ["w1", -5, null]},
	{"method": null, "params": [{"worker_id": "w-1", "heartbeat_interval": 1.5, "dead_after": 10.0,
		"cancel": [{"job_id": "j1", "attempt": 3}]}]}
]`

// pythonReadDocs encodes the documents TestEncodeReadByPython gives
// Python: a response, a fault, a call, and a reply as rpcapi maps one.
func pythonReadDocs(t *testing.T) []string {
	var docs []string
	var b bytes.Buffer
	if err := EncodeResponse(&b, pythonReadTree); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, b.String())
	b.Reset()
	if err := EncodeFault(&b, -32602, "bad params: <x> & \x01"); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, b.String())
	b.Reset()
	if err := EncodeCall(&b, "Worker.Assign", "w1", int64(-5), nil); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, b.String())
	b.Reset()
	reply := map[string]any{"worker_id": "w-1", "heartbeat_interval": 1.5, "dead_after": 10.0,
		"cancel": []any{map[string]any{"job_id": "j1", "attempt": int64(3)}}}
	if err := EncodeResponse(&b, reply); err != nil {
		t.Fatal(err)
	}
	return append(docs, b.String())
}

func TestEncodeReadByPython(t *testing.T) {
	py := findPython(t)
	in, err := json.Marshal(pythonReadDocs(t))
	if err != nil {
		t.Fatal(err)
	}
	got := jsonNormalize(t, runPython(t, py, in, "-c", pythonLoads))
	want := jsonNormalize(t, []byte(pythonReadWant))
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", "  ")
		wj, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("Python read\n%s\nwant\n%s", gj, wj)
	}
}
