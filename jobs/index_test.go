package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
	bolt "go.etcd.io/bbolt"
)

// indexModelKeys are the keys TestWalkIndexModel asks for, with what each
// selects.
var indexModelKeys []indexModelKey

type indexModelKey struct {
	name string
	k    IndexKey
	sel  func(j *Job) bool
}

func init() {
	for _, st := range []State{Succeeded, Failed, Cancelled, Pending} {
		indexModelKeys = append(indexModelKeys, indexModelKey{"state " + string(st), ByState(st), func(j *Job) bool { return st.Final() && j.State == st }})
	}
	for _, typ := range []string{"crawl", "index", "x"} {
		indexModelKeys = append(indexModelKeys, indexModelKey{"type " + typ, ByType(typ), func(j *Job) bool { return j.Spec.Type == typ }},
			indexModelKey{"failed " + typ, ByStateType(Failed, typ), func(j *Job) bool { return j.State == Failed && j.Spec.Type == typ }})
	}
	for _, g := range []string{"g1", "g2"} {
		indexModelKeys = append(indexModelKeys, indexModelKey{"group " + g, ByGroup(g), func(j *Job) bool { return j.Spec.Group == g }})
	}
	for _, w := range []string{"w1", "w2", "w3"} {
		indexModelKeys = append(indexModelKeys, indexModelKey{"worker " + w, ByWorker(w), func(j *Job) bool {
			return j.Worker == w || slices.ContainsFunc(j.Attempts, func(a Attempt) bool { return a.Worker == w })
		}})
	}
}

// indexModelJob is job seq with random type, group, state and attempts.
func indexModelJob(rng *rand.Rand, seq uint64, step int) *Job {
	j := storeJob(seq)
	j.Spec.Type = []string{"crawl", "index", "x"}[rng.IntN(3)]
	j.Spec.Group = []string{"", "g1", "g2"}[rng.IntN(3)]
	j.State = []State{Pending, Running, Succeeded, Failed, Cancelled}[rng.IntN(5)]
	j.Worker = ""
	j.Attempts = nil
	for n := range rng.IntN(3) {
		j.Attempts = append(j.Attempts, Attempt{N: n + 1, Worker: fmt.Sprint("w", 1+rng.IntN(3)), Error: "e"})
	}
	if j.State == Running {
		j.Worker = fmt.Sprint("w", 1+rng.IntN(3))
	}
	j.Updated = time.Date(2026, 1, 1, 0, 0, step, 0, time.UTC)
	return j
}

// TestWalkIndexModel: seeded random saves (new jobs, changed state, type
// and workers), deletions, checkpoints, crashes, clean stops and indexes
// rebuilt from nothing (a drover.db of an older drover) while saves go
// on; after each step WalkIndex for every key, from random bounds both
// ways, must give exactly the model's jobs it selects, each with its
// latest record, and after a clean stop the index must hold exactly the
// keys of the jobs stored (none left behind by a change or a delete).
func TestWalkIndexModel(t *testing.T) {
	smallSegments(t, 64<<10)
	oldChunk := indexChunk
	indexChunk = 7
	t.Cleanup(func() { indexChunk = oldChunk })
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 21))
		dir := t.TempDir()
		s := openBolt(t, dir)
		model := map[uint64]*Job{}
		for step := range 150 {
			switch r := rng.IntN(12); {
			case r < 7:
				for _, j := range saveSome(t, rng, s, func() *Job { return indexModelJob(rng, indexModelSeq(rng), step) }) {
					model[j.Seq] = j
				}
			case r < 8 && len(model) > 0:
				deleteSome(t, rng, s, model)
			case r < 9:
				s = reopen(t, s, dir, true, nil)
			case r < 10:
				s = reopen(t, s, dir, false, func() { checkIndexKeys(t, dir, model) })
			case r < 11:
				s = reopen(t, s, dir, false, func() { stripIndex(t, dir) })
				// Saves while the index is built.
				j := indexModelJob(rng, indexModelSeq(rng), step)
				model[j.Seq] = j
				save(t, s, j)
			default:
				s.signal()
			}
			awaitIndex(t, s)
			checkWalkIndex(t, rng, s, model, fmt.Sprintf("seed %d step %d", seed, step))
		}
		s.Close()
		checkIndexKeys(t, dir, model)
	}
}

// indexModelSeq is a random Seq of 300, 37 apart: they spread over 44
// blocks of the index, most of which they fill in part.
func indexModelSeq(rng *rand.Rand) uint64 { return 37 * uint64(1+rng.IntN(300)) }

