package rpcapi

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/drover/drover/internal/binenc"
	"github.com/drover/drover/jobs"
)

// binwireSamples returns one filled value of each type with a compact
// form, every field set.
func binwireSamples() []binwireType {
	runAt := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	return []binwireType{
		&SubmitArgs{Specs: []jobs.Spec{
			{Type: "crawl", Args: map[string]string{"url": "https://a.example/✓", "depth": "2"}, Priority: -3, Retries: 4,
				Timeout: time.Minute, Group: "g", Key: "k1", Tags: []string{"gpu", "region=eu"}, LimitKey: "a.example",
				UniqueKey: "u", UniqueFor: time.Hour, RunAt: runAt, Delay: time.Second, Input: "{}",
				Then: &jobs.Spec{Type: "report", Args: map[string]string{"x": "y"}}, Broadcast: true},
			{Type: "noop"},
			{Name: "nightly", Schedule: "@daily", Overlap: "skip", Timezone: "Europe/Paris", CatchUp: "one", Type: "t"},
		}},
		&AssignArgs{WorkerID: "w1-ab12", Secret: "5ec7e7", Tasks: []Task{
			{JobID: "17", Attempt: 2, Type: "crawl", Args: map[string]string{"url": "u", "": "empty name"}, Timeout: 90 * time.Second, Input: "in", Group: "nightly"},
			{JobID: "18", Attempt: 1, Type: "noop"},
		}},
		&AssignArgs{WorkerID: "w2", Secret: "s", Tasks: []Task{{JobID: "20", Attempt: 1, Type: "noop"}}, Term: 7},
		&AssignReply{Accepted: []JobRef{{JobID: "17", Attempt: 2}, {JobID: "19", Attempt: 1}},
			Rejected: []Rejection{{JobRef: JobRef{JobID: "18", Attempt: 1}, Reason: "no free slot"}}},
		&CompleteArgs{WorkerID: "w1-ab12", Secret: "5ec7e7", Reports: []Report{
			{JobID: "17", Attempt: 2, Outcome: jobs.OK, ExitCode: 0, Output: "tail\n", Data: `{"n":1}`,
				Stats: map[string]string{"item_scraped_count": "30"}, Timeout: time.Minute, TimeoutFrom: "template"},
			{JobID: "18", Attempt: 1, Outcome: jobs.Error, ExitCode: -1, Error: "boom", Permanent: true},
			{JobID: "19", Attempt: 3, Outcome: "made-up"},
		}, Want: 3},
	}
}

type binwireType interface {
	GobEncode() ([]byte, error)
	GobDecode([]byte) error
}

// TestBinwireRoundTrip sends each type through a real gob stream, as
// net/rpc does, and gets the same value back.
func TestBinwireRoundTrip(t *testing.T) {
	for _, v := range binwireSamples() {
		t.Run(fmt.Sprintf("%T", v), func(t *testing.T) {
			var buf bytes.Buffer
			if err := gob.NewEncoder(&buf).Encode(v); err != nil {
				t.Fatal(err)
			}
			got := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := gob.NewDecoder(&buf).Decode(got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, v) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, v)
			}
		})
	}
}

// TestBinwireV2StillReads: a batch of the release before (binwireV2: no
// task group, no report stats or timeout) decodes, with those empty.
func TestBinwireV2StillReads(t *testing.T) {
	b := []byte{binwireV2}
	b = binenc.AppendString(b, "w1")
	b = binenc.AppendString(b, "sec")
	b = binary.AppendUvarint(b, 1)
	b = binenc.AppendString(b, "17")
	b = binary.AppendVarint(b, 2)
	b = binenc.AppendString(b, string(jobs.OK))
	b = binary.AppendVarint(b, 0)
	b = binenc.AppendString(b, "")
	b = binenc.AppendString(b, "out")
	b = binenc.AppendString(b, "")
	b = binenc.AppendBool(b, false)
	var c CompleteArgs
	if err := c.GobDecode(b); err != nil {
		t.Fatal(err)
	}
	want := CompleteArgs{WorkerID: "w1", Secret: "sec", Reports: []Report{{JobID: "17", Attempt: 2, Outcome: jobs.OK, Output: "out"}}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("v2 complete args: got %+v, want %+v", c, want)
	}
	b = []byte{binwireV2}
	b = binenc.AppendString(b, "w1")
	b = binenc.AppendString(b, "sec")
	b = binary.AppendUvarint(b, 1)
	b = binenc.AppendString(b, "17")
	b = binary.AppendVarint(b, 2)
	b = binenc.AppendString(b, "crawl")
	b = binenc.AppendMap(b, nil)
	b = binary.AppendVarint(b, int64(time.Second))
	b = binenc.AppendString(b, "")
	var a AssignArgs
	if err := a.GobDecode(b); err != nil {
		t.Fatal(err)
	}
	if len(a.Tasks) != 1 || a.Tasks[0].Type != "crawl" || a.Tasks[0].Timeout != time.Second || a.Tasks[0].Group != "" {
		t.Fatalf("v2 assign args: %+v", a)
	}
}

