package jobs

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// fillAll sets every field of the value v points to, recursively, to a
// non-zero value derived from seed, so a field the record forgets shows.
func fillAll(v reflect.Value, seed int) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type().Elem() == reflect.TypeFor[Spec]() && seed > 100 {
			return // Then inside Then is not a valid spec
		}
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem(), seed+101)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2025, 1, 2, 3, 4, 5, 6+seed, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAll(v.Field(i), seed+i+1)
			}
		}
	case reflect.String:
		if v.Type() == reflect.TypeFor[State]() {
			v.SetString(string(States[seed%len(States)]))
			return
		}
		if v.Type() == reflect.TypeFor[Outcome]() {
			v.SetString(string(OK))
			return
		}
		v.SetString(fmt.Sprintf("s%d-✓", seed))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(-seed * 1000003))
	case reflect.Uint64:
		v.SetUint(uint64(seed) << 40)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fillAll(s.Index(0), seed+1)
		fillAll(s.Index(1), seed+2)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 3 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillAll(k, seed+i)
			fillAll(e, seed+i+10)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		panic("fillAll: no case for " + v.Type().String())
	}
}

func fullJob() *Job {
	j := new(Job)
	fillAll(reflect.ValueOf(j).Elem(), 0)
	return j
}

func TestRecordRoundTrip(t *testing.T) {
	cases := map[string]*Job{
		"every field": fullJob(),
		"store job":   storeJob(7),
		"zero":        {ID: "z", State: Pending},
		"far times": {ID: "t", State: Pending, Spec: Spec{Type: "x",
			RunAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
			Submitted: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), Updated: time.Unix(0, 0).UTC()},
	}
	for name, j := range cases {
		t.Run(name, func(t *testing.T) {
			rec := j.AppendRecord([]byte("prefix"))
			if !bytes.HasPrefix(rec, []byte("prefix")) {
				t.Fatal("AppendRecord did not append")
			}
			got, err := DecodeRecord(rec[len("prefix"):])
			if err != nil {
				t.Fatalf("DecodeRecord: %v", err)
			}
			if !reflect.DeepEqual(got, j) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, j)
			}
		})
	}
}

// TestRecordSmallerThanJSON records the size advantage that makes the
// binary record worth having.
func TestRecordSmallerThanJSON(t *testing.T) {
	j := storeJob(2)
	js, _ := json.Marshal(j)
	rec := j.AppendRecord(nil)
	t.Logf("record %d bytes, JSON %d bytes", len(rec), len(js))
	if len(rec)*2 > len(js) {
		t.Errorf("record of %d bytes is not under half the JSON's %d", len(rec), len(js))
	}
}

// TestRecordCorrupt cuts a record at every length and flips bytes: each
// decode either fails with ErrRecord or succeeds, and never panics.
func TestRecordCorrupt(t *testing.T) {
	rec := fullJob().AppendRecord(nil)
	for n := range len(rec) {
		if _, err := DecodeRecord(rec[:n]); !errors.Is(err, ErrRecord) {
			t.Fatalf("record cut to %d of %d bytes: err %v, want ErrRecord", n, len(rec), err)
		}
	}
	if _, err := DecodeRecord(append(bytes.Clone(rec), 0)); !errors.Is(err, ErrRecord) {
		t.Fatalf("trailing byte: err %v, want ErrRecord", err)
	}
	for i := range rec {
		bad := bytes.Clone(rec)
		bad[i] ^= 0xff
		if _, err := DecodeRecord(bad); err != nil && !errors.Is(err, ErrRecord) {
			t.Fatalf("flipped byte %d: err %v, want nil or ErrRecord", i, err)
		}
	}
	for _, bad := range [][]byte{{0x02}, {recordV1, 0x80}, []byte("{\"id\":")} {
		if _, err := DecodeRecord(bad); !errors.Is(err, ErrRecord) {
			t.Errorf("DecodeRecord(%q) = %v, want ErrRecord", bad, err)
		}
	}
}

// TestRecordHugeCount checks that a count far beyond the data is refused
// before anything is allocated for it.
func TestRecordHugeCount(t *testing.T) {
	rec := []byte{recordV1, 1}                // seq 1
	rec = append(rec, 0xff, 0xff, 0xff, 0x0f) // an ID of 32 MiB in a 6-byte record
	if _, err := DecodeRecord(rec); !errors.Is(err, ErrRecord) {
		t.Fatalf("err %v, want ErrRecord", err)
	}
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for range 10 {
		DecodeRecord(rec)
	}
	runtime.ReadMemStats(&b)
	if n := (b.TotalAlloc - a.TotalAlloc) / 10; n > 4096 {
		t.Errorf("%d bytes allocated for a bad 6-byte record", n)
	}
}

func TestAppendRecordAllocatesNothing(t *testing.T) {
	j := storeJob(2)
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = j.AppendRecord(buf[:0]) }); n != 0 {
		t.Errorf("AppendRecord into a big enough buffer: %v allocations, want 0", n)
	}
}

