package rpcapi

// This file and xmlrpc_unmap.go map Go values (the wire types of types.go
// and jobs) to and from the trees of internal/xmlrpc. The mapping works by
// reflection on any Go type, but its rules are drover's wire contract
// (docs/protocol.md), so it lives here, beside the types.
//
// Decisions:
//
//   - A struct is a map keyed by each exported field's wire name: its
//     `xmlrpc` tag name, or its name in snake_case without one (WorkerID ->
//     worker_id, IDs -> ids); `xmlrpc:"-"` fields are skipped. Anonymous
//     struct fields without a tag name are flattened into the parent, a
//     shallower field hiding a deeper one of the same name; two fields of
//     one name at the same depth are an error.
//   - time.Duration travels as float64 seconds; wireToGo also takes int
//     seconds and duration strings ("1.5s", "250ms"). Negative, NaN and
//     infinite durations are refused. A duration read back from float
//     seconds is exact to the nanosecond below about 50 days.
//   - time.Time travels as an RFC 3339 string with nanoseconds, in UTC; a
//     zero time field is left out of its struct (and is "" where it cannot
//     be left out: in a slice or as a map value). wireToGo also takes a
//     dateTime. Times come back in UTC, and must lie in the years 0000 to
//     9999 in UTC.
//   - Unsigned ints travel as decimal strings, since a uint64 may not fit
//     in an int64; wireToGo also takes non-negative ints for them.
//   - wireFromGo never puts nil in the tree (Go clients built on
//     kolo/xmlrpc, as drover's own were, cannot read <nil/>): nil slices
//     and maps become empty ones, a nil pointer to a struct in a struct
//     field becomes an empty struct (a spec's then when it has none), so a
//     reply has every member; other nil pointers and interfaces are left
//     out of structs and maps, and are an error in a slice or at the top.
//     wireFromGoCompact leaves the nil pointer out instead.
//   - A field tagged omitempty (`xmlrpc:"term,omitempty"`) is left out of
//     its struct when it holds its zero value, in replies too.
//   - wireToGo is strict: a member that matches no field is an error, an
//     ID field (string) takes no int, an int field takes no double or
//     string. It is friendly to Python where that costs nothing: nil (None)
//     leaves the zero value, float fields take ints, []byte takes a string.
//   - wireToGo decodes an empty array, struct or base64 into a nil slice or
//     map, as gob does, and an empty struct into a nil pointer to a
//     struct, so zero values survive a round trip.

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/drover/drover/internal/xmlrpc"
)

// errWireInvalid is wrapped by every wireToGo error caused by the tree
// (a wrong type, an unknown member, a value out of range): the caller's
// request was bad. Errors caused by the Go destination type do not wrap it.
var errWireInvalid = errors.New("xmlrpc: invalid params")

// wireError is a wireToGo error about the value at path.
type wireError struct {
	path string
	msg  string
}

// Error formats the error as "xmlrpc: PATH: MSG".
func (e *wireError) Error() string {
	if e.path == "" {
		return "xmlrpc: " + e.msg
	}
	return "xmlrpc: " + e.path + ": " + e.msg
}

// Unwrap returns errWireInvalid.
func (e *wireError) Unwrap() error { return errWireInvalid }

// wireMaxDepth bounds the nesting wireFromGo follows, so that a cyclic Go
// value is an error instead of a stack overflow.
const wireMaxDepth = 1000

var (
	wireDurationType = reflect.TypeFor[time.Duration]()
	wireTimeType     = reflect.TypeFor[time.Time]()
)

// wireField is one field of a struct as it travels.
type wireField struct {
	name  string
	index []int // as for reflect.Value.FieldByIndex, through embedded structs
	depth int   // embedding depth: 0 for the struct's own fields
	typ   reflect.Type
	order int // the field's place in wireStruct.sorted
	// omitEmpty (tag option omitempty) leaves the field out of its struct
	// whenever it holds its zero value, replies included: a member added
	// to the protocol that a peer of the release before, whose wireToGo
	// is strict, then never sees unless it is used.
	omitEmpty bool
}

// wireStruct is the wire layout of a struct type.
type wireStruct struct {
	fields []*wireField // in declaration order
	sorted []*wireField // in name order
	byName map[string]*wireField
}

// wireStructEntry is a cached wireStructOf result.
type wireStructEntry struct {
	s   *wireStruct
	err error
}