// TestBinwireV3StillReads: CompleteArgs of the release before (binwireV3:
// no Want) decode with Want 0; a V3 payload with a Want after the reports
// is refused, not read as one; CompleteArgs without a Want are written in
// the V3 form.
func TestBinwireV3StillReads(t *testing.T) {
	v4, _ := (&CompleteArgs{WorkerID: "w1", Secret: "sec", Reports: []Report{{JobID: "17", Attempt: 2, Outcome: jobs.OK}}, Want: 2}).GobEncode()
	v3 := append([]byte{binwireV3}, v4[1:len(v4)-1]...) // the same without the Want
	var c CompleteArgs
	if err := c.GobDecode(v3); err != nil {
		t.Fatal(err)
	}
	want := CompleteArgs{WorkerID: "w1", Secret: "sec", Reports: []Report{{JobID: "17", Attempt: 2, Outcome: jobs.OK}}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("v3 complete args: got %+v, want %+v", c, want)
	}
	if err := new(CompleteArgs).GobDecode(append([]byte{binwireV3}, v4[1:]...)); !errors.Is(err, errBinwire) {
		t.Fatalf("v3 with a trailing want: %v, want errBinwire", err)
	}
	// Without a Want it is written as V3, which a master of the release
	// before reads.
	if b, _ := want.GobEncode(); b[0] != binwireV3 || !bytes.Equal(b, v3) {
		t.Fatalf("complete args without want: % x, want the v3 form % x", b, v3)
	}
}

// TestBinwireAssignTerm: AssignArgs without a Term (a single master's)
// are written in the V3 form, which a worker of the release before reads;
// with one, as V5 with the term after the tasks; a negative term or bytes
// after it are refused.
func TestBinwireAssignTerm(t *testing.T) {
	plain := AssignArgs{WorkerID: "w1", Secret: "sec", Tasks: []Task{{JobID: "17", Attempt: 2, Type: "crawl"}}}
	v3, _ := plain.GobEncode()
	if v3[0] != binwireV3 {
		t.Fatalf("assign args without a term: version %d, want %d", v3[0], binwireV3)
	}
	termed := plain
	termed.Term = 12
	v5, _ := termed.GobEncode()
	if v5[0] != binwireV5 || !bytes.Equal(v5[1:len(v5)-1], v3[1:]) {
		t.Fatalf("assign args with a term: % x, want V5 and the V3 fields then the term (V3: % x)", v5, v3)
	}
	var got AssignArgs
	if err := got.GobDecode(v5); err != nil || got.Term != 12 || !reflect.DeepEqual(got.Tasks, plain.Tasks) {
		t.Fatalf("V5 decodes to %+v, %v", got, err)
	}
	neg := append(append([]byte{binwireV5}, v3[1:]...), binary.AppendVarint(nil, -1)...)
	if err := new(AssignArgs).GobDecode(neg); !errors.Is(err, errBinwire) {
		t.Fatalf("negative term: %v, want errBinwire", err)
	}
	if err := new(AssignArgs).GobDecode(append(v5, 0)); !errors.Is(err, errBinwire) {
		t.Fatalf("a byte after the term: %v, want errBinwire", err)
	}
}

// TestBinwireEmpty: empty batches round-trip; the decoder leaves nil
// lists where the encoder had none.
func TestBinwireEmpty(t *testing.T) {
	for _, v := range []binwireType{&SubmitArgs{}, &AssignArgs{}, &AssignReply{}, &CompleteArgs{}} {
		b, _ := v.GobEncode()
		got := reflect.New(reflect.TypeOf(v).Elem()).Interface().(binwireType)
		if err := got.GobDecode(b); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
	}
}

