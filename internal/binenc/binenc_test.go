package binenc

import (
	"encoding/binary"
	"errors"
	"maps"
	"math"
	"slices"
	"testing"
	"unsafe"
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

func TestMapAndStrAs(t *testing.T) {
	m := map[string]string{"url": "http://127.0.0.1/", "": "empty key"}
	b := AppendMap(nil, m)
	b = AppendMap(b, nil)
	b = AppendString(b, "ok")
	b = AppendString(b, "other")
	r := NewReader(b, errKind)
	if got := r.Map(); !maps.Equal(got, m) {
		t.Errorf("Map = %q", got)
	}
	if got := r.Map(); got != nil {
		t.Errorf("empty Map = %q, want nil", got)
	}
	known := "ok"
	if s := r.StrAs("error", known); s != "ok" || unsafe.StringData(s) != unsafe.StringData(known) {
		t.Errorf("StrAs = %q, not the known string itself", s)
	}
	if s := r.StrAs(known); s != "other" {
		t.Errorf("StrAs of an unknown string = %q", s)
	}
	if err := r.End(); err != nil {
		t.Fatalf("End = %v", err)
	}
	enc := AppendString(nil, known)
	if n := testing.AllocsPerRun(100, func() { r := NewReader(enc, errKind); r.StrAs(known) }); n != 0 {
		t.Errorf("StrAs of a known string allocates %.0f times", n)
	}
	if r = NewReader([]byte{2, 'k'}, errKind); r.Map() != nil || r.Err == nil {
		t.Error("Map with a count past the data is not an error")
	}
}
