package rpcapi

import (
	"bytes"
	"errors"
	"maps"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/xmlrpc"
	"github.com/drover/drover/internal/xmlrpc/xmlrpctest"
	"github.com/drover/drover/jobs"
	kolo "github.com/kolo/xmlrpc"
)

// wireTestSmall has fields of sizes that can overflow.
type wireTestSmall struct {
	I8  int8    `xmlrpc:"i8"`
	I32 int32   `xmlrpc:"i32"`
	U8  uint8   `xmlrpc:"u8"`
	U64 uint64  `xmlrpc:"u64"`
	F32 float32 `xmlrpc:"f32"`
	F64 float64 `xmlrpc:"f64"`
	B   []byte  `xmlrpc:"b"`
	A   [2]int  `xmlrpc:"a"`
	BA  [2]byte `xmlrpc:"ba"`
	P   *int    `xmlrpc:"p"`
	E   any     `xmlrpc:"e"`
	T   time.Time
	D   time.Duration
}

// wireTestSpec returns a spec tree of type shell with the members kv.
func wireTestSpec(kv ...any) map[string]any {
	m := map[string]any{"type": "shell"}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// wireTestSubmit returns a submit tree whose third spec is third.
func wireTestSubmit(third map[string]any) map[string]any {
	return map[string]any{"specs": []any{wireTestSpec(), wireTestSpec(), third}}
}

// wireToGoErrorCases are trees wireToGo refuses, with the whole message.
var wireToGoErrorCases = []struct {
	name string
	tree any
	dst  func() any
	msg  string // the whole message
}{
	{"int field takes no string", wireTestSubmit(wireTestSpec("priority", "5")), func() any { return new(SubmitArgs) },
		"xmlrpc: params[0].specs[2].priority: want int, got string"},
	{"int field takes no double", wireTestSubmit(wireTestSpec("retries", 1.0)), func() any { return new(SubmitArgs) },
		"xmlrpc: params[0].specs[2].retries: want int, got double"},
	{"int field takes no boolean", map[string]any{"slots": true}, func() any { return new(RegisterArgs) },
		"xmlrpc: params[0].slots: want int, got boolean"},
	{"string map value takes no int", wireTestSubmit(wireTestSpec("args", map[string]any{"url": int64(3)})), func() any { return new(SubmitArgs) },
		"xmlrpc: params[0].specs[2].args.url: want string, got int"},
	{"ID takes no int", map[string]any{"worker_id": int64(7)}, func() any { return new(HeartbeatArgs) },
		"xmlrpc: params[0].worker_id: want string, got int"},
	{"named string takes no int", map[string]any{"reports": []any{map[string]any{"outcome": int64(1)}}}, func() any { return new(CompleteArgs) },
		"xmlrpc: params[0].reports[0].outcome: want string, got int"},
	{"string slice element", map[string]any{"ids": []any{"a", int64(2)}}, func() any { return new(CancelArgs) },
		"xmlrpc: params[0].ids[1]: want string, got int"},
	{"slice takes no string", map[string]any{"types": "shell"}, func() any { return new(RegisterArgs) },
		"xmlrpc: params[0].types: want array, got string"},
	{"struct takes no array", []any{}, func() any { return new(RegisterArgs) },
		"xmlrpc: params[0]: want struct, got array"},
	{"nested struct takes no string", map[string]any{"running": []any{"j1"}}, func() any { return new(RegisterArgs) },
		"xmlrpc: params[0].running[0]: want struct, got string"},
	{"map takes no array", wireTestSubmit(wireTestSpec("args", []any{})), func() any { return new(SubmitArgs) },
		"xmlrpc: params[0].specs[2].args: want struct, got array"},
	{"map value of named key", map[string]any{"counts": map[string]any{"pending": "3"}}, func() any { return new(WaitReply) },
		"xmlrpc: params[0].counts.pending: want int, got string"},
	{"bool takes no int", map[string]any{"draining": int64(1)}, func() any { return new(HeartbeatArgs) },
		"xmlrpc: params[0].draining: want boolean, got int"},
	{"unknown member", wireTestSubmit(wireTestSpec("bogus", int64(1))), func() any { return new(SubmitArgs) },
		`xmlrpc: params[0].specs[2]: unknown member "bogus"`},
	{"unknown top member", map[string]any{"name": "x", "nmae": "y"}, func() any { return new(RegisterArgs) },
		`xmlrpc: params[0]: unknown member "nmae"`},
	{"skipped field is unknown", map[string]any{"job": map[string]any{"seq": int64(1)}}, func() any { return new(JobInfo) },
		`xmlrpc: params[0].job: unknown member "seq"`},
	{"Go field name is unknown", map[string]any{"WorkerID": "w"}, func() any { return new(LogoutArgs) },
		`xmlrpc: params[0]: unknown member "WorkerID"`},
	{"odd member name quoted in path", map[string]any{"args": map[string]any{"a b": int64(1)}}, func() any { return new(Task) },
		`xmlrpc: params[0].args["a b"]: want string, got int`},
	{"bad duration string", wireTestSubmit(wireTestSpec("timeout", "soon")), func() any { return new(SubmitArgs) },
		`xmlrpc: params[0].specs[2].timeout: bad duration "soon": want seconds or a duration like "1.5s"`},
	{"negative float duration", map[string]any{"timeout": -1.5}, func() any { return new(WaitArgs) },
		"xmlrpc: params[0].timeout: negative duration -1.5s"},
	{"negative int duration", map[string]any{"timeout": int64(-2)}, func() any { return new(FetchArgs) },
		"xmlrpc: params[0].timeout: negative duration -2s"},
	{"negative string duration", map[string]any{"timeout": "-1s"}, func() any { return new(Task) },
		`xmlrpc: params[0].timeout: negative duration "-1s"`},
	{"NaN duration", map[string]any{"timeout": math.NaN()}, func() any { return new(WaitArgs) },
		"xmlrpc: params[0].timeout: bad duration NaN"},
	{"Inf duration", map[string]any{"timeout": math.Inf(1)}, func() any { return new(WaitArgs) },
		"xmlrpc: params[0].timeout: bad duration +Inf"},
	{"huge float duration", map[string]any{"timeout": 1e10}, func() any { return new(WaitArgs) },
		"xmlrpc: params[0].timeout: duration 1e+10s out of range"},
	{"huge int duration", map[string]any{"timeout": 2 * (math.MaxInt64 / int64(time.Second))}, func() any { return new(WaitArgs) },
		"xmlrpc: params[0].timeout: duration 18446744072s out of range"},
	{"huge string duration", map[string]any{"timeout": "9999999999h"}, func() any { return new(WaitArgs) },
		`xmlrpc: params[0].timeout: bad duration "9999999999h": want seconds or a duration like "1.5s"`},
	{"duration takes no boolean", map[string]any{"timeout": true}, func() any { return new(WaitArgs) },
		`xmlrpc: params[0].timeout: want duration (seconds or a string like "1.5s"), got boolean`},
	{"time takes no int", map[string]any{"registered": int64(1)}, func() any { return new(WorkerInfo) },
		"xmlrpc: params[0].registered: want dateTime or RFC 3339 string, got int"},
	{"bad time string", map[string]any{"registered": "yesterday"}, func() any { return new(WorkerInfo) },
		`xmlrpc: params[0].registered: bad time "yesterday": want RFC 3339`},
	{"time out of range", map[string]any{"registered": "0000-01-01T00:00:00+01:00"}, func() any { return new(WorkerInfo) },
		"xmlrpc: params[0].registered: time -0001-12-31 23:00:00 +0000 UTC outside the years 0000 to 9999"},
	{"int8 out of range", map[string]any{"i8": int64(300)}, func() any { return new(wireTestSmall) },
		"xmlrpc: params[0].i8: 300 out of range for int8"},
	{"int32 out of range", map[string]any{"i32": int64(math.MinInt32 - 1)}, func() any { return new(wireTestSmall) },
		"xmlrpc: params[0].i32: -2147483649 out of range for int32"},
	{"uint8 out of range", map[string]any{"u8": "256"}, func() any { return new(wireTestSmall) },
		"xmlrpc: params[0].u8: 256 out of range for uint8"},
	{"uint negative", map[string]any{"u64": int64(-1)}, func() any { return new(wireTestSmall) },
		"xmlrpc: params[0].u64: -1 out of range for uint64"},
	{"uint bad string", map[string]any{"u64": "-1"}, func() any { return new(wireTestSmall) },
		`xmlrpc: params[0].u64: bad unsigned int "-1"`},
	{"uint over uint64", map[string]any{"u64": "18446744073709551616"}, func() any { return new(wireTestSmall) },
		`xmlrpc: params[0].u64: bad unsigned int "18446744073709551616"`},
	{"uint takes no double", map[string]any{"u64": 1.0}, func() any { return new(wireTestSmall) },
		"xmlrpc: params[0].u64: want unsigned int (decimal string or int), got double"},
	{"float32 out of range", map[string]any{"f32": 1e300}, func() any { return new(wireTestSmall) },
		"xmlrpc: params[0].f32: 1e+300 out of range for float32"},
	{"float takes no string", map[string]any{"f64": "1.5"}, func() any { return new(wireTestSmall) },
		"xmlrpc: params[0].f64: want double, got string"},
	{"bytes take no int", map[string]any{"b": int64(1)}, func() any { return new(wireTestSmall) },
		"xmlrpc: params[0].b: want base64 or string, got int"},
	{"array length", map[string]any{"a": []any{int64(1)}}, func() any { return new(wireTestSmall) },
		"xmlrpc: params[0].a: want 2 elements, got 1"},
	{"byte array length", map[string]any{"ba": []byte{1, 2, 3}}, func() any { return new(wireTestSmall) },
		"xmlrpc: params[0].ba: want 2 bytes, got 3"},
	{"pointer target", map[string]any{"p": "x"}, func() any { return new(wireTestSmall) },
		"xmlrpc: params[0].p: want int, got string"},
}

func TestWireToGoErrors(t *testing.T) {
	tests := wireToGoErrorCases
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wireToGo(tt.tree, tt.dst(), "params[0]")
			if err == nil || err.Error() != tt.msg {
				t.Fatalf("error = %v\n         want %s", err, tt.msg)
			}
			if !errors.Is(err, errWireInvalid) {
				t.Errorf("error %v does not wrap errWireInvalid", err)
			}
		})
	}
}

