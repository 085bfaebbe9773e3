package master

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestFIFOAgainstASlice: random pushes and pops in runs long enough to
// span many blocks, against a plain slice; no popped entry stays
// reachable from the queue's blocks, and a drained queue holds none.
func TestFIFOAgainstASlice(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		var f fifo[*int]
		var model []*int
		next := 0
		for step := range 20000 {
			if r.IntN(100) < 52 || len(model) == 0 { // drifts up, then drains below
				v := next
				next++
				f.push(&v)
				model = append(model, &v)
			} else {
				if got, want := **f.front(), *model[0]; got != want {
					t.Fatalf("seed %d step %d: front %d, want %d", seed, step, got, want)
				}
				if got, want := f.pop(), model[0]; got != want {
					t.Fatalf("seed %d step %d: pop %d, want %d", seed, step, *got, *want)
				}
				model = model[1:]
			}
			if f.len() != len(model) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, f.len(), len(model))
			}
			if step%97 == 0 {
				checkFIFO(t, &f, model)
			}
		}
		for len(model) > 0 {
			if got := f.pop(); got != model[0] {
				t.Fatalf("seed %d: draining: pop %d, want %d", seed, *got, *model[0])
			}
			model = model[1:]
		}
		checkFIFO(t, &f, nil)
		if len(f.blocks) != 0 {
			t.Fatalf("seed %d: drained queue holds %d blocks", seed, len(f.blocks))
		}
	}
}

// checkFIFO checks that f holds model in order, in blocks no fuller than
// fifoBlock, and keeps no popped entry.
func checkFIFO(t *testing.T, f *fifo[*int], model []*int) {
	t.Helper()
	var held []*int
	for i, b := range f.blocks {
		if cap(b) != fifoBlock || (i < len(f.blocks)-1 && len(b) != fifoBlock) {
			t.Fatalf("block %d of %d: length %d, capacity %d", i, len(f.blocks), len(b), cap(b))
		}
		from := 0
		if i == 0 {
			from = f.head
			if j := slices.IndexFunc(b[:f.head], func(p *int) bool { return p != nil }); j >= 0 {
				t.Fatalf("popped entry %d still held", j)
			}
		}
		held = append(held, b[from:]...)
	}
	if j := slices.IndexFunc(f.spare[:cap(f.spare)], func(p *int) bool { return p != nil }); j >= 0 {
		t.Fatalf("the spare block holds entry %d", j)
	}
	if !slices.Equal(held, model) {
		t.Fatalf("queue holds %d entries, differing from the model's %d", len(held), len(model))
	}
}
