package rpcapi

// This file maps Go values (the wire types of types.go and jobs) to and
// from the trees of xmlrpc_codec.go.
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
//   - wireFromGo never puts nil in the tree (Go's kolo/xmlrpc cannot read
//     <nil/>): nil slices and maps become empty ones, nil pointers and
//     interfaces are left out of structs and maps, and are an error in a
//     slice or at the top.
//   - wireToGo is strict: a member that matches no field is an error, an
//     ID field (string) takes no int, an int field takes no double or
//     string. It is friendly to Python where that costs nothing: nil (None)
//     leaves the zero value, float fields take ints, []byte takes a string.
//   - wireToGo decodes an empty array, struct or base64 into a nil slice or
//     map, as gob does, so zero values survive a round trip.

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
	"unicode/utf8"
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
		name, _, _ := strings.Cut(tag, ",")
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
		*out = append(*out, &wireField{name: name, index: idx, depth: depth, typ: f.Type})
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

// wirePathField returns the path of the member name of the value at path.
// Names that are not plain identifiers are quoted: a["x y"].
func wirePathField(path, name string) string {
	plain := name != ""
	for _, r := range name {
		if !(r == '_' || r == '-' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			plain = false
			break
		}
	}
	if !plain {
		return path + "[" + strconv.Quote(name) + "]"
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

// wirePathIndex returns the path of element i of the value at path.
func wirePathIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// wirePath is the path of the value wireToGo is at: the root, then the
// member names and indexes below it. It is kept as a stack while wireToGo
// descends, and formatted only for an error.
type wirePath struct {
	root  string
	steps []wireStep
}

// wireStep is a member name, or an index if index is not -1.
type wireStep struct {
	name  string
	index int
}

// String formats the path as wirePathField and wirePathIndex do.
func (p *wirePath) String() string {
	s := p.root
	for _, st := range p.steps {
		if st.index >= 0 {
			s = wirePathIndex(s, st.index)
		} else {
			s = wirePathField(s, st.name)
		}
	}
	return s
}

// pushIndex extends the path with an index.
func (p *wirePath) pushIndex(i int) {
	p.steps = append(p.steps, wireStep{index: i})
}

// pushMember extends the path with a member name.
func (p *wirePath) pushMember(name string) {
	p.steps = append(p.steps, wireStep{name: name, index: -1})
}

// pop drops the last step of the path.
func (p *wirePath) pop() {
	p.steps = p.steps[:len(p.steps)-1]
}

// wireTypeName names the XML-RPC type of a tree value, for error messages.
func wireTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case bool:
		return "boolean"
	case int, int64:
		return "int"
	case float64:
		return "double"
	case string:
		return "string"
	case []byte:
		return "base64"
	case time.Time:
		return "dateTime"
	case map[string]any:
		return "struct"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// wireFromGo maps the Go value v to a tree for xmlEncodeResponse or
// xmlEncodeCall, following the rules at the top of this file. The tree
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
		tm := v.Interface().(time.Time)
		if tm.IsZero() {
			return "", !field, nil
		}
		tm = tm.UTC()
		if tm.Year() < 0 || tm.Year() > 9999 {
			return nil, false, wireFromErr(path, "time %s outside the years 0000 to 9999", tm)
		}
		return tm.Format(time.RFC3339Nano), true, nil
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
		if t.Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			for i := range b {
				b[i] = byte(v.Index(i).Uint())
			}
			return b, true, nil
		}
		a := make([]any, v.Len())
		for i := range a {
			ipath := wirePathIndex(path, i)
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
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, false, wireFromErr(path, "cannot map %s: map keys must be strings", t)
		}
		m := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			k := it.Key().String()
			e, ok, err := wireFromValue(it.Value(), wirePathField(path, k), depth+1, false, omitZero)
			if err != nil {
				return nil, false, err
			}
			if ok {
				m[k] = e
			}
		}
		return m, true, nil
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, false, nil
		}
		return wireFromValue(v.Elem(), path, depth, field, omitZero)
	case reflect.Struct:
		s, err := wireStructOf(t)
		if err != nil {
			return nil, false, err
		}
		m := make(map[string]any, len(s.fields))
		for _, f := range s.fields {
			fv, ok := wireFieldGet(v, f.index)
			if !ok || (omitZero && fv.IsZero()) {
				continue // under a nil embedded pointer, or zero and left out
			}
			e, ok, err := wireFromValue(fv, wirePathField(path, f.name), depth+1, true, omitZero)
			if err != nil {
				return nil, false, err
			}
			if ok {
				m[f.name] = e
			}
		}
		return m, true, nil
	}
	return nil, false, wireFromErr(path, "cannot map a %s to XML-RPC", t)
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

