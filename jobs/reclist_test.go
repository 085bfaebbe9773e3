package jobs

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// TestRecListAgainstASlice: records added across several chunks read back
// in order, by at, slice and from; readers holding a copy of the list read
// it while more is added (the race detector checks that add writes
// nothing a copy reads).
func TestRecListAgainstASlice(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var l recList
	var model []Record
	var wg sync.WaitGroup
	for len(model) < 3*recChunk+17 {
		for range 1 + r.IntN(300) {
			rec := Record{Seq: r.Uint64(), Data: []byte{byte(len(model))}}
			l.add(rec)
			model = append(model, rec)
		}
		snap, want := l, model[:len(model):len(model)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range want {
				if got := snap.at(i); got.Seq != want[i].Seq || got.Data[0] != want[i].Data[0] {
					t.Errorf("copy of %d records: at %d: seq %d, want %d", len(want), i, got.Seq, want[i].Seq)
					return
				}
			}
		}()
	}
	wg.Wait()
	if l.len() != len(model) {
		t.Fatalf("len %d, want %d", l.len(), len(model))
	}
	for _, from := range []int{0, 1, recChunk - 1, recChunk, recChunk + 1, len(model) - 1, len(model)} {
		got := l.slice(from)
		tail := l.from(from)
		if len(got) != len(model)-from || tail.len() != len(model)-from {
			t.Fatalf("from %d: slice has %d, from has %d, want %d", from, len(got), tail.len(), len(model)-from)
		}
		for i := range got {
			if got[i].Seq != model[from+i].Seq || tail.at(i).Seq != model[from+i].Seq {
				t.Fatalf("from %d: record %d: slice %d, from %d, want %d", from, i, got[i].Seq, tail.at(i).Seq, model[from+i].Seq)
			}
		}
	}
}
