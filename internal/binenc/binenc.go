// Package binenc holds the primitives of drover's compact binary
// encodings, the job record (package jobs) and the gob path's batch
// payloads (package rpcapi): uvarint-prefixed strings and lists, varints,
// one-byte booleans, and a Reader whose first error sticks.
package binenc

import (
	"encoding/binary"
	"fmt"
)

// AppendString appends s, prefixed with its length.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendStrings appends the count of ss, then each string.
func AppendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = AppendString(b, s)
	}
	return b
}

// AppendMap appends the count of m, then each key and value.
func AppendMap(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for k, v := range m {
		b = AppendString(b, k)
		b = AppendString(b, v)
	}
	return b
}

// AppendBool appends v as one byte, 0 or 1.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// Reader reads what the Append functions wrote. The first problem sticks
// in Err (wrapping the error kind given to NewReader) and empties B; reads
// after it return zero values, so a decoder checks Err once at the end.
type Reader struct {
	B    []byte // what is left to read
	Err  error
	kind error
}

// NewReader returns a Reader of b whose errors wrap kind.
func NewReader(b []byte, kind error) Reader { return Reader{B: b, kind: kind} }

// Fail records a problem, unless one is recorded already.
func (r *Reader) Fail(format string, a ...any) {
	if r.Err == nil {
		r.Err = fmt.Errorf("%w: "+format, append([]any{r.kind}, a...)...)
	}
	r.B = nil
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.B) == 0 {
		r.Fail("truncated")
		return 0
	}
	c := r.B[0]
	r.B = r.B[1:]
	return c
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.B)
	if !r.advance(n, "uvarint") {
		return 0
	}
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.B)
	if !r.advance(n, "varint") {
		return 0
	}
	return v
}

// advance drops the n bytes that a varint of kind took, or fails when
// its decoder read none (n <= 0: too short, or too long for 64 bits). It
// reports whether it did not fail.
func (r *Reader) advance(n int, kind string) bool {
	if n <= 0 {
		r.Fail("bad %s", kind)
		return false
	}
	r.B = r.B[n:]
	return true
}

// Int reads a varint that must fit an int.
func (r *Reader) Int() int {
	v := r.Varint()
	if int64(int(v)) != v {
		r.Fail("integer %d out of range", v)
		return 0
	}
	return int(v)
}

// Count reads the length of a list whose every element takes at least one
// byte, so that a corrupt count cannot make a huge allocation.
func (r *Reader) Count() int {
	n := r.Uvarint()
	if n > uint64(len(r.B)) {
		r.Fail("count %d is over the %d bytes left", n, len(r.B))
		return 0
	}
	return int(n)
}

// Str reads a string written by AppendString.
func (r *Reader) Str() string { return r.take(r.Count()) }

// take reads the next n bytes as a string; n is at most len(B) (Count).
func (r *Reader) take(n int) string {
	if n == 0 {
		return ""
	}
	s := string(r.B[:n])
	r.B = r.B[n:]
	return s
}

// StrAs reads a string written by AppendString and, when it equals one
// of known, returns that one, sharing its memory instead of allocating.
func (r *Reader) StrAs(known ...string) string {
	n := r.Count()
	for _, k := range known {
		if len(k) == n && string(r.B[:n]) == k {
			r.B = r.B[n:]
			return k
		}
	}
	return r.take(n)
}

// Map reads a map written by AppendMap; nil when it is empty.
func (r *Reader) Map() map[string]string {
	n := r.Count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := r.Str()
		m[k] = r.Str()
	}
	return m
}

// Strings reads a list written by AppendStrings; nil when it is empty.
func (r *Reader) Strings() []string { return List(r, r.Str) }

// List reads a list written as its length (AppendUvarint) and then its
// elements, each read by elem; nil when it is empty. Every element must
// take at least one byte (see Count).
func List[T any](r *Reader, elem func() T) []T {
	n := r.Count()
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		out[i] = elem()
	}
	return out
}

// Bool reads a byte written by AppendBool.
func (r *Reader) Bool() bool {
	switch c := r.Byte(); c {
	case 0:
		return false
	case 1:
		return true
	default:
		r.Fail("bool byte %d", c)
		return false
	}
}

// End fails unless every byte was read, and returns Err.
func (r *Reader) End() error {
	if r.Err == nil && len(r.B) > 0 {
		r.Fail("%d bytes after the end", len(r.B))
	}
	return r.Err
}
