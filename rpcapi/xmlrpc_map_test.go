package rpcapi

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
)

// wireAllTypes holds a pointer to a zero value of every wire type: all the
// structs of types.go and the jobs types they carry.
var wireAllTypes = []any{
	&JobRef{}, &RegisterArgs{}, &RegisterReply{}, &HeartbeatArgs{}, &HeartbeatReply{},
	&ScheduleInfo{}, &ListSchedulesReply{}, &ScheduleArgs{},
	&Report{}, &CompleteArgs{}, &CompleteReply{}, &LogoutArgs{}, &Empty{},
	&SubmitArgs{}, &SubmitReply{}, &GetJobArgs{}, &JobInfo{}, &ListJobsArgs{},
	&ListJobsReply{}, &WorkerInfo{}, &ListWorkersArgs{}, &ListWorkersReply{}, &StatusReply{}, &CancelArgs{},
	&CancelReply{}, &PurgeArgs{}, &PurgeReply{}, &WaitArgs{}, &WaitReply{}, &FetchArgs{}, &FetchReply{},
	&Task{}, &AssignArgs{}, &AssignReply{}, &Rejection{}, &WorkerCancelArgs{},
	&PingReply{},
	&jobs.Spec{}, &jobs.Job{}, &jobs.Attempt{}, &jobs.Event{}, &jobs.Result{},
}

// TestWireAllTypesListed makes sure wireAllTypes covers every struct type
// declared in types.go, so a new wire type gets a round-trip test.
func TestWireAllTypesListed(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "types.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, v := range wireAllTypes {
		listed[reflect.TypeOf(v).Elem().Name()] = true
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.TYPE {
			continue
		}
		for _, s := range g.Specs {
			ts := s.(*ast.TypeSpec)
			if _, ok := ts.Type.(*ast.StructType); ok && !listed[ts.Name.Name] {
				t.Errorf("type %s of types.go is missing from wireAllTypes", ts.Name.Name)
			}
		}
	}
}

// wireFill sets every field reachable from v to a non-zero value, except
// fields tagged xmlrpc:"-". n numbers the values so they differ.
// wireFilling marks the pointer types wireFill is inside of.
var wireFilling = map[reflect.Type]bool{}

func wireFill(tb testing.TB, v reflect.Value, n *int) {
	*n++
	k := *n
	switch v.Type() {
	case wireDurationType:
		v.SetInt(int64(time.Duration(k)*time.Millisecond + 7))
		return
	case wireTimeType:
		v.Set(reflect.ValueOf(time.Date(2026, 1, k%28+1, 10, 20, 30, 123456789+k, time.FixedZone("CET", 3600))))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(k))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(k))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(k) + 0.5)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d <&> é", k))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			wireFill(tb, s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 2 {
			key := reflect.ValueOf(fmt.Sprintf("k%d_%d", k, i)).Convert(v.Type().Key())
			e := reflect.New(v.Type().Elem()).Elem()
			wireFill(tb, e, n)
			m.SetMapIndex(key, e)
		}
		v.Set(m)
	case reflect.Pointer:
		// A recursive type (Spec.Then is a *Spec) is filled one level deep.
		if wireFilling[v.Type()] {
			return
		}
		wireFilling[v.Type()] = true
		defer delete(wireFilling, v.Type())
		v.Set(reflect.New(v.Type().Elem()))
		wireFill(tb, v.Elem(), n)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Tag.Get("xmlrpc") == "-" || !f.IsExported() {
				continue
			}
			wireFill(tb, v.Field(i), n)
		}
	default:
		tb.Fatalf("wireFill: cannot fill a %s", v.Type())
	}
}

// wireNormalizeTimes sets every time reachable from v to UTC, as they come
// back from the wire.
func wireNormalizeTimes(v reflect.Value) {
	if v.Type() == wireTimeType {
		v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
		return
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			wireNormalizeTimes(v.Index(i))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			wireNormalizeTimes(e)
			v.SetMapIndex(it.Key(), e)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			wireNormalizeTimes(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				wireNormalizeTimes(v.Field(i))
			}
		}
	}
}