func TestWireToGoRootPath(t *testing.T) {
	err := wireToGo(int64(1), new(RegisterArgs), "")
	if err == nil || err.Error() != "xmlrpc: want struct, got int" {
		t.Errorf("error = %v", err)
	}
	err = wireToGo(map[string]any{"running": []any{map[string]any{"attempt": "1"}}}, new(RegisterArgs), "")
	if err == nil || err.Error() != "xmlrpc: running[0].attempt: want int, got string" {
		t.Errorf("error = %v", err)
	}
}

func TestWireToGoBadDestination(t *testing.T) {
	for _, dst := range []any{nil, RegisterArgs{}, (*RegisterArgs)(nil)} {
		if err := wireToGo(map[string]any{}, dst, ""); err == nil || errors.Is(err, errWireInvalid) {
			t.Errorf("wireToGo into %T: error %v, want a programming error", dst, err)
		}
	}
	ch := new(chan int)
	if err := wireToGo(int64(1), ch, "p"); err == nil || errors.Is(err, errWireInvalid) {
		t.Errorf("wireToGo into a chan: error %v", err)
	}
	if err := wireToGo(map[string]any{}, new(wireTestClash), "p"); err == nil || !strings.Contains(err.Error(), "two fields") {
		t.Errorf("wireToGo into a clashing type: error %v", err)
	}
	if err := wireToGo(map[string]any{}, new(map[int]string), "p"); err == nil || errors.Is(err, errWireInvalid) {
		t.Errorf("wireToGo into map[int]string: error %v", err)
	}
	var e error
	if err := wireToGo("x", &e, "p"); err == nil || errors.Is(err, errWireInvalid) {
		t.Errorf("wireToGo into an error interface: error %v", err)
	}
}

