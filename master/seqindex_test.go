package master

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/drover/drover/jobs"
)

// TestSeqIndexModel checks seqIndex against a map under random puts and
// removes, and its walks in both directions from random cursors.
func TestSeqIndexModel(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		var x seqIndex
		model := map[uint64]*jobs.Job{}
		span := uint64(1 + r.IntN(5)*seqPageLen)
		for range 3000 {
			seq := 1 + r.Uint64N(span)
			if r.IntN(3) == 0 {
				x.remove(seq)
				delete(model, seq)
			} else {
				j := &jobs.Job{Seq: seq, ID: strconv.FormatUint(seq, 10)}
				x.put(j)
				model[seq] = j
			}
			if x.len() != len(model) {
				t.Fatalf("seed %d: len %d, model %d", seed, x.len(), len(model))
			}
		}
		keys := slices.Sorted(func(yield func(uint64) bool) {
			for k := range model {
				if !yield(k) {
					return
				}
			}
		})
		for range 50 {
			c := r.Uint64N(span + 2)
			var up, down []uint64
			x.ascend(c, func(j *jobs.Job) bool { up = append(up, j.Seq); return true })
			x.descend(c, func(j *jobs.Job) bool { down = append(down, j.Seq); return true })
			var wantUp, wantDown []uint64
			for _, k := range keys {
				if k > c {
					wantUp = append(wantUp, k)
				}
				if c == 0 || k < c {
					wantDown = append(wantDown, k)
				}
			}
			slices.Reverse(wantDown)
			if !slices.Equal(up, wantUp) || !slices.Equal(down, wantDown) {
				t.Fatalf("seed %d cursor %d: ascend %v want %v; descend %v want %v", seed, c, up, wantUp, down, wantDown)
			}
		}
		for seq := range span + 2 {
			if got := x.get(seq); got != model[seq] {
				t.Fatalf("seed %d: get(%d) = %v, want %v", seed, seq, got, model[seq])
			}
		}
		for k := range model {
			x.remove(k)
		}
		if x.len() != 0 || len(x.pages) != 0 {
			t.Fatalf("seed %d: emptied index keeps %d jobs, %d pages", seed, x.len(), len(x.pages))
		}
	}
}

// TestSeqPageSize: a page of the index is exactly the largest small-object
// size; one byte more would make it a large object of 40 KiB.
func TestSeqPageSize(t *testing.T) {
	if n := unsafe.Sizeof(seqPage{}); n != 32768 {
		t.Errorf("seqPage is %d bytes, want 32768", n)
	}
}
