package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// storeImpl names a Store implementation for the conformance tests. open
// returns a fresh store in dir.
type storeImpl struct {
	name string
	open func(tb testing.TB, dir string) Store
}

var storeImpls = []storeImpl{
	{"mem", func(tb testing.TB, dir string) Store { return NewMemStore() }},
	{"bolt", func(tb testing.TB, dir string) Store { return openBolt(tb, dir) }},
}

// openBolt opens a BoltStore in dir, closing it when the test ends.
func openBolt(tb testing.TB, dir string) *BoltStore {
	tb.Helper()
	s, err := OpenBolt(dir)
	if err != nil {
		tb.Fatalf("OpenBolt: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// storeJob makes a job with every field set, so a lossy store shows. Times
// are UTC without a monotonic reading, so they survive a JSON round trip
// and compare with reflect.DeepEqual.
func storeJob(seq uint64) *Job {
	at := time.Date(2025, 3, 1, 12, 0, 0, int(seq)*1000+123, time.UTC)
	j := &Job{
		ID:  fmt.Sprintf("job-%d", seq),
		Seq: seq,
		Spec: Spec{
			Type:     "crawl",
			Args:     map[string]string{"spider": fmt.Sprint("s", seq), "urls": "a b\nc", "unicode": "✓"},
			Priority: int(seq%3) - 1,
			Retries:  2,
			Timeout:  90 * time.Second,
			Group:    "g",
			Key:      fmt.Sprint("k", seq),
		},
		State:     Pending,
		Submitted: at,
		Updated:   at,
	}
	j.Log(at, "submitted")
	if seq%2 == 0 {
		j.Lease("w1", at.Add(time.Second))
		j.Finish(Report{Attempt: j.Attempt, Outcome: Error, Error: "exit 3", Result: Result{ExitCode: 3, Output: "tail", Data: "{}"}},
			at.Add(2*time.Second), fixedBackoff)
		j.Lease("w2", j.NotBefore)
	}
	return j
}

// loadAll loads every job from s.
func loadAll(tb testing.TB, s Store) []*Job {
	tb.Helper()
	var out []*Job
	if err := LoadJobs(s, func(j *Job) error { out = append(out, j); return nil }); err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return out
}

// wantJobs fails the test unless got deep-equals want.
func wantJobs(tb testing.TB, got, want []*Job) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("loaded %d jobs, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			tb.Fatalf("job %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func save(tb testing.TB, s Store, batch ...*Job) {
	tb.Helper()
	if err := s.Save(Records(batch...)); err != nil {
		tb.Fatalf("Save: %v", err)
	}
}

// saveSome saves, in one Save, 1 to 20 jobs (as rng picks) that job
// makes, and returns them.
func saveSome(tb testing.TB, rng *rand.Rand, s Store, job func() *Job) []*Job {
	tb.Helper()
	batch := make([]*Job, 1+rng.IntN(20))
	for i := range batch {
		batch[i] = job()
	}
	save(tb, s, batch...)
	return batch
}

// reopen stops s, by a crash if crash is set and else by Close, runs shut
// (when not nil) while it is stopped, and opens the store in dir again.
func reopen(tb testing.TB, s *BoltStore, dir string, crash bool, shut func()) *BoltStore {
	tb.Helper()
	if crash {
		s.crash()
	} else {
		s.Close()
	}
	if shut != nil {
		shut()
	}
	return openBolt(tb, dir)
}

// deleteSome deletes about a quarter of model's jobs, picked with rng,
// from s and from model.
func deleteSome[V any](tb testing.TB, rng *rand.Rand, s *BoltStore, model map[uint64]V) {
	tb.Helper()
	var seqs []uint64
	for seq := range model {
		if rng.IntN(4) == 0 {
			seqs = append(seqs, seq)
			delete(model, seq)
		}
	}
	if err := s.Delete(seqs); err != nil {
		tb.Fatal(err)
	}
}

func clones(js []*Job) []*Job {
	out := make([]*Job, len(js))
	for i, j := range js {
		out[i] = j.Clone()
	}
	return out
}

func TestStoreConformance(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			t.Run("empty", func(t *testing.T) {
				s := impl.open(t, t.TempDir())
				if got := loadAll(t, s); len(got) != 0 {
					t.Fatalf("new store holds %d jobs", len(got))
				}
				save(t, s) // an empty batch is fine
			})
			t.Run("save and load in seq order", func(t *testing.T) {
				s := impl.open(t, t.TempDir())
				// Saved out of order and over several batches, including
				// Seq values that sort wrongly as strings or little-endian.
				seqs := []uint64{300, 2, 1, 256, 10, 65536, 3, 1 << 40}
				var want []*Job
				for _, q := range []uint64{1, 2, 3, 10, 256, 300, 65536, 1 << 40} {
					want = append(want, storeJob(q))
				}
				var batch []*Job
				for _, q := range seqs[:4] {
					batch = append(batch, storeJob(q))
				}
				save(t, s, batch...)
				batch = batch[:0]
				for _, q := range seqs[4:] {
					batch = append(batch, storeJob(q))
				}
				save(t, s, batch...)
				wantJobs(t, loadAll(t, s), want)
			})
			t.Run("save replaces by seq", func(t *testing.T) {
				s := impl.open(t, t.TempDir())
				a, b := storeJob(1), storeJob(2)
				save(t, s, a, b)
				b2 := b.Clone()
				b2.Finish(Report{Attempt: b2.Attempt, Outcome: OK}, b2.Updated.Add(time.Minute), fixedBackoff)
				save(t, s, b2)
				wantJobs(t, loadAll(t, s), []*Job{a, b2})
				// Same Seq twice in one batch: the last one wins.
				a2, a3 := a.Clone(), a.Clone()
				a2.Spec.Priority, a3.Spec.Priority = 50, 60
				save(t, s, a2, a3)
				wantJobs(t, loadAll(t, s), []*Job{a3, b2})
			})
			t.Run("loaded jobs are copies", func(t *testing.T) {
				s := impl.open(t, t.TempDir())
				j := storeJob(2)
				want := j.Clone()
				save(t, s, j)
				got := loadAll(t, s)
				wantJobs(t, got, []*Job{want})
				// Mutating a loaded job does not change the store.
				got[0].Spec.Args["spider"] = "mutated again"
				got[0].Attempts[0].Worker = "x"
				wantJobs(t, loadAll(t, s), []*Job{want})
			})
			t.Run("load stops at first error", func(t *testing.T) {
				s := impl.open(t, t.TempDir())
				save(t, s, storeJob(1), storeJob(2), storeJob(3))
				stop := errors.New("stop")
				var seen []uint64
				err := LoadJobs(s, func(j *Job) error {
					seen = append(seen, j.Seq)
					if j.Seq == 2 {
						return stop
					}
					return nil
				})
				if !errors.Is(err, stop) {
					t.Fatalf("Load = %v, want the callback's error", err)
				}
				if !reflect.DeepEqual(seen, []uint64{1, 2}) {
					t.Fatalf("callback saw %v, want [1 2]", seen)
				}
			})
			t.Run("closed", func(t *testing.T) {
				s := impl.open(t, t.TempDir())
				save(t, s, storeJob(1))
				if err := s.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if err := s.Close(); err != nil {
					t.Fatalf("second Close: %v", err)
				}
				if err := s.Save(Records(storeJob(2))); !errors.Is(err, ErrClosed) {
					t.Errorf("Save after Close = %v, want ErrClosed", err)
				}
				if err := LoadJobs(s, func(*Job) error { return nil }); err == nil {
					t.Errorf("Load after Close = nil, want an error")
				}
			})
		})
	}
}

// TestStoreClosedIsErrClosed holds every store to the ErrClosed contract
// ("ErrClosed is returned by a Store used after Close"), for Load and for an
// empty Save too.
func TestStoreClosedIsErrClosed(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.open(t, t.TempDir())
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var problems []string
			if err := LoadJobs(s, func(*Job) error { return nil }); !errors.Is(err, ErrClosed) {
				problems = append(problems, fmt.Sprintf("Load after Close = %v, want ErrClosed", err))
			}
			if err := s.Save(nil); !errors.Is(err, ErrClosed) {
				problems = append(problems, fmt.Sprintf("Save(nil) after Close = %v, want ErrClosed", err))
			}
			if len(problems) > 0 {
				t.Error(strings.Join(problems, "; "))
			}
		})
	}
}

func TestBoltReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []*Job{storeJob(1), storeJob(2), storeJob(3)}
	save(t, s, clones(want)...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, BoltFile)); err != nil {
		t.Fatalf("store file: %v", err)
	}

	s = openBolt(t, dir)
	wantJobs(t, loadAll(t, s), want)
	// And it is writable after reopening.
	j4 := storeJob(4)
	save(t, s, j4)
	wantJobs(t, loadAll(t, s), append(want, j4))
}

func TestBoltCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := openBolt(t, dir)
	save(t, s, storeJob(1))
	if _, err := os.Stat(filepath.Join(dir, BoltFile)); err != nil {
		t.Fatal(err)
	}
}

func TestBoltLocked(t *testing.T) {
	dir := t.TempDir()
	openBolt(t, dir)
	start := time.Now()
	s2, err := OpenBolt(dir)
	took := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second OpenBolt on an open store succeeded")
	}
	if !strings.Contains(err.Error(), "locked") {
		t.Errorf("error %q does not mention %q", err, "locked")
	}
	if took > 2500*time.Millisecond {
		t.Errorf("second OpenBolt took %v to fail, want about 1s", took)
	}
	t.Logf("second open failed after %v: %v", took.Round(time.Millisecond), err)
}

// TestSaveAtomic checks that a batch with one bad record (no data) writes
// nothing, though the good records before it were already put in the
// transaction.
func TestSaveAtomic(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.open(t, t.TempDir())
			old := storeJob(1)
			save(t, s, old)
			changed := old.Clone()
			changed.Spec.Priority = 99
			batch := append(Records(changed, storeJob(3)), Record{Seq: 2})
			if err := s.Save(batch); !errors.Is(err, ErrEmptyRecord) {
				t.Fatalf("Save with an empty record = %v, want ErrEmptyRecord", err)
			}
			wantJobs(t, loadAll(t, s), []*Job{old})
		})
	}
}