func TestWireToGoFriendly(t *testing.T) {
	at := time.Date(2026, 11, 23, 8, 43, 45, 0, time.UTC)
	n5 := 5
	tests := []struct {
		name string
		tree any
		dst  any // a new zero value of the destination type
		want any
	}{
		{"None leaves zero", map[string]any{"name": nil, "slots": nil, "types": nil, "running": nil}, new(RegisterArgs), &RegisterArgs{}},
		{"None in a slice", map[string]any{"ids": []any{"a", nil}}, new(CancelArgs), &CancelArgs{IDs: []string{"a", ""}}},
		{"None in a map", map[string]any{"args": map[string]any{"a": nil}}, new(Task), &Task{Args: map[string]string{"a": ""}}},
		{"missing members are zero", map[string]any{}, new(RegisterArgs), &RegisterArgs{}},
		{"empty array is nil", map[string]any{"types": []any{}}, new(RegisterArgs), &RegisterArgs{}},
		{"empty struct map is nil", map[string]any{"args": map[string]any{}}, new(Task), &Task{}},
		{"float seconds", map[string]any{"timeout": 1.5}, new(WaitArgs), &WaitArgs{Timeout: 1500 * time.Millisecond}},
		{"float seconds precise", map[string]any{"timeout": 0.000000001}, new(WaitArgs), &WaitArgs{Timeout: 1}},
		{"int seconds", map[string]any{"timeout": int64(30)}, new(WaitArgs), &WaitArgs{Timeout: 30 * time.Second}},
		{"duration string", map[string]any{"timeout": "250ms"}, new(WaitArgs), &WaitArgs{Timeout: 250 * time.Millisecond}},
		{"duration string compound", map[string]any{"timeout": "1m1.5s"}, new(WaitArgs), &WaitArgs{Timeout: 61500 * time.Millisecond}},
		{"time from dateTime", map[string]any{"registered": at}, new(WorkerInfo), &WorkerInfo{Registered: at}},
		{"time from RFC 3339 with offset", map[string]any{"registered": "2026-11-23T09:43:45+01:00"}, new(WorkerInfo), &WorkerInfo{Registered: at}},
		{"time from RFC 3339 nanos", map[string]any{"registered": "2026-11-23T08:43:45.000000001Z"}, new(WorkerInfo), &WorkerInfo{Registered: at.Add(1)}},
		{"empty time string", map[string]any{"registered": ""}, new(WorkerInfo), &WorkerInfo{}},
		{"named string map keys", map[string]any{"counts": map[string]any{"pending": int64(2)}}, new(WaitReply),
			&WaitReply{Counts: map[jobs.State]int{jobs.Pending: 2}}},
		{"embedded fields", map[string]any{"job_id": "j", "attempt": int64(1), "reason": "r"}, new(Rejection),
			&Rejection{JobRef: JobRef{JobID: "j", Attempt: 1}, Reason: "r"}},
		{"float fields take ints", map[string]any{"f64": int64(2), "f32": int64(3)}, new(wireTestSmall), &wireTestSmall{F64: 2, F32: 3}},
		{"uint from string and int", map[string]any{"u64": "18446744073709551615", "u8": int64(255)}, new(wireTestSmall),
			&wireTestSmall{U64: math.MaxUint64, U8: 255}},
		{"bytes from base64 or string", map[string]any{"b": "hi", "ba": []byte{1, 2}}, new(wireTestSmall),
			&wireTestSmall{B: []byte("hi"), BA: [2]byte{1, 2}}},
		{"empty bytes are nil", map[string]any{"b": []byte{}}, new(wireTestSmall), &wireTestSmall{}},
		{"pointer and interface", map[string]any{"p": int64(5), "e": []any{"x"}}, new(wireTestSmall),
			&wireTestSmall{P: &n5, E: []any{"x"}}},
		{"snake case names", map[string]any{"t": "2026-11-23T08:43:45Z", "d": 2.0}, new(wireTestSmall),
			&wireTestSmall{T: at, D: 2 * time.Second}},
		{"hidden embedded field", map[string]any{"a": int64(1), "b": "outer", "worker_ids": []any{"w"}}, new(wireTestOuter),
			&wireTestOuter{wireTestInner: wireTestInner{A: 1}, B: "outer", WorkerIDs: []string{"w"}}},
		{"embedded pointer allocated", map[string]any{"text": "t", "n": int64(2)}, new(wireTestEmbedPtr),
			&wireTestEmbedPtr{Event: &jobs.Event{Text: "t"}, N: 2}},
		{"int takes int", map[string]any{"slots": 4}, new(RegisterArgs), &RegisterArgs{Slots: 4}},
		{"empty struct is no then", map[string]any{"type": "a", "then": map[string]any{}}, new(jobs.Spec), &jobs.Spec{Type: "a"}},
		{"then", map[string]any{"type": "a", "then": map[string]any{"type": "b"}}, new(jobs.Spec),
			&jobs.Spec{Type: "a", Then: &jobs.Spec{Type: "b"}}},
		{"nil root", nil, new(RegisterArgs), &RegisterArgs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := wireToGo(tt.tree, tt.dst, "params[0]"); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tt.dst, tt.want) {
				t.Errorf("got  %+v\nwant %+v", tt.dst, tt.want)
			}
		})
	}
	// The destination is reset first.
	dst := &RegisterArgs{Name: "old", Slots: 9, Types: []string{"x"}}
	if err := wireToGo(map[string]any{"name": "new"}, dst, ""); err != nil || !reflect.DeepEqual(dst, &RegisterArgs{Name: "new"}) {
		t.Errorf("reuse: %+v %v", dst, err)
	}
}