// wireStructCache maps a reflect.Type to its wireStructEntry.
var wireStructCache sync.Map

// wireStructOf returns the wire layout of the struct type t.
func wireStructOf(t reflect.Type) (*wireStruct, error) {
	if e, ok := wireStructCache.Load(t); ok {
		e := e.(wireStructEntry)
		return e.s, e.err
	}
	var all []*wireField
	wireCollectFields(t, nil, 0, map[reflect.Type]bool{}, &all)
	s := &wireStruct{byName: map[string]*wireField{}}
	var err error
	for _, f := range all {
		prev, ok := s.byName[f.name]
		switch {
		case !ok:
			s.byName[f.name] = f
		case f.depth < prev.depth:
			s.byName[f.name] = f
		case f.depth == prev.depth:
			err = fmt.Errorf("xmlrpc: type %s: two fields have the wire name %q", t, f.name)
		}
	}
	for _, f := range all {
		if s.byName[f.name] == f {
			s.fields = append(s.fields, f)
		}
	}
	s.sorted = slices.SortedFunc(slices.Values(s.fields), func(a, b *wireField) int { return strings.Compare(a.name, b.name) })
	for i, f := range s.sorted {
		f.order = i
	}
	if err != nil {
		s = nil
	}
	wireStructCache.Store(t, wireStructEntry{s, err})
	return s, err
}

// wireCollectFields appends the wire fields of struct type t, whose value
// is at index in the outer struct, flattening anonymous structs.
func wireCollectFields(t reflect.Type, index []int, depth int, visiting map[reflect.Type]bool, out *[]*wireField) {
	visiting[t] = true
	defer delete(visiting, t)
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("xmlrpc")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(slices.Clone(index), i)
		if f.Anonymous && name == "" {
			ft := f.Type
			ptr := ft.Kind() == reflect.Pointer
			if ptr {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != wireTimeType {
				// Through an unexported embedded pointer the fields can be
				// read but not allocated: skip it, as encoding/json does.
				if !(ptr && !f.IsExported()) && !visiting[ft] {
					wireCollectFields(ft, idx, depth+1, visiting, out)
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = wireSnakeCase(f.Name)
		}
		*out = append(*out, &wireField{name: name, index: idx, depth: depth, typ: f.Type,
			omitEmpty: slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
}

// wireSnakeCase turns a Go field name into snake_case: WorkerID ->
// worker_id, HTTPServer -> http_server, and an acronym's plural stays one
// word (IDs -> ids, JobIDs -> job_ids).
func wireSnakeCase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if !unicode.IsUpper(r) {
			b.WriteRune(r)
			continue
		}
		if i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			plural := unicode.IsUpper(prev) && nextLower && rs[i+1] == 's' &&
				(i+2 == len(rs) || unicode.IsUpper(rs[i+2]))
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower && !plural) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// wireFromGo maps the Go value v to a tree for xmlrpc.EncodeResponse or
// xmlrpc.EncodeCall, following the rules at the top of this file. The tree
// never holds nil. Errors name the offending value by path.
func wireFromGo(v any) (any, error) { return wireFrom(v, false) }

// wireFromGoCompact is wireFromGo leaving out struct fields that hold their
// zero value, which the other side reads back as zero: what a Go client
// sends (a spec has twenty fields and uses few). Replies keep every field,
// for peers that look keys up without a default.
func wireFromGoCompact(v any) (any, error) { return wireFrom(v, true) }

func wireFrom(v any, omitZero bool) (any, error) {
	if v == nil {
		return nil, errors.New("xmlrpc: cannot map nil to XML-RPC")
	}
	out, ok, err := wireFromValue(reflect.ValueOf(v), "", 0, false, omitZero)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("xmlrpc: cannot map a nil pointer to XML-RPC")
	}
	return out, nil
}

// wireFromErr returns a wireFromGo error about the value at path.
func wireFromErr(path, format string, args ...any) error {
	if path == "" {
		return fmt.Errorf("xmlrpc: "+format, args...)
	}
	return fmt.Errorf("xmlrpc: "+path+": "+format, args...)
}

// wireFromValue maps v. It reports ok=false for a value that must be left
// out: a nil pointer or interface, or, if field, a zero time.
func wireFromValue(v reflect.Value, path string, depth int, field, omitZero bool) (out any, ok bool, err error) {
	if depth > wireMaxDepth {
		return nil, false, wireFromErr(path, "nested deeper than %d (a cycle?)", wireMaxDepth)
	}
	t := v.Type()
	switch t {
	case wireDurationType:
		return time.Duration(v.Int()).Seconds(), true, nil
	case wireTimeType:
		return wireFromTime(v.Interface().(time.Time), path, field)
	}
	switch t.Kind() {
	case reflect.Bool:
		return v.Bool(), true, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(v.Uint(), 10), true, nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false, wireFromErr(path, "cannot map %v: XML-RPC doubles are finite", f)
		}
		return f, true, nil
	case reflect.String:
		return v.String(), true, nil
	case reflect.Slice, reflect.Array:
		return wireFromSlice(v, path, depth, omitZero)
	case reflect.Map:
		return wireFromMap(v, path, depth, omitZero)
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, false, nil
		}
		return wireFromValue(v.Elem(), path, depth, field, omitZero)
	case reflect.Struct:
		return wireFromStruct(v, path, depth, omitZero)
	}
	return nil, false, wireFromErr(path, "cannot map a %s to XML-RPC", t)
}

// wireFromTime maps a time to an RFC 3339 string in UTC. A zero time is ""
// and, if field, left out.
func wireFromTime(tm time.Time, path string, field bool) (any, bool, error) {
	if tm.IsZero() {
		return "", !field, nil
	}
	tm = tm.UTC()
	if tm.Year() < 0 || tm.Year() > 9999 {
		return nil, false, wireFromErr(path, "time %s outside the years 0000 to 9999", tm)
	}
	return tm.Format(time.RFC3339Nano), true, nil
}

// wireFromSlice maps a slice or an array: an array of its elements, or
// base64 for bytes.
func wireFromSlice(v reflect.Value, path string, depth int, omitZero bool) (any, bool, error) {
	if v.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, v.Len())
		for i := range b {
			b[i] = byte(v.Index(i).Uint())
		}
		return b, true, nil
	}
	a := make([]any, v.Len())
	for i := range a {
		ipath := xmlrpc.IndexPath(path, i)
		e, ok, err := wireFromValue(v.Index(i), ipath, depth+1, false, omitZero)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return nil, false, wireFromErr(ipath, "cannot map a nil element of a slice")
		}
		a[i] = e
	}
	return a, true, nil
}

