package jobs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLogIndexModel grows a source's records in random steps, indexing
// after each, and checks merged walks from random bounds, both ways, and
// finds against a map of the newest record of each Seq.
func TestLogIndexModel(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 11))
		var recs []Record
		var ix logIndex
		// A second, older source, so that merges span sources.
		var old []Record
		var oldList, list recList
		for i := range 50 + r.IntN(200) {
			old = append(old, Record{Seq: 1 + r.Uint64N(400), Data: []byte(fmt.Sprintf("old%d", i))})
			oldList.add(old[i])
		}
		oldIx := logIndex{}.extend(oldList)
		for step := range 60 {
			for range r.IntN(40) {
				recs = append(recs, Record{Seq: 1 + r.Uint64N(400), Data: []byte(fmt.Sprintf("s%d.%d", step, len(recs)))})
				list.add(recs[len(recs)-1])
			}
			ix = ix.extend(list)
			if got := len(ix.runs); got > 2*bitsLen(len(recs))+2 {
				t.Fatalf("seed %d step %d: %d runs for %d records", seed, step, got, len(recs))
			}
			want := map[uint64]string{}
			for _, rc := range old {
				want[rc.Seq] = string(rc.Data)
			}
			for _, rc := range recs {
				want[rc.Seq] = string(rc.Data)
			}
			var runs []sortedRun
			for _, x := range oldIx.runs {
				runs = append(runs, sortedRun{oldList, x})
			}
			for _, x := range ix.runs {
				runs = append(runs, sortedRun{list, x})
			}
			keys := make([]uint64, 0, len(want))
			for q := range want {
				keys = append(keys, q)
			}
			slices.Sort(keys)
			for range 5 {
				bound := r.Uint64N(420)
				desc := r.IntN(2) == 0
				var exp []uint64
				for _, q := range keys {
					if (!desc && q > bound) || (desc && (bound == 0 || q < bound)) {
						exp = append(exp, q)
					}
				}
				if desc {
					slices.Reverse(exp)
				}
				m := newRunMerge(runs, bound, desc)
				var got []uint64
				for _, ok := m.peek(); ok; _, ok = m.peek() {
					q, data := m.next()
					if string(data) != want[q] {
						t.Fatalf("seed %d step %d: seq %d: %q, want %q", seed, step, q, data, want[q])
					}
					got = append(got, q)
				}
				if !slices.Equal(got, exp) {
					t.Fatalf("seed %d step %d bound %d desc %v: walked %v, want %v", seed, step, bound, desc, got, exp)
				}
			}
			q := 1 + r.Uint64N(400)
			var found []byte
			for i := len(runs) - 1; i >= 0 && found == nil; i-- {
				found, _ = runs[i].find(q)
			}
			if string(found) != want[q] {
				t.Fatalf("seed %d step %d: find %d: %q, want %q", seed, step, q, found, want[q])
			}
		}
	}
}

func bitsLen(n int) int {
	k := 0
	for ; n > 0; n >>= 1 {
		k++
	}
	return k
}