// FuzzDecodeRecord: whatever the bytes, DecodeRecord does not panic; what
// it accepts encodes to a record that decodes to the same job.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(fullJob().AppendRecord(nil))
	f.Add(storeJob(2).AppendRecord(nil))
	f.Add((&Job{ID: "1", State: Pending}).AppendRecord(nil))
	f.Add((&Job{ID: "2", State: Running, Worker: "w", Submitter: "ci"}).AppendRecord(nil)) // recordV3
	for _, name := range []string{"record_v1.hex", "record_v2.hex"} {
		f.Add(testdataRecord(f, name))
	}
	js, _ := json.Marshal(storeJob(3))
	f.Add(js)
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := DecodeRecord(data)
		if err != nil {
			if !errors.Is(err, ErrRecord) {
				t.Fatalf("error %v does not wrap ErrRecord", err)
			}
			return
		}
		if len(data) > 0 && data[0] == '{' {
			return // JSON records are only read, never written
		}
		again, err := DecodeRecord(j.AppendRecord(nil))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, j) {
			t.Fatalf("re-encoded record decodes differently:\n%+v\n%+v", again, j)
		}
	})
}

func BenchmarkRecord(b *testing.B) {
	j := storeJob(2)
	b.Run("append", func(b *testing.B) {
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			buf = j.AppendRecord(buf[:0])
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(j)
		}
	})
	rec := j.AppendRecord(nil)
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			DecodeRecord(rec)
		}
	})
}

// testdataRecord reads testdata/name, a record in hex.
func testdataRecord(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// checkOldRecord checks that the record testdata/name, written by an
// older release with version v, decodes to want, that PeekRecord reads it
// (peek checks its head) and so does the index, and that written again
// it is a recordV4 that decodes to want.
func checkOldRecord(t *testing.T, name string, v byte, want *Job, peek func(RecordHead) bool) {
	t.Helper()
	rec := testdataRecord(t, name)
	if rec[0] != v {
		t.Fatalf("testdata record has version %d, want %d", rec[0], v)
	}
	j, err := DecodeRecord(rec)
	if err != nil {
		t.Fatalf("DecodeRecord(v%d): %v", v, err)
	}
	if !reflect.DeepEqual(j, want) {
		t.Fatalf("v%d record:\n got %+v\nwant %+v", v, j, want)
	}
	if h, err := PeekRecord(rec); err != nil || !peek(h) {
		t.Fatalf("PeekRecord(v%d) = %+v, %v", v, h, err)
	}
	var ps prefixSet
	if !ps.of(rec) {
		t.Fatalf("the index cannot read a v%d record", v)
	}
	again := j.AppendRecord(nil)
	if again[0] != recordV4 {
		t.Fatalf("AppendRecord writes version %d, want %d", again[0], recordV4)
	}
	if back, err := DecodeRecord(again); err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("v%d job written as v4 and read back: %+v, %v", v, back, err)
	}
}

// TestRecordV1StillReads: a record written before attempts had stats and
// a timeout (recordV1, made by the release before, kept in testdata)
// decodes with those empty and everything else intact, PeekRecord and
// the index read it, and writing it again gives a record that decodes
// to the same job.
func TestRecordV1StillReads(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	want := &Job{ID: "42", Seq: 42, Spec: Spec{Type: "crawl", Args: map[string]string{"urls": "http://a"}, Retries: 2, Timeout: time.Minute},
		State: Failed, Attempt: 2, Submitted: at, Updated: at.Add(time.Minute),
		Attempts: []Attempt{
			{N: 1, Worker: "w1", Started: at, Ended: at.Add(time.Second), Outcome: Error, ExitCode: 1, Error: "worker: exit status 1", Output: "boom"},
			{N: 2, Worker: "w2", Started: at.Add(2 * time.Second), Ended: at.Add(time.Minute), Outcome: Timeout, ExitCode: -1, Error: "timed out", Data: "d"},
		},
		Events: []Event{{At: at, Text: "submitted"}}}
	checkOldRecord(t, "record_v1.hex", recordV1, want, func(h RecordHead) bool {
		return h.Seq == 42 && string(h.ID) == "42" && h.State == Failed
	})
}

// TestRecordV2StillReads: a record written before jobs kept their
// submitter (recordV2, made by the release before, kept in testdata)
// decodes with an empty Submitter and everything else intact, attempt
// stats included; PeekRecord and the index read it; written again it is
// a recordV4 that decodes to the same job.
func TestRecordV2StillReads(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	want := &Job{ID: "43", Seq: 43, Spec: Spec{Type: "crawl", Args: map[string]string{"spider": "news"}, Group: "g1"},
		State: Succeeded, Attempt: 1, Submitted: at, Updated: at.Add(time.Minute),
		Attempts: []Attempt{{N: 1, Worker: "w1", Started: at, Ended: at.Add(time.Minute), Outcome: OK, Output: "done",
			Stats: map[string]string{"item_scraped_count": "30"}, Timeout: "1m0s", TimeoutFrom: "template"}},
		Events: []Event{{At: at, Text: "submitted"}}, Parent: "40", Pin: "w1"}
	checkOldRecord(t, "record_v2.hex", recordV2, want, func(h RecordHead) bool {
		return h.Seq == 43 && string(h.Group) == "g1" && h.State == Succeeded
	})
}

