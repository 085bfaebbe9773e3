package conf

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover/drover/internal/webguard"
	"github.com/drover/drover/master"
)

// The typed getters below check one value from the parsed document. On a
// problem they record an *Error for its path and return the zero value, so
// decoding goes on and the first problem by line is the one reported.

// typeName names the TOML type of v, as decoded by the toml library.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time:
		return "datetime"
	case []any:
		return "array"
	case []map[string]any:
		return "array of tables"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}

// str returns v as a string.
func (d *decoder) str(p path, v any) string {
	s, ok := v.(string)
	if !ok {
		d.errorf(p, "want a string, got %s", typeName(v))
	}
	return s
}

// boolean returns v, which must be true or false.
func (d *decoder) boolean(p path, v any) bool {
	b, ok := v.(bool)
	if !ok {
		d.errorf(p, "want true or false, got %s", typeName(v))
	}
	return b
}

// oneOf returns v as a string that is empty (the default) or one of
// choices.
func (d *decoder) oneOf(p path, v any, choices ...string) string {
	s, ok := v.(string)
	if !ok {
		d.errorf(p, "want a string, got %s", typeName(v))
		return ""
	}
	if s != "" && !slices.Contains(choices, s) {
		d.errorf(p, "invalid value %q (want %s)", s, quotedList(choices))
		return ""
	}
	return s
}

// quotedList renders choices as `"a", "b" or "c"`.
func quotedList(choices []string) string {
	q := make([]string, len(choices))
	for i, c := range choices {
		q[i] = strconv.Quote(c)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// integer returns v as an int in lo..hi.
func (d *decoder) integer(p path, v any, lo, hi int) int {
	n, ok := v.(int64)
	switch {
	case !ok:
		d.errorf(p, "want an integer, got %s", typeName(v))
	case lo == 0 && n < 0:
		d.errorf(p, "must not be negative, got %d", n)
	case n < int64(lo) || n > int64(hi):
		if hi == math.MaxInt {
			d.errorf(p, "%d is out of range", n)
		} else {
			d.errorf(p, "%d is out of range %d..%d", n, lo, hi)
		}
	default:
		return int(n)
	}
	return 0
}

// duration returns v, a string such as "1.5s", as a non-negative duration.
func (d *decoder) duration(p path, v any) time.Duration {
	s, ok := v.(string)
	if !ok {
		d.errorf(p, `want a duration string such as "30s", got %s`, typeName(v))
		return 0
	}
	t, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.errorf(p, `invalid duration %q (use e.g. "500ms", "3s", "1m")`, s)
	case t < 0:
		d.errorf(p, "must not be negative, got %q", s)
	default:
		return t
	}
	return 0
}

// list returns v as an array of what (for errors: "strings"), each
// element decoded with elem.
func list[T any](d *decoder, p path, v any, what string, elem func(path, any) T) []T {
	a, ok := v.([]any)
	if !ok {
		d.errorf(p, "want an array of %s, got %s", what, typeName(v))
		return nil
	}
	out := make([]T, len(a))
	for i, e := range a {
		out[i] = elem(p.index(i), e)
	}
	return out
}

// strList returns v as a list of strings.
func (d *decoder) strList(p path, v any) []string {
	return list(d, p, v, "strings", d.str)
}

// checkedList returns v as a list of strings, each of which check accepts.
func (d *decoder) checkedList(p path, v any, check func(string) error) []string {
	return list(d, p, v, "strings", func(p path, e any) string {
		s, ok := e.(string)
		if !ok {
			return d.str(p, e)
		}
		if err := check(s); err != nil {
			d.errorf(p, "%v", err)
		}
		return s
	})
}

// hosts decodes allowed_hosts: host names, or "*".
func (d *decoder) hosts(p path, v any) []string {
	return d.checkedList(p, v, func(h string) error { return webguard.CheckAllowedHosts([]string{h}) })
}

// workerHosts decodes worker_hosts: IP addresses, CIDR prefixes, host
// names (with "*" within a label), or "*".
func (d *decoder) workerHosts(p path, v any) []string {
	return d.checkedList(p, v, master.CheckWorkerHost)
}

// table returns v as a table, or nil.
func (d *decoder) table(p path, v any) map[string]any {
	t, ok := v.(map[string]any)
	if !ok {
		d.errorf(p, "want a table, got %s", typeName(v))
	}
	return t
}

// args returns v, a table of strings, numbers and booleans, as strings.
func (d *decoder) args(p path, v any) map[string]string {
	t := d.table(p, v)
	if t == nil {
		return nil
	}
	out := make(map[string]string, len(t))
	for k, e := range t {
		switch e := e.(type) {
		case string:
			out[k] = e
		case int64:
			out[k] = strconv.FormatInt(e, 10)
		case float64:
			out[k] = strconv.FormatFloat(e, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(e)
		default:
			d.errorf(p.key(k), "want a string, number or boolean, got %s", typeName(e))
		}
	}
	return out
}

// timestamp returns v, a TOML offset date-time or an RFC 3339 string, as a
// time. A local date-time (no offset) is an error: say which zone.
func (d *decoder) timestamp(p path, v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		if isLocalTOML(t) {
			d.errorf(p, "a date-time without an offset is ambiguous: add Z or +hh:mm")
			return time.Time{}
		}
		return t
	case string:
		tt, err := time.Parse(time.RFC3339, t)
		if err != nil {
			d.errorf(p, "invalid date-time %q (use RFC 3339, e.g. \"2026-11-24T02:00:00Z\")", t)
			return time.Time{}
		}
		return tt
	}
	d.errorf(p, "want a date-time, got %s", typeName(v))
	return time.Time{}
}

// isLocalTOML reports whether t came from a TOML local date-time, which
// the toml package marks with one of its local time zones.
func isLocalTOML(t time.Time) bool {
	name := t.Location().String()
	return name == "datetime-local" || name == "date-local" || name == "time-local"
}
