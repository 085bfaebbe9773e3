package xmlrpc

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"

	kolo "github.com/kolo/xmlrpc"
)

// fuzzSeeds returns the seed documents shared by the fuzz targets.
func fuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	corpus := pythonCorpus(tb)
	for _, name := range slices.Sorted(maps.Keys(corpus)) {
		seeds = append(seeds, corpus[name])
	}
	for _, tt := range malformed {
		seeds = append(seeds, []byte(tt.doc))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		var b bytes.Buffer
		if err := EncodeCall(&b, "Master.Submit", randTree(r, 0), randTree(r, 0)); err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b.Bytes())
	}
	return seeds
}

func FuzzDecodeCall(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		method, params, err := DecodeCall(bytes.NewReader(data), Limits{MaxDepth: 8, MaxValues: 10_000})
		if err != nil {
			if errors.Is(err, ErrParse) == errors.Is(err, ErrLimit) {
				t.Fatalf("error %v wraps neither or both sentinels", err)
			}
			if (method != "") != errors.Is(err, ErrRange) || params != nil {
				t.Fatalf("error %v with results %q %#v", err, method, params)
			}
			return
		}
		if !validMethodName(method) || params == nil {
			t.Fatalf("decoded bad method %q or nil params", method)
		}
		var b bytes.Buffer
		if err := EncodeCall(&b, method, params...); err != nil {
			t.Fatalf("cannot encode what was decoded (%q %#v): %v", method, params, err)
		}
		if err := EncodeResponse(io.Discard, params); err != nil {
			t.Fatalf("cannot encode the params as a response: %v", err)
		}
		doc := b.String()
		method2, params2, err := DecodeCall(&b, Limits{MaxDepth: 8, MaxValues: 10_000})
		if err != nil {
			t.Fatalf("cannot decode the re-encoding %q: %v", doc, err)
		}
		if method2 != method || !reflect.DeepEqual(params2, testNormalize(params)) {
			t.Fatalf("round trip changed the call:\n%q %#v\n%q %#v", method, params, method2, params2)
		}
	})
}

// benchBody returns the request body kolo/xmlrpc (the XML-RPC library of
// Go clients) writes for a call of method with the tree args.
func benchBody(tb testing.TB, method string, args any) []byte {
	tb.Helper()
	body, err := kolo.EncodeMethodCall(method, args)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// benchSpec returns the tree of a job spec of type typ with every other
// field zero, as a Go client maps it (every field present).
func benchSpec(typ string) map[string]any {
	spec := map[string]any{"type": typ, "args": map[string]any{}, "tags": []any{}, "broadcast": false}
	for _, k := range []string{"priority", "retries"} {
		spec[k] = int64(0)
	}
	for _, k := range []string{"timeout", "unique_for", "delay"} {
		spec[k] = 0.0
	}
	for _, k := range []string{"group", "key", "limit_key", "unique_key", "input", "name", "schedule", "overlap", "timezone", "catch_up"} {
		spec[k] = ""
	}
	return spec
}

// benchSubmitBody returns a submit_jobs call of n specs, as the bench
// client sends them.
func benchSubmitBody(tb testing.TB, n int) []byte {
	specs := make([]any, n)
	for i := range specs {
		specs[i] = benchSpec("bench.noop")
	}
	return benchBody(tb, "submit_jobs", map[string]any{"specs": specs})
}

// benchCompleteBody returns a task_complete call of n reports, as a
// worker sends them for no-op jobs.
func benchCompleteBody(tb testing.TB, n int) []byte {
	reports := make([]any, n)
	for i := range reports {
		reports[i] = map[string]any{"job_id": strconv.Itoa(100_000 + i), "attempt": int64(1), "outcome": "ok",
			"exit_code": int64(0), "error": "", "output": "", "data": "", "permanent": false}
	}
	return benchBody(tb, "task_complete", map[string]any{"worker_id": "w-1", "reports": reports})
}

// BenchmarkDecodeCall compares the decoder (fast) with the reference
// decoder built on encoding/xml (std) on the calls the master reads most.
func BenchmarkDecodeCall(b *testing.B) {
	bodies := []struct {
		name string
		body []byte
	}{
		{"submit1000", benchSubmitBody(b, 1000)},
		{"complete250", benchCompleteBody(b, 250)},
	}
	decoders := []struct {
		name   string
		decode func(io.Reader, Limits) (string, []any, error)
	}{
		{"std", decodeCallStd},
		{"fast", DecodeCall},
	}
	for _, bb := range bodies {
		for _, d := range decoders {
			b.Run(bb.name+"/"+d.name, func(b *testing.B) {
				b.SetBytes(int64(len(bb.body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := d.decode(bytes.NewReader(bb.body), Limits{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