// wireFieldAlloc returns the field at index in the struct v, allocating
// nil embedded pointers on the way.
func wireFieldAlloc(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// wireToGo maps tree, as xmlDecodeCall produces it, into *dst, following
// the rules at the top of this file. *dst is reset to its zero value
// first; after an error it may be partly filled. path names tree in error
// messages (the caller passes e.g. "params[0]"), giving errors like
// `xmlrpc: params[0].specs[2].priority: want int, got string`. Errors due
// to the tree wrap errWireInvalid; an unsupported destination type is a
// programming error and does not. The work done is bounded by the size of
// the tree.
func wireToGo(tree any, dst any, path string) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("xmlrpc: wireToGo needs a non-nil pointer, got %T", dst)
	}
	v := rv.Elem()
	v.SetZero()
	return wireToValue(tree, v, &wirePath{root: path})
}

// wireMismatch returns the error for a tree value of the wrong type.
func wireMismatch(path *wirePath, want string, got any) error {
	return &wireError{path: path.String(), msg: "want " + want + ", got " + wireTypeName(got)}
}

// wireInvalid returns a wireError at path.
func wireInvalid(path *wirePath, format string, args ...any) error {
	return &wireError{path: path.String(), msg: fmt.Sprintf(format, args...)}
}

// wireToValue stores tree into v, which is settable and holds its zero
// value (or a value being replaced).
func wireToValue(tree any, v reflect.Value, path *wirePath) error {
	if tree == nil {
		v.SetZero()
		return nil
	}
	t := v.Type()
	switch t {
	case wireDurationType:
		d, err := wireDuration(tree, path)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	case wireTimeType:
		tm, err := wireTime(tree, path)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(tm))
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		b, ok := tree.(bool)
		if !ok {
			return wireMismatch(path, "boolean", tree)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := wireInt(tree)
		if !ok {
			return wireMismatch(path, "int", tree)
		}
		if v.OverflowInt(n) {
			return wireInvalid(path, "%d out of range for %s", n, t.Kind())
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var u uint64
		switch x := tree.(type) {
		case string:
			var err error
			if u, err = strconv.ParseUint(x, 10, 64); err != nil {
				return wireInvalid(path, "bad unsigned int %s", xmlQuoteShort(x))
			}
		default:
			n, ok := wireInt(tree)
			if !ok {
				return wireMismatch(path, "unsigned int (decimal string or int)", tree)
			}
			if n < 0 {
				return wireInvalid(path, "%d out of range for %s", n, t.Kind())
			}
			u = uint64(n)
		}
		if v.OverflowUint(u) {
			return wireInvalid(path, "%d out of range for %s", u, t.Kind())
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		switch x := tree.(type) {
		case float64:
			f = x
		default:
			n, ok := wireInt(tree)
			if !ok {
				return wireMismatch(path, "double", tree)
			}
			f = float64(n)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || v.OverflowFloat(f) {
			return wireInvalid(path, "%v out of range for %s", f, t.Kind())
		}
		v.SetFloat(f)
	case reflect.String:
		s, ok := tree.(string)
		if !ok {
			return wireMismatch(path, "string", tree)
		}
		v.SetString(s)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			b, ok := wireBytes(tree)
			if !ok {
				return wireMismatch(path, "base64 or string", tree)
			}
			if len(b) == 0 {
				v.SetZero()
			} else {
				v.SetBytes(b)
			}
			return nil
		}
		a, ok := tree.([]any)
		if !ok {
			return wireMismatch(path, "array", tree)
		}
		if len(a) == 0 {
			v.SetZero()
			return nil
		}
		s := reflect.MakeSlice(t, len(a), len(a))
		for i, e := range a {
			path.pushIndex(i)
			if err := wireToValue(e, s.Index(i), path); err != nil {
				return err
			}
			path.pop()
		}
		v.Set(s)
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			b, ok := wireBytes(tree)
			if !ok {
				return wireMismatch(path, "base64 or string", tree)
			}
			if len(b) != t.Len() {
				return wireInvalid(path, "want %d bytes, got %d", t.Len(), len(b))
			}
			for i, c := range b {
				v.Index(i).SetUint(uint64(c))
			}
			return nil
		}
		a, ok := tree.([]any)
		if !ok {
			return wireMismatch(path, "array", tree)
		}
		if len(a) != t.Len() {
			return wireInvalid(path, "want %d elements, got %d", t.Len(), len(a))
		}
		for i, e := range a {
			path.pushIndex(i)
			if err := wireToValue(e, v.Index(i), path); err != nil {
				return err
			}
			path.pop()
		}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("xmlrpc: %s: cannot map into %s: map keys must be strings", path.String(), t)
		}
		m, ok := tree.(map[string]any)
		if !ok {
			return wireMismatch(path, "struct", tree)
		}
		if len(m) == 0 {
			v.SetZero()
			return nil
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for _, k := range wireSortedKeys(m) {
			e := reflect.New(t.Elem()).Elem()
			path.pushMember(k)
			if err := wireToValue(m[k], e, path); err != nil {
				return err
			}
			path.pop()
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		v.Set(out)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return wireToValue(tree, v.Elem(), path)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			return fmt.Errorf("xmlrpc: %s: cannot map into the interface %s", path.String(), t)
		}
		v.Set(reflect.ValueOf(tree))
	case reflect.Struct:
		s, err := wireStructOf(t)
		if err != nil {
			return err
		}
		m, ok := tree.(map[string]any)
		if !ok {
			return wireMismatch(path, "struct", tree)
		}
		return wireToStruct(m, v, s, path)
	default:
		return fmt.Errorf("xmlrpc: %s: cannot map into a %s", path.String(), t)
	}
	return nil
}

// wireToStruct stores the members of m into the struct v of layout s, in
// the order of their names, so that the first error reported does not
// depend on map iteration order.
func wireToStruct(m map[string]any, v reflect.Value, s *wireStruct, path *wirePath) error {
	// When every member names a field, visit the fields in name order,
	// without sorting the member names.
	const most = 64 // bits in present
	if len(s.sorted) <= most {
		var values [most]any
		var present uint64
		known := true
		for k, e := range m {
			f := s.byName[k]
			if f == nil {
				known = false
				break
			}
			values[f.order] = e
			present |= 1 << f.order
		}
		if known {
			for i, f := range s.sorted {
				if present&(1<<i) == 0 {
					continue
				}
				path.pushMember(f.name)
				if err := wireToValue(values[i], wireFieldAlloc(v, f.index), path); err != nil {
					return err
				}
				path.pop()
			}
			return nil
		}
	}
	for _, k := range wireSortedKeys(m) {
		f := s.byName[k]
		if f == nil {
			return wireInvalid(path, "unknown member %q", k)
		}
		path.pushMember(k)
		if err := wireToValue(m[k], wireFieldAlloc(v, f.index), path); err != nil {
			return err
		}
		path.pop()
	}
	return nil
}

// wireSortedKeys returns the keys of m in order, so that the first error
// reported does not depend on map iteration order.
func wireSortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// wireInt returns tree as an int64 if it is an int.
func wireInt(tree any) (int64, bool) {
	switch x := tree.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
}

// wireBytes returns tree as bytes if it is base64 or a string.
func wireBytes(tree any) ([]byte, bool) {
	switch x := tree.(type) {
	case []byte:
		return slices.Clone(x), true
	case string:
		return []byte(x), true
	}
	return nil, false
}

// wireDuration reads a duration: float or int seconds, or a string for
// time.ParseDuration. It must be finite, non-negative and fit in a
// time.Duration.
func wireDuration(tree any, path *wirePath) (time.Duration, error) {
	switch x := tree.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, wireInvalid(path, "bad duration %v", x)
		}
		if x < 0 {
			return 0, wireInvalid(path, "negative duration %vs", x)
		}
		// time.Duration(math.MaxInt64) is about 9.22e9 seconds.
		if x >= float64(math.MaxInt64)/1e9 {
			return 0, wireInvalid(path, "duration %vs out of range", x)
		}
		sec := math.Trunc(x)
		nsec := math.Round((x - sec) * 1e9)
		return time.Duration(sec)*time.Second + time.Duration(nsec), nil
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, wireInvalid(path, "bad duration %s: want seconds or a duration like \"1.5s\"", xmlQuoteShort(x))
		}
		if d < 0 {
			return 0, wireInvalid(path, "negative duration %s", xmlQuoteShort(x))
		}
		return d, nil
	}
	n, ok := wireInt(tree)
	if !ok {
		return 0, wireMismatch(path, "duration (seconds or a string like \"1.5s\")", tree)
	}
	if n < 0 {
		return 0, wireInvalid(path, "negative duration %ds", n)
	}
	if n > math.MaxInt64/int64(time.Second) {
		return 0, wireInvalid(path, "duration %ds out of range", n)
	}
	return time.Duration(n) * time.Second, nil
}

// wireTime reads a time: a dateTime, or an RFC 3339 string ("" is the zero
// time). The result is in UTC, in the years 0000 to 9999.
func wireTime(tree any, path *wirePath) (time.Time, error) {
	var tm time.Time
	switch x := tree.(type) {
	case time.Time:
		tm = x
	case string:
		if x == "" {
			return time.Time{}, nil
		}
		var err error
		if tm, err = time.Parse(time.RFC3339Nano, x); err != nil {
			return time.Time{}, wireInvalid(path, "bad time %s: want RFC 3339", xmlQuoteShort(x))
		}
	default:
		return time.Time{}, wireMismatch(path, "dateTime or RFC 3339 string", tree)
	}
	tm = tm.UTC()
	if tm.Year() < 0 || tm.Year() > 9999 {
		return time.Time{}, wireInvalid(path, "time %s outside the years 0000 to 9999", tm)
	}
	return tm, nil
}