func TestWireDurationPrecision(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 999, time.Microsecond + 1, 1500 * time.Millisecond, 123456789123,
		49 * 24 * time.Hour, 49*24*time.Hour + 999999999} {
		tree, err := wireFromGo(d)
		if err != nil {
			t.Fatal(err)
		}
		var got time.Duration
		if err := wireToGo(tree, &got, ""); err != nil || got != d {
			t.Errorf("%d ns: came back as %d ns (%v)", d, got, err)
		}
	}
}

func TestWireToGoPythonCorpus(t *testing.T) {
	corpus := wirePythonCorpus(t)
	tests := []struct {
		file string
		dst  any
		want any
	}{
		{"submit", new(SubmitArgs), &SubmitArgs{Specs: []jobs.Spec{
			{Type: "shell", Args: map[string]string{"cmd": "echo hi", "url": "http://example.com/?a=1&b=2"},
				Priority: 5, Retries: 2, Timeout: 1500 * time.Millisecond, Group: "g1", Key: "k1"},
			{Type: "noop"},
			{Type: "sleep", Timeout: 250 * time.Millisecond},
		}}},
		{"register", new(RegisterArgs), &RegisterArgs{Name: "py-1", Addr: "http://127.0.0.1:9000/RPC2", Types: []string{"shell", "py"},
			Slots: 4, Transport: TransportXMLRPC, Mode: ModePull, Running: []JobRef{{JobID: "j1", Attempt: 2}}}},
		{"complete", new(CompleteArgs), &CompleteArgs{WorkerID: "w-7", Reports: []Report{
			{JobID: "j1", Attempt: 1, Outcome: jobs.OK, Output: "done\n", Data: `{"n": 1}`},
			{JobID: "j2", Attempt: 3, Outcome: jobs.Error, ExitCode: 2, Error: "exit status 2", Permanent: true},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, params, err := xmlrpc.DecodeCall(bytes.NewReader(corpus[tt.file]), xmlrpc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if err := wireToGo(params[0], tt.dst, "params[0]"); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tt.dst, tt.want) {
				t.Errorf("got  %+v\nwant %+v", tt.dst, tt.want)
			}
		})
	}
}

// wireFuzzTargets returns new destinations for FuzzWireToGo.
func wireFuzzTargets() []any {
	return []any{new(SubmitArgs), new(RegisterArgs), new(CompleteArgs)}
}

func FuzzWireToGo(f *testing.F) {
	for _, s := range wireFuzzSeeds(f) {
		f.Add(s)
	}
	for _, v := range wireFuzzTargets() {
		n := 0
		wireFill(f, reflect.ValueOf(v).Elem(), &n)
		tree, err := wireFromGo(v)
		if err != nil {
			f.Fatal(err)
		}
		var b bytes.Buffer
		if err := xmlrpc.EncodeCall(&b, "m", tree); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, params, err := xmlrpc.DecodeCall(bytes.NewReader(data), xmlrpc.Limits{MaxDepth: 8, MaxValues: 10_000})
		if err != nil {
			return
		}
		trees := append(slices.Clone(params), map[string]any{"params": params})
		for _, tree := range trees {
			for _, dst := range wireFuzzTargets() {
				err := wireToGo(tree, dst, "params[0]")
				if err != nil {
					if !errors.Is(err, errWireInvalid) {
						t.Fatalf("wireToGo into %T: error %v does not wrap errWireInvalid", dst, err)
					}
					continue
				}
				// What was accepted maps back, and maps again to the same.
				back, err := wireFromGo(dst)
				if err != nil {
					t.Fatalf("wireFromGo(%+v): %v", dst, err)
				}
				again := reflect.New(reflect.TypeOf(dst).Elem()).Interface()
				if err := wireToGo(back, again, ""); err != nil {
					t.Fatalf("wireToGo of wireFromGo(%+v): %v", dst, err)
				}
				if !reflect.DeepEqual(again, dst) {
					t.Fatalf("round trip\n got %+v\nwant %+v", again, dst)
				}
			}
		}
	})
}