// TestBoltCorrupt checks that a record that is not a job is reported, not
// skipped. It writes garbage through the bolt handle directly.
func TestBoltCorrupt(t *testing.T) {
	for _, bad := range []string{"{not json", "\x01\x02", "\x07version", "x"} {
		s := openBolt(t, t.TempDir())
		save(t, s, storeJob(1))
		err := s.db.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(jobsBucket).Put(seqKey(2), []byte(bad))
		})
		if err != nil {
			t.Fatal(err)
		}
		err = LoadJobs(s, func(*Job) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "stored job seq 2") || !errors.Is(err, ErrRecord) {
			t.Fatalf("Load of corrupt record %q = %v, want a stored-job ErrRecord", bad, err)
		}
	}
}

// TestBoltLoadsJSONRecords checks that a store written with JSON records
// (before the binary record) still loads, and mixes with binary ones.
func TestBoltLoadsJSONRecords(t *testing.T) {
	s := openBolt(t, t.TempDir())
	old, cur := storeJob(1), storeJob(2)
	js, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(jobsBucket).Put(seqKey(1), js) }); err != nil {
		t.Fatal(err)
	}
	save(t, s, cur)
	wantJobs(t, loadAll(t, s), []*Job{old, cur})
}

func TestMemStoreLen(t *testing.T) {
	m := NewMemStore()
	save(t, m, storeJob(1), storeJob(2), storeJob(1))
	if m.Len() != 2 {
		t.Errorf("Len = %d, want 2", m.Len())
	}
}

// BenchmarkBoltSave saves batches of new jobs (fresh Seqs: a submit) and
// of the same jobs again (a master updating live jobs).
func BenchmarkBoltSave(b *testing.B) {
	for _, mode := range []string{"new", "rewrite"} {
		for _, n := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/batch=%d", mode, n), func(b *testing.B) {
				s := openBolt(b, b.TempDir())
				js := make([]*Job, n)
				for i := range js {
					js[i] = storeJob(uint64(i + 1))
				}
				batch := Records(js...)
				saved := 0
				for b.Loop() {
					if mode == "new" {
						for _, j := range js {
							j.Seq += uint64(n)
						}
						batch = Records(js...)
					}
					if err := s.Save(batch); err != nil {
						b.Fatal(err)
					}
					saved += n
				}
				b.ReportMetric(float64(saved)/b.Elapsed().Seconds(), "jobs/s")
			})
		}
	}
}

func TestMetaStore(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			dir := t.TempDir()
			s := impl.open(t, dir)
			ms, ok := s.(MetaStore)
			if !ok {
				t.Fatalf("%s store does not implement MetaStore", impl.name)
			}
			for _, kv := range [][2]string{{"b", "2"}, {"a", "1"}, {"c", "3"}} {
				if err := ms.SaveMeta("sched", kv[0], []byte(kv[1])); err != nil {
					t.Fatal(err)
				}
			}
			if err := ms.SaveMeta("sched", "c", nil); err != nil {
				t.Fatal(err)
			}
			var got []string
			ms.LoadMeta("sched", func(k string, v []byte) error { got = append(got, k+"="+string(v)); return nil })
			if strings.Join(got, ",") != "a=1,b=2" {
				t.Fatalf("meta %v", got)
			}
			got = nil
			ms.LoadMeta("other", func(k string, v []byte) error { got = append(got, k); return nil })
			if len(got) != 0 {
				t.Fatalf("empty bucket gave %v", got)
			}
			s.Close()
			if err := ms.SaveMeta("sched", "x", []byte("y")); !errors.Is(err, ErrClosed) {
				t.Fatalf("SaveMeta after Close: %v", err)
			}
		})
	}
}
