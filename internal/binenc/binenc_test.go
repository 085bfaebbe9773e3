package binenc

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"
)

var errKind = errors.New("test kind")

func TestRoundTrip(t *testing.T) {
	var b []byte
	b = AppendString(b, "héllo")
	b = AppendStrings(b, []string{"a", "", "c"})
	b = AppendBool(b, true)
	b = binary.AppendVarint(b, math.MinInt64)
	b = binary.AppendUvarint(b, 300)
	b = append(b, 7)
	r := NewReader(b, errKind)
	if s := r.Str(); s != "héllo" {
		t.Errorf("Str = %q", s)
	}
	if ss := r.Strings(); !slices.Equal(ss, []string{"a", "", "c"}) {
		t.Errorf("Strings = %q", ss)
	}
	if !r.Bool() {
		t.Error("Bool = false")
	}
	if v := r.Int(); v != math.MinInt64 {
		t.Errorf("Int = %d", v)
	}
	if v := r.Uvarint(); v != 300 {
		t.Errorf("Uvarint = %d", v)
	}
	if c := r.Byte(); c != 7 {
		t.Errorf("Byte = %d", c)
	}
	if err := r.End(); err != nil {
		t.Fatalf("End = %v", err)
	}
}

// TestFirstErrorSticks: after a problem every read is zero, the first
// error is the one reported, and it wraps the kind.
func TestFirstErrorSticks(t *testing.T) {
	r := NewReader([]byte{0xff, 0xff, 0xff, 0x0f, 'x'}, errKind) // a count far past the data
	if s := r.Str(); s != "" {
		t.Errorf("Str = %q", s)
	}
	first := r.Err
	if !errors.Is(first, errKind) {
		t.Fatalf("Err %v does not wrap the kind", first)
	}
	r.Bool()
	r.Fail("later")
	if r.Err != first || r.Byte() != 0 || r.End() != first {
		t.Fatalf("Err changed to %v", r.Err)
	}
	if r = NewReader([]byte{2}, errKind); r.Bool() || r.Err == nil {
		t.Error("Bool of byte 2 is not an error")
	}
	if r = NewReader([]byte{1, 2}, errKind); r.Byte() != 1 || r.End() == nil {
		t.Error("End with a byte left is not an error")
	}
}
