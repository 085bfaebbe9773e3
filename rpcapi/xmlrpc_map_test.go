package rpcapi

import (
	"bytes"
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

	"github.com/drover/drover/internal/xmlrpc"
	"github.com/drover/drover/jobs"
)

// wireAllTypes holds a pointer to a zero value of every wire type: all the
// structs of wireFiles and the jobs types they carry.
var wireAllTypes = []any{
	&JobRef{}, &RegisterArgs{}, &RegisterReply{}, &HeartbeatArgs{}, &HeartbeatReply{},
	&ScheduleInfo{}, &ListSchedulesReply{}, &ScheduleArgs{},
	&Report{}, &CompleteArgs{}, &CompleteReply{}, &LogoutArgs{}, &Empty{},
	&SubmitArgs{}, &SubmitReply{}, &FollowUp{}, &GetJobArgs{}, &JobInfo{}, &ListJobsArgs{},
	&ListJobsReply{}, &WorkerInfo{}, &ListWorkersArgs{}, &ListWorkersReply{}, &StatusReply{}, &CancelArgs{},
	&CancelReply{}, &PurgeArgs{}, &PurgeReply{}, &WaitArgs{}, &WaitReply{}, &FetchArgs{}, &FetchReply{},
	&Task{}, &AssignArgs{}, &AssignReply{}, &Rejection{}, &WorkerCancelArgs{},
	&PingReply{}, &WorkerJob{}, &GroupInfo{}, &GroupOnDone{}, &GetGroupArgs{}, &ListGroupsArgs{}, &ListGroupsReply{}, &BuildInfo{},
	&ListQueuesArgs{}, &ListQueuesReply{}, &QueueView{}, &WaitCount{}, &Attention{},
	&jobs.Spec{}, &jobs.Job{}, &jobs.Attempt{}, &jobs.Event{}, &jobs.Result{},
}

// wireFiles are the files that declare the wire types.
var wireFiles = []string{"types.go", "workerwire.go", "tasks.go"}

// TestWireAllTypesListed makes sure wireAllTypes covers every struct type
// declared in wireFiles, so a new wire type gets a round-trip test.
func TestWireAllTypesListed(t *testing.T) {
	listed := map[string]bool{}
	for _, v := range wireAllTypes {
		listed[reflect.TypeOf(v).Elem().Name()] = true
	}
	for _, name := range wireFiles {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkListed(t, name, f, listed)
	}
}

// checkListed fails the test for each struct type of f, the file name,
// that listed lacks.
func checkListed(t *testing.T, name string, f *ast.File, listed map[string]bool) {
	t.Helper()
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.TYPE {
			continue
		}
		for _, s := range g.Specs {
			ts := s.(*ast.TypeSpec)
			if _, ok := ts.Type.(*ast.StructType); ok && !listed[ts.Name.Name] {
				t.Errorf("type %s of %s is missing from wireAllTypes", ts.Name.Name, name)
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
			wireCheckTree(t, v, xmlrpc.FieldPath(path, k))
		}
	case []any:
		if x == nil {
			t.Errorf("%s: nil slice in the tree", path)
		}
		for i, v := range x {
			wireCheckTree(t, v, xmlrpc.IndexPath(path, i))
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
			if err := xmlrpc.EncodeCall(&b, "m", tree); err != nil {
				t.Fatal(err)
			}
			_, params, err := xmlrpc.DecodeCall(&b, xmlrpc.Limits{})
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
		{"durations as seconds, nil slices empty", &RegisterReply{WorkerID: "w", Secret: "5e", HeartbeatInterval: 1500 * time.Millisecond},
			map[string]any{"worker_id": "w", "secret": "5e", "heartbeat_interval": 1.5, "dead_after": 0.0, "max_result_bytes": int64(0), "cancel": []any{}}},
		{"omitempty: a term is there only when set", &HeartbeatReply{Status: "ok", Term: 5},
			map[string]any{"status": "ok", "cancel": []any{}, "term": int64(5)}},
		{"omitempty: no term from a single master", &HeartbeatReply{Status: "ok"},
			map[string]any{"status": "ok", "cancel": []any{}}},
		{"zero times omitted", WorkerInfo{ID: "w", Registered: when},
			map[string]any{"id": "w", "name": "", "addr": "", "state": "", "slots": int64(0), "running": int64(0),
				"types": []any{}, "tags": []any{}, "registered": "2026-11-23T08:43:45.123456789Z", "jobs": []any{}}},
		{"named string keys and nil slice", wireTestCounts{Counts: map[jobs.State]int{jobs.Pending: 3}},
			map[string]any{"counts": map[string]any{"pending": int64(3)}, "workers": []any{}}},
		{"nil map empty", WaitReply{Done: true},
			map[string]any{"done": true, "counts": map[string]any{}, "failed": []any{}, "failed_more": int64(0),
				"then": "", "then_state": "", "then_error": ""}},
		{"skipped field and named string", jobs.Job{ID: "j", Seq: 99, State: jobs.Running},
			map[string]any{"id": "j", "spec": map[string]any{"type": "", "args": map[string]any{}, "priority": int64(0),
				"retries": int64(0), "timeout": 0.0, "group": "", "key": "", "tags": []any{}, "limit_key": "",
				"unique_key": "", "unique_for": 0.0, "delay": 0.0, "input": "", "name": "", "schedule": "",
				"overlap": "", "timezone": "", "catch_up": "", "broadcast": false, "then": map[string]any{}},
				"state": "running", "attempt": int64(0), "worker": "", "attempts": []any{}, "events": []any{},
				"children": []any{}, "parent": "", "pin": "", "submitter": ""}},
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
		{"nil struct pointer an empty struct", GroupInfo{Name: "g"},
			map[string]any{"name": "g", "total": int64(0), "counts": map[string]any{}, "done": int64(0), "final": false,
				"progress": 0.0, "unsuccessful": []any{}, "on_done": map[string]any{}}},
		{"set struct pointer", jobs.Spec{Type: "a", Then: &jobs.Spec{Type: "b"}}, wireTestSpecTree("a", wireTestSpecTree("b", map[string]any{}))},
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

// wireTestCounts has a map with named string keys, as StatusReply.
type wireTestCounts struct {
	Counts  map[jobs.State]int `xmlrpc:"counts"`
	Workers []string           `xmlrpc:"workers"`
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

// wireTestSpecTree is the tree of a spec of type typ whose other fields
// are zero, with then as its then.
func wireTestSpecTree(typ string, then map[string]any) map[string]any {
	return map[string]any{"type": typ, "args": map[string]any{}, "priority": int64(0),
		"retries": int64(0), "timeout": 0.0, "group": "", "key": "", "tags": []any{}, "limit_key": "",
		"unique_key": "", "unique_for": 0.0, "delay": 0.0, "input": "", "name": "", "schedule": "",
		"overlap": "", "timezone": "", "catch_up": "", "broadcast": false, "then": then}
}