// wireCheckTree fails if tree holds nil or a type outside the tree types.
func wireCheckTree(t *testing.T, tree any, path string) {
	t.Helper()
	switch x := tree.(type) {
	case nil:
		t.Errorf("%s: nil in the tree", path)
	case map[string]any:
		if x == nil {
			t.Errorf("%s: nil map in the tree", path)
		}
		for k, v := range x {
			wireCheckTree(t, v, wirePathField(path, k))
		}
	case []any:
		if x == nil {
			t.Errorf("%s: nil slice in the tree", path)
		}
		for i, v := range x {
			wireCheckTree(t, v, wirePathIndex(path, i))
		}
	case []byte:
		if x == nil {
			t.Errorf("%s: nil bytes in the tree", path)
		}
	case int64, bool, string, float64:
	default:
		t.Errorf("%s: %T in the tree", path, tree)
	}
}

func TestWireRoundTripAllTypes(t *testing.T) {
	for _, proto := range wireAllTypes {
		typ := reflect.TypeOf(proto).Elem()
		t.Run(typ.Name(), func(t *testing.T) {
			orig := reflect.New(typ)
			n := 0
			wireFill(t, orig.Elem(), &n)
			tree, err := wireFromGo(orig.Interface())
			if err != nil {
				t.Fatal(err)
			}
			wireCheckTree(t, tree, "")
			// Through the XML layer too.
			var b bytes.Buffer
			if err := xmlEncodeCall(&b, "m", tree); err != nil {
				t.Fatal(err)
			}
			_, params, err := xmlDecodeCall(&b, xmlLimits{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(params[0], tree) {
				t.Errorf("XML round trip changed the tree:\n%#v\n%#v", tree, params[0])
			}
			got := reflect.New(typ)
			if err := wireToGo(params[0], got.Interface(), "params[0]"); err != nil {
				t.Fatal(err)
			}
			wireNormalizeTimes(orig.Elem())
			if !reflect.DeepEqual(got.Interface(), orig.Interface()) {
				t.Errorf("round trip\n got %+v\nwant %+v", got.Elem(), orig.Elem())
			}
			// Zero values survive too: empty slices and maps come back nil,
			// zero times are left out and come back zero.
			zero := reflect.New(typ)
			ztree, err := wireFromGo(zero.Interface())
			if err != nil {
				t.Fatal(err)
			}
			wireCheckTree(t, ztree, "")
			got = reflect.New(typ)
			if err := wireToGo(ztree, got.Interface(), ""); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Interface(), zero.Interface()) {
				t.Errorf("zero round trip\n got %+v\nwant %+v", got.Elem(), zero.Elem())
			}
		})
	}
}

func TestWireFromGo(t *testing.T) {
	when := time.Date(2026, 11, 23, 9, 43, 45, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		v    any
		want any
	}{
		{"embedded struct flattened", Rejection{JobRef: JobRef{JobID: "j1", Attempt: 2}, Reason: "full"},
			map[string]any{"job_id": "j1", "attempt": int64(2), "reason": "full"}},
		{"durations as seconds, nil slices empty", &RegisterReply{WorkerID: "w", HeartbeatInterval: 1500 * time.Millisecond},
			map[string]any{"worker_id": "w", "heartbeat_interval": 1.5, "dead_after": 0.0, "cancel": []any{}}},
		{"zero times omitted", WorkerInfo{ID: "w", Registered: when},
			map[string]any{"id": "w", "name": "", "addr": "", "state": "", "slots": int64(0), "running": int64(0),
				"types": []any{}, "tags": []any{}, "registered": "2026-11-23T08:43:45.123456789Z", "jobs": []any{}}},
		{"named string keys and nil map", StatusReply{Counts: map[jobs.State]int{jobs.Pending: 3}},
			map[string]any{"counts": map[string]any{"pending": int64(3)}, "workers": []any{}, "dropped": int64(0), "reaped": int64(0)}},
		{"nil map empty", WaitReply{Done: true},
			map[string]any{"done": true, "counts": map[string]any{}, "failed": []any{}, "failed_more": int64(0)}},
		{"skipped field and named string", jobs.Job{ID: "j", Seq: 99, State: jobs.Running},
			map[string]any{"id": "j", "spec": map[string]any{"type": "", "args": map[string]any{}, "priority": int64(0),
				"retries": int64(0), "timeout": 0.0, "group": "", "key": "", "tags": []any{}, "limit_key": "",
				"unique_key": "", "unique_for": 0.0, "delay": 0.0, "input": "", "name": "", "schedule": "",
				"overlap": "", "timezone": "", "catch_up": "", "broadcast": false},
				"state": "running", "attempt": int64(0), "worker": "", "attempts": []any{}, "events": []any{},
				"children": []any{}, "parent": "", "pin": ""}},
		{"time alone", when, "2026-11-23T08:43:45.123456789Z"},
		{"zero time alone", time.Time{}, ""},
		{"times in a slice", []time.Time{{}, when}, []any{"", "2026-11-23T08:43:45.123456789Z"}},
		{"bytes", []byte{1, 2}, []byte{1, 2}},
		{"nil bytes", []byte(nil), []byte{}},
		{"byte array", [2]byte{1, 2}, []byte{1, 2}},
		{"int array", [2]int{1, 2}, []any{int64(1), int64(2)}},
		{"uint as string", uint64(math.MaxUint64), "18446744073709551615"},
		{"float32", float32(1.5), 1.5},
		{"pointer", new(int), int64(0)},
		{"interface in map", map[string]any{"a": 1, "b": nil, "c": (*int)(nil)}, map[string]any{"a": int64(1)}},
		{"local struct", wireTestOuter{wireTestInner: wireTestInner{A: 1, B: "inner b"}, B: "outer b", C: 7, WorkerIDs: []string{"x"}},
			map[string]any{"a": int64(1), "b": "outer b", "c": "7", "worker_ids": []any{"x"}, "g": []byte{}, "h": map[string]any{},
				"i": 0.0, "j": int64(0), "f": []any{int64(0), int64(0)}}},
		{"embedded pointer", wireTestEmbedPtr{Event: &jobs.Event{At: when, Text: "t"}, N: 1},
			map[string]any{"at": "2026-11-23T08:43:45.123456789Z", "text": "t", "n": int64(1)}},
		{"nil embedded pointer", wireTestEmbedPtr{N: 1}, map[string]any{"n": int64(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wireFromGo(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
			wireCheckTree(t, got, "")
		})
	}
}

// wireTestInner is embedded in wireTestOuter.
type wireTestInner struct {
	A int
	B string `xmlrpc:"b"` // hidden by wireTestOuter.B
}

// wireTestOuter exercises the mapping rules on a local type.
type wireTestOuter struct {
	wireTestInner
	B         string `xmlrpc:"b,omitempty"`
	C         uint64
	D         *int
	E         any
	F         [2]int
	G         []byte
	H         map[string]*int
	I         float32
	J         int8
	WorkerIDs []string
	hidden    int
	Skip      string `xmlrpc:"-"`
}

// wireTestEmbedPtr embeds an exported struct by pointer.
type wireTestEmbedPtr struct {
	*jobs.Event
	N int `xmlrpc:"n"`
}

// wireTestClash has two fields with one wire name.
type wireTestClash struct {
	A int `xmlrpc:"x"`
	B int `xmlrpc:"x"`
}

func TestWireFromGoErrors(t *testing.T) {
	tests := []struct {
		name string
		v    any
		msg  string
	}{
		{"nil", nil, "cannot map nil"},
		{"nil pointer", (*RegisterArgs)(nil), "nil pointer"},
		{"NaN", map[string]float64{"a": math.NaN()}, "xmlrpc: a: cannot map NaN"},
		{"Inf field", wireTestOuter{I: float32(math.Inf(-1))}, "xmlrpc: i: cannot map -Inf"},
		{"int map keys", map[int]string{1: "a"}, "map keys must be strings"},
		{"chan", map[string]any{"c": make(chan int)}, "xmlrpc: c: cannot map a chan int"},
		{"nil in slice", []*int{nil}, "xmlrpc: [0]: cannot map a nil element"},
		{"nil interface in slice", []any{1, nil}, "xmlrpc: [1]: cannot map a nil element"},
		{"year 10000", WorkerInfo{Died: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "xmlrpc: died: time"},
		{"wire name clash", wireTestClash{}, `two fields have the wire name "x"`},
		{"deep path", ListWorkersReply{Workers: []WorkerInfo{{}, {Registered: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}}},
			"xmlrpc: workers[1].registered: time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wireFromGo(tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %#v, %v; want an error containing %q", got, err, tt.msg)
			}
		})
	}
}

func TestWireSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"Name": "name", "WorkerID": "worker_id", "IDs": "ids", "JobIDs": "job_ids", "HTTPServer": "http_server",
		"FreeSlots": "free_slots", "A": "a", "URLsSeen": "urls_seen", "V2Beta": "v2_beta", "Os": "os", "ID": "id",
		"LastHeartbeat": "last_heartbeat", "already_snake": "already_snake",
	} {
		if got := wireSnakeCase(in); got != want {
			t.Errorf("wireSnakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

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

func TestWireToGoErrors(t *testing.T) {
	spec := func(kv ...any) map[string]any {
		m := map[string]any{"type": "shell"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	submit := func(third map[string]any) map[string]any {
		return map[string]any{"specs": []any{spec(), spec(), third}}
	}
	tests := []struct {
		name string
		tree any
		dst  func() any
		msg  string // the whole message
	}{
		{"int field takes no string", submit(spec("priority", "5")), func() any { return new(SubmitArgs) },
			"xmlrpc: params[0].specs[2].priority: want int, got string"},
		{"int field takes no double", submit(spec("retries", 1.0)), func() any { return new(SubmitArgs) },
			"xmlrpc: params[0].specs[2].retries: want int, got double"},
		{"int field takes no boolean", map[string]any{"slots": true}, func() any { return new(RegisterArgs) },
			"xmlrpc: params[0].slots: want int, got boolean"},
		{"string map value takes no int", submit(spec("args", map[string]any{"url": int64(3)})), func() any { return new(SubmitArgs) },
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
		{"map takes no array", submit(spec("args", []any{})), func() any { return new(SubmitArgs) },
			"xmlrpc: params[0].specs[2].args: want struct, got array"},
		{"map value of named key", map[string]any{"counts": map[string]any{"pending": "3"}}, func() any { return new(WaitReply) },
			"xmlrpc: params[0].counts.pending: want int, got string"},
		{"bool takes no int", map[string]any{"draining": int64(1)}, func() any { return new(HeartbeatArgs) },
			"xmlrpc: params[0].draining: want boolean, got int"},
		{"unknown member", submit(spec("bogus", int64(1))), func() any { return new(SubmitArgs) },
			`xmlrpc: params[0].specs[2]: unknown member "bogus"`},
		{"unknown top member", map[string]any{"name": "x", "nmae": "y"}, func() any { return new(RegisterArgs) },
			`xmlrpc: params[0]: unknown member "nmae"`},
		{"skipped field is unknown", map[string]any{"job": map[string]any{"seq": int64(1)}}, func() any { return new(JobInfo) },
			`xmlrpc: params[0].job: unknown member "seq"`},
		{"Go field name is unknown", map[string]any{"WorkerID": "w"}, func() any { return new(LogoutArgs) },
			`xmlrpc: params[0]: unknown member "WorkerID"`},
		{"odd member name quoted in path", map[string]any{"args": map[string]any{"a b": int64(1)}}, func() any { return new(Task) },
			`xmlrpc: params[0].args["a b"]: want string, got int`},
		{"bad duration string", submit(spec("timeout", "soon")), func() any { return new(SubmitArgs) },
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
	corpus := xmlPythonCorpus(t)
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
			_, params, err := xmlDecodeCall(bytes.NewReader(corpus[tt.file]), xmlLimits{})
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
	for _, s := range xmlFuzzSeeds(f) {
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
		if err := xmlEncodeCall(&b, "m", tree); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, params, err := xmlDecodeCall(bytes.NewReader(data), xmlLimits{MaxDepth: 8, MaxValues: 10_000})
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
		{"submit1000", xmlBenchSubmitBody(b, 1000), func() any { return new(SubmitArgs) }},
		{"complete250", xmlBenchCompleteBody(b, 250), func() any { return new(CompleteArgs) }},
	}
	for _, c := range cases {
		_, params, err := xmlDecodeCall(bytes.NewReader(c.body), xmlLimits{})
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

// TestWireFromGoCompact: a client's request leaves zero fields out, and
// the server reads it back to the same value.
func TestWireFromGoCompact(t *testing.T) {
	args := &SubmitArgs{Specs: []jobs.Spec{{Type: "crawl", Priority: 2, Args: map[string]string{"u": "x"}}, {Type: "noop"}}}
	tree, err := wireFromGoCompact(args)
	if err != nil {
		t.Fatal(err)
	}
	specs := tree.(map[string]any)["specs"].([]any)
	if got := slices.Sorted(maps.Keys(specs[1].(map[string]any))); !slices.Equal(got, []string{"type"}) {
		t.Fatalf("compact spec has members %v, want only type", got)
	}
	if got := slices.Sorted(maps.Keys(specs[0].(map[string]any))); !slices.Equal(got, []string{"args", "priority", "type"}) {
		t.Fatalf("compact spec has members %v", got)
	}
	full, _ := wireFromGo(args)
	if n := len(full.(map[string]any)["specs"].([]any)[1].(map[string]any)); n < 15 {
		t.Fatalf("the full form has %d members, want every field", n)
	}
	var back SubmitArgs
	if err := wireToGo(tree, &back, "params[0]"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, args) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, *args)
	}
}