// wireFromMap maps a map with string keys to a struct, leaving out nil
// values.
func wireFromMap(v reflect.Value, path string, depth int, omitZero bool) (any, bool, error) {
	if v.Type().Key().Kind() != reflect.String {
		return nil, false, wireFromErr(path, "cannot map %s: map keys must be strings", v.Type())
	}
	m := make(map[string]any, v.Len())
	for it := v.MapRange(); it.Next(); {
		k := it.Key().String()
		e, ok, err := wireFromValue(it.Value(), xmlrpc.FieldPath(path, k), depth+1, false, omitZero)
		if err != nil {
			return nil, false, err
		}
		if ok {
			m[k] = e
		}
	}
	return m, true, nil
}

// wireFromStruct maps a struct to a struct of its wire fields.
func wireFromStruct(v reflect.Value, path string, depth int, omitZero bool) (any, bool, error) {
	s, err := wireStructOf(v.Type())
	if err != nil {
		return nil, false, err
	}
	m := make(map[string]any, len(s.fields))
	for _, f := range s.fields {
		fv, ok := wireFieldGet(v, f.index)
		if !ok || ((omitZero || f.omitEmpty) && fv.IsZero()) {
			continue // under a nil embedded pointer, or zero and left out
		}
		e, ok, err := wireFromValue(fv, xmlrpc.FieldPath(path, f.name), depth+1, true, omitZero)
		if err != nil {
			return nil, false, err
		}
		if ok {
			m[f.name] = e
		} else if wireNilStruct(fv) {
			m[f.name] = map[string]any{}
		}
	}
	return m, true, nil
}

// wireNilStruct reports whether v is a nil pointer to a struct other than
// time.Time: a struct member with no value, which a reply carries as an
// empty struct and wireToGo reads back as nil.
func wireNilStruct(v reflect.Value) bool {
	return v.Kind() == reflect.Pointer && v.IsNil() && v.Type().Elem().Kind() == reflect.Struct &&
		v.Type().Elem() != wireTimeType
}

// wireFieldGet returns the field at index in the struct v, or false if it
// lies under a nil embedded pointer.
func wireFieldGet(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}
