package rpcapi

// This file maps trees onto Go values: wireToGo, the inverse of the
// wireFromGo of xmlrpc_map.go, following the rules at the top of that file.

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/drover/drover/internal/xmlrpc"
)

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

// wireToGo maps tree, as xmlrpc.DecodeCall produces it, into *dst, following
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
	return wireToValue(tree, v, &xmlrpc.Path{Root: path})
}

// wireMismatch returns the error for a tree value of the wrong type.
func wireMismatch(path *xmlrpc.Path, want string, got any) error {
	return &wireError{path: path.String(), msg: "want " + want + ", got " + xmlrpc.TypeName(got)}
}

// wireInvalid returns a wireError at path.
func wireInvalid(path *xmlrpc.Path, format string, args ...any) error {
	return &wireError{path: path.String(), msg: fmt.Sprintf(format, args...)}
}

// wireToValue stores tree into v, which is settable and holds its zero
// value (or a value being replaced).
func wireToValue(tree any, v reflect.Value, path *xmlrpc.Path) error {
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
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return wireToScalar(tree, v, path)
	case reflect.Slice, reflect.Array:
		return wireToList(tree, v, path)
	case reflect.Map:
		return wireToMap(tree, v, path)
	case reflect.Pointer:
		if m, ok := tree.(map[string]any); ok && len(m) == 0 && t.Elem().Kind() == reflect.Struct && t.Elem() != wireTimeType {
			v.SetZero() // an empty struct is no value (wireNilStruct)
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return wireToValue(tree, v.Elem(), path)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			return fmt.Errorf("xmlrpc: %s: cannot map into the interface %s", path.String(), t)
		}
		v.Set(reflect.ValueOf(tree))
		return nil
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
	}
	return fmt.Errorf("xmlrpc: %s: cannot map into a %s", path.String(), t)
}

// wireToScalar stores tree into v, a bool, a number or a string.
func wireToScalar(tree any, v reflect.Value, path *xmlrpc.Path) error {
	switch v.Kind() {
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
			return wireInvalid(path, "%d out of range for %s", n, v.Kind())
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return wireToUint(tree, v, path)
	case reflect.Float32, reflect.Float64:
		return wireToFloat(tree, v, path)
	case reflect.String:
		s, ok := tree.(string)
		if !ok {
			return wireMismatch(path, "string", tree)
		}
		v.SetString(s)
	}
	return nil
}

// wireToUint stores tree, a decimal string or a non-negative int, into
// the unsigned int v.
func wireToUint(tree any, v reflect.Value, path *xmlrpc.Path) error {
	var u uint64
	switch x := tree.(type) {
	case string:
		var err error
		if u, err = strconv.ParseUint(x, 10, 64); err != nil {
			return wireInvalid(path, "bad unsigned int %s", xmlrpc.QuoteShort(x))
		}
	default:
		n, ok := wireInt(tree)
		if !ok {
			return wireMismatch(path, "unsigned int (decimal string or int)", tree)
		}
		if n < 0 {
			return wireInvalid(path, "%d out of range for %s", n, v.Kind())
		}
		u = uint64(n)
	}
	if v.OverflowUint(u) {
		return wireInvalid(path, "%d out of range for %s", u, v.Kind())
	}
	v.SetUint(u)
	return nil
}

// wireToFloat stores tree, a double or an int, into the float v.
func wireToFloat(tree any, v reflect.Value, path *xmlrpc.Path) error {
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
		return wireInvalid(path, "%v out of range for %s", f, v.Kind())
	}
	v.SetFloat(f)
	return nil
}

// wireToList stores tree, an array (or base64 or a string for bytes),
// into v: a slice, which an empty one leaves nil, or a Go array of the
// same length.
func wireToList(tree any, v reflect.Value, path *xmlrpc.Path) error {
	t := v.Type()
	array := t.Kind() == reflect.Array
	if t.Elem().Kind() == reflect.Uint8 {
		b, ok := wireBytes(tree)
		switch {
		case !ok:
			return wireMismatch(path, "base64 or string", tree)
		case array && len(b) != t.Len():
			return wireInvalid(path, "want %d bytes, got %d", t.Len(), len(b))
		case array:
			for i, c := range b {
				v.Index(i).SetUint(uint64(c))
			}
		case len(b) == 0:
			v.SetZero()
		default:
			v.SetBytes(b)
		}
		return nil
	}
	a, ok := tree.([]any)
	switch {
	case !ok:
		return wireMismatch(path, "array", tree)
	case array && len(a) != t.Len():
		return wireInvalid(path, "want %d elements, got %d", t.Len(), len(a))
	case array:
		return wireToElems(a, v, path)
	case len(a) == 0:
		v.SetZero()
		return nil
	}
	s := reflect.MakeSlice(t, len(a), len(a))
	if err := wireToElems(a, s, path); err != nil {
		return err
	}
	v.Set(s)
	return nil
}

// wireToElems stores the elements of a into those of v, a slice or an
// array as long as a.
func wireToElems(a []any, v reflect.Value, path *xmlrpc.Path) error {
	for i, e := range a {
		path.PushIndex(i)
		if err := wireToValue(e, v.Index(i), path); err != nil {
			return err
		}
		path.Pop()
	}
	return nil
}

// wireToMap stores tree, a struct, into the map v, whose keys are strings.
// An empty one leaves v nil.
func wireToMap(tree any, v reflect.Value, path *xmlrpc.Path) error {
	t := v.Type()
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
		path.PushMember(k)
		if err := wireToValue(m[k], e, path); err != nil {
			return err
		}
		path.Pop()
		out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
	}
	v.Set(out)
	return nil
}

// wireToStruct stores the members of m into the struct v of layout s, in
// the order of their names, so that the first error reported does not
// depend on map iteration order.
func wireToStruct(m map[string]any, v reflect.Value, s *wireStruct, path *xmlrpc.Path) error {
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
				path.PushMember(f.name)
				if err := wireToValue(values[i], wireFieldAlloc(v, f.index), path); err != nil {
					return err
				}
				path.Pop()
			}
			return nil
		}
	}
	for _, k := range wireSortedKeys(m) {
		f := s.byName[k]
		if f == nil {
			return wireInvalid(path, "unknown member %q", k)
		}
		path.PushMember(k)
		if err := wireToValue(m[k], wireFieldAlloc(v, f.index), path); err != nil {
			return err
		}
		path.Pop()
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
func wireDuration(tree any, path *xmlrpc.Path) (time.Duration, error) {
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
			return 0, wireInvalid(path, "bad duration %s: want seconds or a duration like \"1.5s\"", xmlrpc.QuoteShort(x))
		}
		if d < 0 {
			return 0, wireInvalid(path, "negative duration %s", xmlrpc.QuoteShort(x))
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
func wireTime(tree any, path *xmlrpc.Path) (time.Time, error) {
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
			return time.Time{}, wireInvalid(path, "bad time %s: want RFC 3339", xmlrpc.QuoteShort(x))
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
