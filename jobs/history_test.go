package jobs

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHistoryStoreModel drives both stores with random saves, deletes,
// reads and walks (and, for bolt, crashes and clean restarts with small
// log segments, so that records sit in the log, in sealed segments and in
// the bbolt file), checking every read against a map.
func TestHistoryStoreModel(t *testing.T) {
	for seed := range uint64(6) {
		for _, kind := range []string{"mem", "bolt"} {
			testHistoryModel(t, seed, kind)
		}
	}
}

func testHistoryModel(t *testing.T, seed uint64, kind string) {
	r := rand.New(rand.NewPCG(seed, 7))
	dir := t.TempDir()
	open := func() HistoryStore {
		if kind == "mem" {
			return NewMemStore()
		}
		s, err := OpenBolt(dir)
		if err != nil {
			t.Fatalf("seed %d: reopen: %v", seed, err)
		}
		return s
	}
	if kind == "bolt" {
		testSegments(t, 4<<10)
	}
	s := open()
	model := map[uint64][]byte{}
	version := map[uint64]int{}
	record := func(q uint64) []byte {
		version[q]++
		j := storeJob(q)
		j.Spec.Priority = version[q]
		return j.AppendRecord(nil)
	}
	for step := range 400 {
		switch op := r.IntN(10); {
		case op < 4: // a batch of new and updated records
			var batch []Record
			for range 1 + r.IntN(8) {
				q := 1 + r.Uint64N(300)
				d := record(q)
				batch = append(batch, Record{Seq: q, Data: d})
				model[q] = d
			}
			if err := s.Save(batch); err != nil {
				t.Fatalf("seed %d %s step %d: save: %v", seed, kind, step, err)
			}
		case op < 6:
			var del []uint64
			for range 1 + r.IntN(6) {
				q := 1 + r.Uint64N(320)
				del = append(del, q)
				delete(model, q)
			}
			if err := s.Delete(del); err != nil {
				t.Fatalf("seed %d %s step %d: delete: %v", seed, kind, step, err)
			}
		case op < 7:
			q := 1 + r.Uint64N(320)
			got, err := s.Get(q)
			if err != nil || !bytes.Equal(got, model[q]) {
				t.Fatalf("seed %d %s step %d: get %d: %d bytes, %v; want %d bytes", seed, kind, step, q, len(got), err, len(model[q]))
			}
		case op < 9:
			checkWalk(t, s, model, r.Uint64N(330), r.IntN(2) == 0, r.IntN(400))
		default:
			if kind == "bolt" {
				if r.IntN(2) == 0 {
					s.(*BoltStore).crash()
				} else if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = open()
				got := map[uint64][]byte{}
				if err := s.Load(func(q uint64, d []byte) error { got[q] = slices.Clone(d); return nil }); err != nil {
					t.Fatal(err)
				}
				if len(got) != len(model) {
					t.Fatalf("seed %d step %d: %d records after a restart, want %d", seed, step, len(got), len(model))
				}
				for q, d := range model {
					if !bytes.Equal(got[q], d) {
						t.Fatalf("seed %d step %d: record %d after a restart differs", seed, step, q)
					}
				}
			}
		}
	}
	if kind == "bolt" {
		s.(*BoltStore).crash()
		rep, err := CheckDataDir(dir)
		if err != nil || !rep.Sound() || rep.Records != len(model) {
			t.Fatalf("seed %d: check after deletes: %+v, %v; want sound with %d records", seed, rep, err, len(model))
		}
		return
	}
	s.Close()
}

// checkWalk compares Descend(bound) or Ascend(bound), stopped after n
// records, with the model.
func checkWalk(t *testing.T, s HistoryStore, model map[uint64][]byte, bound uint64, desc bool, n int) {
	t.Helper()
	var want []uint64
	for q := range model {
		if (desc && (bound == 0 || q < bound)) || (!desc && q > bound) {
			want = append(want, q)
		}
	}
	slices.Sort(want)
	if desc {
		slices.Reverse(want)
	}
	want = want[:min(n, len(want))]
	var got []uint64
	fn := func(q uint64, d []byte) bool {
		if len(got) == n {
			return false
		}
		if !bytes.Equal(d, model[q]) {
			t.Fatalf("walk: record %d differs: %d bytes, want %d", q, len(d), len(model[q]))
		}
		got = append(got, q)
		return true
	}
	var err error
	if desc {
		err = s.Descend(bound, fn)
	} else {
		err = s.Ascend(bound, fn)
	}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("walk from %d (desc %v, %d): %v, %v; want %v", bound, desc, n, got, err, want)
	}
}
