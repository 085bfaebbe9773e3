package master

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestFIFOAgainstASlice: random pushes and pops in runs long enough to
// pass the compaction threshold, against a plain slice; no popped entry
// stays reachable from the queue's slice.
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
			if f.head > 1024 && f.head*2 > len(f.q) {
				t.Fatalf("seed %d step %d: head %d of %d left uncompacted", seed, step, f.head, len(f.q))
			}
			if step%97 == 0 {
				if i := slices.IndexFunc(f.q[:f.head], func(p *int) bool { return p != nil }); i >= 0 {
					t.Fatalf("seed %d step %d: popped entry %d still held", seed, step, i)
				}
				if !slices.Equal(f.q[f.head:], model) {
					t.Fatalf("seed %d step %d: queue differs from the model", seed, step)
				}
			}
		}
		for len(model) > 0 {
			if got := f.pop(); got != model[0] {
				t.Fatalf("seed %d: draining: pop %d, want %d", seed, *got, *model[0])
			}
			model = model[1:]
		}
		if f.len() != 0 || f.head != 0 || len(f.q) != 0 {
			t.Fatalf("seed %d: drained queue has head %d, len %d", seed, f.head, len(f.q))
		}
	}
}