// TestBinwireCorrupt: every cut of every sample, a trailing byte and a
// wrong version fail with errBinwire (or jobs.ErrRecord inside a spec),
// never a panic.
func TestBinwireCorrupt(t *testing.T) {
	for _, v := range binwireSamples() {
		full, _ := v.GobEncode()
		fresh := func() binwireType { return reflect.New(reflect.TypeOf(v).Elem()).Interface().(binwireType) }
		for n := range len(full) {
			if err := fresh().GobDecode(full[:n]); !errors.Is(err, errBinwire) {
				t.Fatalf("%T cut to %d of %d bytes: %v, want errBinwire", v, n, len(full), err)
			}
		}
		if err := fresh().GobDecode(append(bytes.Clone(full), 0)); !errors.Is(err, errBinwire) {
			t.Fatalf("%T with a trailing byte: %v", v, err)
		}
		bad := bytes.Clone(full)
		bad[0] = 9
		if err := fresh().GobDecode(bad); !errors.Is(err, errBinwire) || !bytes.Contains([]byte(err.Error()), []byte("version 9")) {
			t.Fatalf("%T version 9: %v", v, err)
		}
	}
}

// TestBinwireHugeCount: a count far past the payload is refused before
// anything is allocated for it.
func TestBinwireHugeCount(t *testing.T) {
	payload := []byte{binwireV1, 0xff, 0xff, 0xff, 0xff, 0x0f}
	var a SubmitArgs
	if err := a.GobDecode(payload); !errors.Is(err, errBinwire) {
		t.Fatalf("err %v", err)
	}
	if n := bytesAllocated(func() { a.GobDecode(payload) }); n > 4096 {
		t.Fatalf("%d bytes allocated for a 6-byte payload", n)
	}
}

// bytesAllocated returns the bytes fn allocates, averaged over ten runs.
func bytesAllocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for range 10 {
		fn()
	}
	runtime.ReadMemStats(&b)
	return (b.TotalAlloc - a.TotalAlloc) / 10
}

// FuzzBinwire: whatever the bytes, decoding does not panic, and what
// decodes encodes to bytes that decode to the same value.
func FuzzBinwire(f *testing.F) {
	for i, v := range binwireSamples() {
		b, _ := v.GobEncode()
		f.Add(uint8(i), b)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		samples := binwireSamples()
		typ := reflect.TypeOf(samples[int(which)%len(samples)]).Elem()
		v := reflect.New(typ).Interface().(binwireType)
		if err := v.GobDecode(data); err != nil {
			if !errors.Is(err, errBinwire) {
				t.Fatalf("%v does not wrap errBinwire", err)
			}
			return
		}
		again, _ := v.GobEncode()
		w := reflect.New(typ).Interface().(binwireType)
		if err := w.GobDecode(again); err != nil {
			t.Fatalf("re-encoded %T does not decode: %v", v, err)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("re-encoded %T decodes differently:\n%+v\n%+v", v, v, w)
		}
	})
}

// BenchmarkBinwire compares the compact form with gob's own encoding of
// the same types, for a Submit of 1000 plain specs and a Complete of 250
// reports.
func BenchmarkBinwire(b *testing.B) {
	specs := make([]jobs.Spec, 1000)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "noop", Args: map[string]string{"n": fmt.Sprint(i)}}
	}
	reps := make([]Report, 250)
	for i := range reps {
		reps[i] = Report{JobID: fmt.Sprint(i + 1), Attempt: 1, Outcome: jobs.OK}
	}
	type plainSubmit struct{ Specs []jobs.Spec }
	type plainComplete struct {
		WorkerID string
		Reports  []Report
	}
	for _, c := range []struct {
		name       string
		val, plain any
	}{
		{"submit", &SubmitArgs{Specs: specs}, &plainSubmit{Specs: specs}},
		{"complete", &CompleteArgs{WorkerID: "w1", Reports: reps}, &plainComplete{WorkerID: "w1", Reports: reps}},
	} {
		for _, form := range []string{"compact", "gob"} {
			v := c.val
			if form == "gob" {
				v = c.plain
			}
			b.Run(c.name+"/"+form, func(b *testing.B) {
				// One stream per benchmark, as one connection: gob sends
				// the type once.
				var buf bytes.Buffer
				enc, dec := gob.NewEncoder(&buf), gob.NewDecoder(&buf)
				out := reflect.New(reflect.TypeOf(v).Elem())
				b.ReportAllocs()
				for b.Loop() {
					if err := enc.Encode(v); err != nil {
						b.Fatal(err)
					}
					out.Elem().SetZero()
					if err := dec.Decode(out.Interface()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