// BenchmarkWireToGo maps the decoded trees of the calls the master reads
// most onto their args.
func BenchmarkWireToGo(b *testing.B) {
	cases := []struct {
		name string
		body []byte
		dst  func() any
	}{
		{"submit1000", wireBenchSubmitBody(b, 1000), func() any { return new(SubmitArgs) }},
		{"complete250", wireBenchCompleteBody(b, 250), func() any { return new(CompleteArgs) }},
	}
	for _, c := range cases {
		_, params, err := xmlrpc.DecodeCall(bytes.NewReader(c.body), xmlrpc.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := wireToGo(params[0], c.dst(), "params[0]"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// wirePythonCorpus returns the requests Python's xmlrpc.client sends, as
// internal/xmlrpc keeps them, by base name.
func wirePythonCorpus(tb testing.TB) map[string][]byte {
	tb.Helper()
	return xmlrpctest.Corpus(tb, filepath.Join("..", "internal", "xmlrpc", xmlrpctest.PythonDir))
}

// wireFuzzSeeds returns the seed documents of FuzzWireToGo: the Python
// corpus, and calls as a Go client sends them.
func wireFuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	corpus := wirePythonCorpus(tb)
	for _, name := range slices.Sorted(maps.Keys(corpus)) {
		seeds = append(seeds, corpus[name])
	}
	return append(seeds, wireBenchSubmitBody(tb, 3), wireBenchCompleteBody(tb, 3))
}

// wireBenchBody returns the request body kolo/xmlrpc writes for the
// contract call method with args, as drover's Go clients used to send it.
func wireBenchBody(tb testing.TB, method string, args any) []byte {
	tb.Helper()
	tree, err := wireFromGo(args)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := kolo.EncodeMethodCall(xmlNames[method], tree)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// wireBenchSubmitBody returns a submit_jobs call of n specs, as the bench
// client sends them.
func wireBenchSubmitBody(tb testing.TB, n int) []byte {
	specs := make([]jobs.Spec, n)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "bench.noop"}
	}
	return wireBenchBody(tb, MasterSubmit, &SubmitArgs{Specs: specs})
}

// wireBenchCompleteBody returns a task_complete call of n reports, as a
// worker sends them for no-op jobs.
func wireBenchCompleteBody(tb testing.TB, n int) []byte {
	reports := make([]Report, n)
	for i := range reports {
		reports[i] = Report{JobID: strconv.Itoa(100_000 + i), Attempt: 1, Outcome: jobs.OK}
	}
	return wireBenchBody(tb, MasterComplete, &CompleteArgs{WorkerID: "w-1", Reports: reports})
}