// awaitIndex waits until s's index is whole.
func awaitIndex(t *testing.T, s *BoltStore) {
	t.Helper()
	poll.Until(t, 10*time.Second, "the index to be built", s.db.indexed.Load)
}

func checkWalkIndex(t *testing.T, rng *rand.Rand, s *BoltStore, model map[uint64]*Job, at string) {
	t.Helper()
	for _, key := range indexModelKeys {
		for range 2 {
			bound := uint64(rng.IntN(310 * 37))
			desc := rng.IntN(2) == 0
			var want []uint64
			for seq, j := range model {
				if key.sel(j) && ((!desc && seq > bound) || (desc && (bound == 0 || seq < bound))) {
					want = append(want, seq)
				}
			}
			slices.Sort(want)
			if desc {
				slices.Reverse(want)
			}
			var got []uint64
			err := s.WalkIndex(key.k, bound, desc, func(seq uint64, data []byte) bool {
				j, err := DecodeRecord(data)
				if err != nil {
					t.Fatalf("%s: %s: job %d: %v", at, key.name, seq, err)
				}
				if m := model[seq]; m == nil || j.State != m.State || j.Spec.Type != m.Spec.Type || !j.Updated.Equal(m.Updated) {
					t.Fatalf("%s: %s: job %d is not its latest record", at, key.name, seq)
				}
				got = append(got, seq)
				return true
			})
			if err != nil {
				t.Fatalf("%s: %s: %v", at, key.name, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %s from %d (desc %v): %v, want %v", at, key.name, bound, desc, got, want)
			}
		}
	}
	// A walk stops where fn says.
	n := 0
	if err := s.WalkIndex(ByType("crawl"), 0, true, func(uint64, []byte) bool { n++; return false }); err != nil || n > 1 {
		t.Fatalf("%s: a walk told to stop went on: %d calls, %v", at, n, err)
	}
}

// checkIndexKeys checks, on a closed store, that the index holds exactly
// the keys of the jobs in the model: a bit for each, and no empty block.
func checkIndexKeys(t *testing.T, dir string, model map[uint64]*Job) {
	t.Helper()
	want := 0
	for _, j := range model {
		keys, ok := indexPrefixes(j.AppendRecord(nil))
		if !ok {
			t.Fatalf("job %d: its record has no index keys", j.Seq)
		}
		want += len(keys)
	}
	db, err := bolt.Open(dir+"/"+BoltFile, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := 0
	err = db.View(func(tx *bolt.Tx) error {
		ib := tx.Bucket(indexBucket)
		if ib == nil {
			return nil
		}
		return ib.ForEach(func(k, v []byte) error {
			if len(v) != blockBytes {
				t.Fatalf("index key %x holds %d bytes", k, len(v))
			}
			n := 0
			for _, c := range v {
				n += bits.OnesCount8(c)
			}
			if n == 0 {
				t.Fatalf("index key %x holds no job", k)
			}
			got += n
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("the index holds %d bits for %d jobs, want %d", got, len(model), want)
	}
}

// stripIndex makes dir's drover.db one without an index, as an older
// drover wrote it.
func stripIndex(t *testing.T, dir string) {
	t.Helper()
	db, err := bolt.Open(dir+"/"+BoltFile, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(indexBucket); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		return tx.Bucket(storeBucket).Delete(indexMark)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWalkIndexJSONRecords: a JSON record (an older store's) is indexed
// like a binary one.
func TestWalkIndexJSONRecords(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir)
	j := storeJob(5)
	j.State, j.Spec.Type = Failed, "crawl"
	j.Attempts = []Attempt{{N: 1, Worker: "w9"}}
	data, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save([]Record{{Seq: 5, Data: data}}); err != nil {
		t.Fatal(err)
	}
	awaitIndex(t, s)
	for _, k := range []IndexKey{ByState(Failed), ByType("crawl"), ByStateType(Failed, "crawl"), ByWorker("w9"), ByGroup("g")} {
		var got []uint64
		if err := s.WalkIndex(k, 0, true, func(seq uint64, _ []byte) bool { got = append(got, seq); return true }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []uint64{5}) {
			t.Fatalf("walk %q: %v, want [5]", k.prefix, got)
		}
	}
}

// indexPrefixes returns the index keys (without the Seq) of a record.
// ok is false for a record it cannot read; such a record has no keys.
func indexPrefixes(data []byte) (keys [][]byte, ok bool) {
	var ps prefixSet
	if !ps.of(data) {
		return nil, false
	}
	for i := range ps.n() {
		keys = append(keys, slices.Clone(ps.at(i)))
	}
	return keys, true
}
