package rpcapi

// The text of system.methodHelp: a method's one-line description, then
// its params and its result with every member, and every struct they
// hold, as they travel. The members come from the layout the XML-RPC
// codec uses (wireStructOf), so the help cannot drift from the wire.

import (
	"reflect"
	"strings"
)

// methodHelp returns the help of a method whose params are of type args
// and whose result is of type reply: desc, then "Params {...}. Result
// {...}." and a "NAME: {...}." for every named struct they hold, in the
// order they first appear.
func methodHelp(desc string, args, reply reflect.Type) string {
	h := &helpWriter{seen: map[reflect.Type]bool{}}
	var b strings.Builder
	b.WriteString(desc)
	if p := h.members(args); p == "{}" {
		b.WriteString(" Params none (or {})")
	} else {
		b.WriteString(" Params ")
		b.WriteString(p)
	}
	b.WriteString(". Result ")
	b.WriteString(h.members(reply))
	b.WriteString(".")
	for i := 0; i < len(h.named); i++ { // named grows as structs are written
		t := h.named[i]
		b.WriteString(" ")
		b.WriteString(t.Name())
		b.WriteString(": ")
		b.WriteString(h.members(t))
		b.WriteString(".")
	}
	return b.String()
}

// helpWriter renders wire types for methodHelp, collecting the named
// structs to describe after the params and the result.
type helpWriter struct {
	seen  map[reflect.Type]bool
	named []reflect.Type
}

// members renders the struct type t as "{name: type, ...}", its members
// in declaration order; a type that is not a struct as members of nothing.
func (h *helpWriter) members(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return "{}"
	}
	s, err := wireStructOf(t)
	if err != nil {
		return "{}"
	}
	parts := make([]string, len(s.fields))
	for i, f := range s.fields {
		parts[i] = f.name + ": " + h.typ(f.typ)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// typ renders the wire type of a member of Go type t: the XML-RPC type
// names (string, int, boolean, double, base64, struct), "[T]" for an
// array of T, "struct of T" for a map, "time" and "seconds" for times and
// durations as docs/protocol.md describes them, and a named struct by its
// name (described after the result).
func (h *helpWriter) typ(t reflect.Type) string {
	switch t {
	case wireDurationType:
		return "double (seconds)"
	case wireTimeType:
		return "time"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "string (an unsigned int)"
	case reflect.Float32, reflect.Float64:
		return "double"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "base64"
		}
		return "[" + h.typ(t.Elem()) + "]"
	case reflect.Map:
		return "struct of " + h.typ(t.Elem())
	case reflect.Pointer:
		return h.typ(t.Elem())
	case reflect.Struct:
		if t.Name() == "" {
			return h.members(t)
		}
		if !h.seen[t] {
			h.seen[t] = true
			h.named = append(h.named, t)
		}
		return t.Name()
	}
	return "any"
}
