package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// headOf is the RecordHead of a decoded job, as PeekRecord must read it.
func headOf(j *Job) RecordHead {
	b := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	return RecordHead{Seq: j.Seq, ID: b(j.ID), State: j.State, Submitted: j.Submitted, Updated: j.Updated, Type: b(j.Spec.Type), Group: b(j.Spec.Group),
		Key: b(j.Spec.Key), UniqueKey: b(j.Spec.UniqueKey), UniqueFor: j.Spec.UniqueFor}
}

// sameHead compares heads, taking an empty slice as nil (a JSON record's
// head is built from strings).
func sameHead(a, b RecordHead) bool {
	return a.Seq == b.Seq && bytes.Equal(a.ID, b.ID) && a.State == b.State && a.Submitted.Equal(b.Submitted) && a.Updated.Equal(b.Updated) &&
		a.Updated.Location() == b.Updated.Location() && bytes.Equal(a.Type, b.Type) && bytes.Equal(a.Group, b.Group) && bytes.Equal(a.Key, b.Key) &&
		bytes.Equal(a.UniqueKey, b.UniqueKey) && a.UniqueFor == b.UniqueFor
}

// TestPeekRecord: the head PeekRecord reads is the decoded job's, for
// binary and JSON records, with a Then spec (whose fields must not leak
// into the head) and without.
func TestPeekRecord(t *testing.T) {
	withThen := storeJob(4)
	withThen.Spec.UniqueKey, withThen.Spec.UniqueFor = "u1", time.Hour
	withThen.Spec.Then = &Spec{Type: "next", Group: "other", Key: "other-key", UniqueKey: "u2", UniqueFor: time.Minute}
	cases := map[string]*Job{
		"every field": fullJob(),
		"store job":   storeJob(7),
		"finished":    storeJob(2),
		"then":        withThen,
		"zero":        {ID: "z", State: Pending},
	}
	for name, j := range cases {
		t.Run(name, func(t *testing.T) {
			rec := j.AppendRecord(nil)
			h, err := PeekRecord(rec)
			if err != nil {
				t.Fatalf("PeekRecord: %v", err)
			}
			if want := headOf(j); !sameHead(h, want) {
				t.Fatalf("head:\n got %+v\nwant %+v", h, want)
			}
			if hh, ok := PeekHead(rec); !ok || !sameHead(hh, headOf(j)) {
				t.Fatalf("PeekHead: %v\n got %+v\nwant %+v", ok, hh, headOf(j))
			}
			js, _ := json.Marshal(j)
			h, err = PeekRecord(js)
			if err != nil {
				t.Fatalf("PeekRecord of JSON: %v", err)
			}
			if want := headOf(j); !sameHead(h, want) {
				t.Fatalf("head of JSON:\n got %+v\nwant %+v", h, want)
			}
		})
	}
}

// TestPeekRecordCorrupt: PeekRecord fails exactly when DecodeRecord
// does, for a record cut at every length and with every byte flipped,
// and its errors wrap ErrRecord.
func TestPeekRecordCorrupt(t *testing.T) {
	for _, j := range []*Job{fullJob(), storeJob(2)} {
		rec := j.AppendRecord(nil)
		try := func(what string, data []byte) {
			t.Helper()
			_, perr := PeekRecord(data)
			dj, derr := DecodeRecord(data)
			if (perr == nil) != (derr == nil) {
				t.Fatalf("%s: PeekRecord err %v, DecodeRecord err %v", what, perr, derr)
			}
			if perr != nil && !errors.Is(perr, ErrRecord) {
				t.Fatalf("%s: PeekRecord err %v does not wrap ErrRecord", what, perr)
			}
			var ps prefixSet
			if derr == nil && !ps.of(data) {
				t.Fatalf("%s: the record decodes but has no index keys", what)
			}
			if perr == nil {
				if h, _ := PeekRecord(data); !sameHead(h, headOf(dj)) {
					t.Fatalf("%s: head %+v, decoded %+v", what, h, headOf(dj))
				}
			}
		}
		for n := range len(rec) {
			try("cut", rec[:n])
		}
		try("trailing byte", append(bytes.Clone(rec), 0))
		for i := range rec {
			for _, x := range []byte{0xff, 0x01, 0x80} {
				bad := bytes.Clone(rec)
				bad[i] ^= x
				try("flipped", bad)
			}
		}
	}
	for _, bad := range [][]byte{nil, {0x02}, {recordV1, 0x80}, []byte("{\"id\":")} {
		if _, err := PeekRecord(bad); !errors.Is(err, ErrRecord) {
			t.Errorf("PeekRecord(%q) = %v, want ErrRecord", bad, err)
		}
	}
}

func TestPeekRecordAllocatesNothing(t *testing.T) {
	rec := fullJob().AppendRecord(nil)
	if n := testing.AllocsPerRun(100, func() { PeekRecord(rec) }); n != 0 {
		t.Errorf("PeekRecord: %v allocations, want 0", n)
	}
}

// FuzzPeekRecord: whatever the bytes, PeekRecord does not panic, fails
// exactly when DecodeRecord fails, and reads the decoded job's head.
func FuzzPeekRecord(f *testing.F) {
	f.Add(fullJob().AppendRecord(nil))
	f.Add(storeJob(2).AppendRecord(nil))
	f.Add((&Job{ID: "1", State: Pending}).AppendRecord(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, perr := PeekRecord(data)
		j, derr := DecodeRecord(data)
		if (perr == nil) != (derr == nil) {
			t.Fatalf("PeekRecord err %v, DecodeRecord err %v", perr, derr)
		}
		if perr != nil {
			if !errors.Is(perr, ErrRecord) {
				t.Fatalf("error %v does not wrap ErrRecord", perr)
			}
			return
		}
		if !sameHead(h, headOf(j)) {
			t.Fatalf("head %+v, decoded %+v", h, headOf(j))
		}
	})
}

func BenchmarkPeekRecord(b *testing.B) {
	rec := storeJob(2).AppendRecord(nil)
	b.Run("peek", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			PeekRecord(rec)
		}
	})
	b.Run("head", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			PeekHead(rec)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			DecodeRecord(rec)
		}
	})
	b.Run("index", func(b *testing.B) { // the index keys of a record (build, live index)
		b.ReportAllocs()
		var ps prefixSet
		for b.Loop() {
			ps.of(rec)
		}
	})
}