// TestRecordSubmitter: a job's submitter survives the record, PeekRecord
// and the index step over it, and the body under a version byte from
// before submitters (v1, v2) or an unknown one is refused, never misread.
func TestRecordSubmitter(t *testing.T) {
	j := &Job{ID: "9", Seq: 9, State: Pending, Spec: Spec{Type: "crawl"}, Submitter: "ci"}
	rec := readsBack(t, j)
	if h, ok := PeekHead(rec); !ok || h.Seq != 9 {
		t.Fatalf("PeekHead = %+v, %v", h, ok)
	}
	refusedUnder(t, rec, recordV1)
	refusedUnder(t, rec, recordV2)
	bad := slices.Clone(rec)
	bad[0] = recordV4 + 1
	if _, err := DecodeRecord(bad); !errors.Is(err, ErrRecord) {
		t.Errorf("version %d: err = %v, want ErrRecord", bad[0], err)
	}
}

// TestRecordThenID: the ID reserved for a group's follow-up survives the
// record, PeekRecord, PeekHead and the index step over it, a record
// written before it (recordV3) decodes with it empty, and a v4 body under
// version 3 is refused, never misread.
func TestRecordThenID(t *testing.T) {
	j := &Job{ID: "9", Seq: 9, State: Pending, Spec: Spec{Type: "crawl", Group: "g", Then: &Spec{Type: "sum"}},
		Submitter: "ci", ThenID: "8"}
	rec := readsBack(t, j)
	if h, err := PeekRecord(rec); err != nil || string(h.Group) != "g" {
		t.Fatalf("PeekRecord = %+v, %v", h, err)
	}
	if h, ok := PeekHead(rec); !ok || h.Seq != 9 {
		t.Fatalf("PeekHead = %+v, %v", h, ok)
	}
	refusedUnder(t, rec, recordV3)
	// A v3 record is a v4 one without the ThenID at its end.
	old := *j
	old.ThenID = ""
	v3 := old.AppendRecord(nil)
	v3 = v3[:len(v3)-1]
	v3[0] = recordV3
	if got, err := DecodeRecord(v3); err != nil || !reflect.DeepEqual(got, &old) {
		t.Fatalf("v3 record: %+v, %v", got, err)
	}
	if h, err := PeekRecord(v3); err != nil || h.Seq != 9 {
		t.Fatalf("PeekRecord(v3) = %+v, %v", h, err)
	}
}

// TestRecordAttemptStats: an attempt's stats and timeout survive the
// record, and PeekRecord and the index step over them.
func TestRecordAttemptStats(t *testing.T) {
	j := &Job{ID: "7", Seq: 7, State: Succeeded, Spec: Spec{Type: "crawl"}, Attempt: 1,
		Attempts: []Attempt{{N: 1, Worker: "w", Outcome: OK,
			Stats:   map[string]string{"item_scraped_count": "30", "finish_reason": "finished", "log_count/ERROR": "0"},
			Timeout: "1m0s", TimeoutFrom: "template"}}}
	rec := readsBack(t, j)
	// A v1 version byte on a record with stats: the stats are bytes a v1
	// reader does not expect, so it is refused, never misread.
	refusedUnder(t, rec, recordV1)
}

// readsBack writes j's record and checks that it decodes to j, and that
// PeekRecord and the index read it; it returns the record.
func readsBack(t *testing.T, j *Job) []byte {
	t.Helper()
	rec := j.AppendRecord(nil)
	got, err := DecodeRecord(rec)
	if err != nil || !reflect.DeepEqual(got, j) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if h, err := PeekRecord(rec); err != nil || h.Seq != j.Seq {
		t.Fatalf("PeekRecord = %+v, %v", h, err)
	}
	var ps prefixSet
	if !ps.of(rec) {
		t.Fatal("the index cannot read the record")
	}
	return rec
}

// refusedUnder checks that rec with an older version byte is refused by
// DecodeRecord and PeekRecord, never misread.
func refusedUnder(t *testing.T, rec []byte, version byte) {
	t.Helper()
	bad := slices.Clone(rec)
	bad[0] = version
	if _, err := DecodeRecord(bad); !errors.Is(err, ErrRecord) {
		t.Errorf("version %d byte on a version %d body: err = %v, want ErrRecord", version, rec[0], err)
	}
	if _, err := PeekRecord(bad); !errors.Is(err, ErrRecord) {
		t.Errorf("PeekRecord, version %d byte on a version %d body: err = %v, want ErrRecord", version, rec[0], err)
	}
}
