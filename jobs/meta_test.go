package jobs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMetaRangeModel drives SaveMeta, SaveMetas, GetMeta and RangeMeta
// with random steps against a map, on both stores; the bolt store is
// closed and opened again now and then (what SaveMetas returned must be
// there after it).
func TestMetaRangeModel(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			seeds := uint64(20)
			if impl.name == "bolt" {
				seeds = 3 // a commit is an fsync
			}
			for seed := uint64(1); seed <= seeds; seed++ {
				metaModelRun(t, impl, seed)
			}
		})
	}
}

func metaModelRun(t *testing.T, impl storeImpl, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	dir := t.TempDir()
	s := impl.open(t, dir)
	ms := s.(MetaStore)
	model := map[string]map[string]string{"a": {}, "b": {}}
	key := func() string { return fmt.Sprintf("k%02d", rng.IntN(40)) }
	bucket := func() string { return []string{"a", "b"}[rng.IntN(2)] }
	for step := 0; step < 200; step++ {
		switch r := rng.IntN(10); {
		case r < 3: // one record
			b, k := bucket(), key()
			var v []byte
			if rng.IntN(4) > 0 {
				v = fmt.Appendf(nil, "v%d", step)
			}
			if err := ms.SaveMeta(b, k, v); err != nil {
				t.Fatalf("seed %d step %d: SaveMeta: %v", seed, step, err)
			}
			if v == nil {
				delete(model[b], k)
			} else {
				model[b][k] = string(v)
			}
		case r < 6: // a batch, over both buckets, a key twice now and then
			var recs []MetaRecord
			for range rng.IntN(6) {
				rec := MetaRecord{Bucket: bucket(), Key: key()}
				if rng.IntN(4) > 0 {
					rec.Val = fmt.Appendf(nil, "w%d.%d", step, len(recs))
				}
				recs = append(recs, rec)
			}
			if err := ms.SaveMetas(recs); err != nil {
				t.Fatalf("seed %d step %d: SaveMetas: %v", seed, step, err)
			}
			for _, rec := range recs {
				if rec.Val == nil {
					delete(model[rec.Bucket], rec.Key)
				} else {
					model[rec.Bucket][rec.Key] = string(rec.Val)
				}
			}
		case r < 7 && impl.name == "bolt":
			s.Close()
			s = impl.open(t, dir)
			ms = s.(MetaStore)
		case r < 8:
			b, k := bucket(), key()
			v, err := ms.GetMeta(b, k)
			want, ok := model[b][k]
			if err != nil || (v != nil) != ok || string(v) != want {
				t.Fatalf("seed %d step %d: GetMeta(%s, %s) = %q, %v; want %q (%v)", seed, step, b, k, v, err, want, ok)
			}
		default:
			b, desc, limit := bucket(), rng.IntN(2) == 0, 1+rng.IntN(8)
			from := ""
			if rng.IntN(3) > 0 {
				from = key()
				if rng.IntN(4) == 0 {
					from += "x" // between two keys
				}
			}
			var got []string
			err := ms.RangeMeta(b, from, desc, func(k string, v []byte) bool {
				got = append(got, k+"="+string(bytes.Clone(v)))
				return len(got) < limit
			})
			if err != nil {
				t.Fatalf("seed %d step %d: RangeMeta: %v", seed, step, err)
			}
			var want []string
			for k, v := range model[b] {
				if from == "" || (!desc && k > from) || (desc && k < from) {
					want = append(want, k+"="+v)
				}
			}
			slices.Sort(want)
			if desc {
				slices.Reverse(want)
			}
			want = want[:min(limit, len(want))]
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: RangeMeta(%s, %q, desc %v) = %v, want %v", seed, step, b, from, desc, got, want)
			}
		}
	}
	s.Close()
}
