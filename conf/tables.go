package conf

import (
	"math"
	"time"
)

// fields binds the keys of a table whose values are plain (a string, a
// list of strings, a duration, a non-negative integer) to the variables
// they set, one map a type, so that field decodes them for every table;
// a table's own switch keeps the keys that need more (a choice, a range,
// a sub-table, a check of their own).
type fields struct {
	strs      map[string]*string
	lists     map[string]*[]string
	durations map[string]*time.Duration
	ints      map[string]*int   // 0 or more
	int64s    map[string]*int64 // 0 or more (sizes in bytes)
}

// keys decodes every key of t, the table at p: the plain ones through fs
// (nil for none), the others through key, which reports whether it knows k. A key that
// neither knows is an error that suggests one of known.
func (d *decoder) keys(p path, t map[string]any, fs *fields, known []string, key func(p path, k string, v any) bool) {
	for k, v := range t {
		kp := p.key(k)
		if !d.field(fs, kp, k, v) && !key(kp, k, v) {
			d.unknown(kp, known)
		}
	}
}

// field decodes v, at p, into the variable fs binds k to, and reports
// whether fs binds k.
func (d *decoder) field(fs *fields, p path, k string, v any) bool {
	if fs == nil {
		return false
	}
	return bind(fs.strs, k, p, v, d.str) ||
		bind(fs.lists, k, p, v, d.strList) ||
		bind(fs.durations, k, p, v, d.duration) ||
		bind(fs.ints, k, p, v, d.count) ||
		bind(fs.int64s, k, p, v, func(p path, v any) int64 { return int64(d.count(p, v)) })
}

// bind sets the variable m binds k to, if there is one, to get's value of
// v at p, and reports whether there is.
func bind[T any](m map[string]*T, k string, p path, v any, get func(path, any) T) bool {
	dst, ok := m[k]
	if ok {
		*dst = get(p, v)
	}
	return ok
}

// named decodes v, at p, as a table of entries by name, each with entry,
// which reports whether to keep it; nil if v is not a table.
func named[T any](d *decoder, p path, v any, entry func(p path, name string, v any) (T, bool)) map[string]T {
	t := d.table(p, v)
	if t == nil {
		return nil
	}
	out := make(map[string]T, len(t))
	for name, e := range t {
		if x, ok := entry(p.key(name), name, e); ok {
			out[name] = x
		}
	}
	return out
}

// count returns v as an integer that is not negative.
func (d *decoder) count(p path, v any) int {
	return d.integer(p, v, 0, math.MaxInt)
}

// tableArray returns v as an array of tables (a [[name]] array, or an
// inline array of tables); want says what was expected, for the error. An
// element that is not a table is an error, and nil in the result.
func (d *decoder) tableArray(p path, v any, want string) []map[string]any {
	switch v := v.(type) {
	case []map[string]any:
		return v
	case []any:
		out := make([]map[string]any, len(v))
		for i, e := range v {
			if out[i], _ = e.(map[string]any); out[i] == nil {
				d.errorf(p.index(i), "want a table, got %s", typeName(e))
			}
		}
		return out
	}
	d.errorf(p, "want %s, got %s", want, typeName(v))
	return nil
}
