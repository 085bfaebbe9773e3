package jobs

import (
	"math/rand/v2"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestLoadLiveModel: seeded random saves of live and finished jobs,
// deletions, checkpoints, crashes and clean stops; after each step
// LoadLive must give every live job's latest record (Load's), and
// nothing that is not a latest record.
func TestLoadLiveModel(t *testing.T) {
	smallSegments(t, 64<<10)
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 9))
		dir := t.TempDir()
		s := openBolt(t, dir)
		states := map[uint64]State{}
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for step := 0; step < 120; step++ {
			switch r := rng.IntN(10); {
			case r < 6: // a batch of new or updated jobs
				batch := saveSome(t, rng, s, func() *Job {
					j := storeJob(uint64(1 + rng.IntN(300)))
					j.State = []State{Pending, Running, Succeeded, Failed, Cancelled}[rng.IntN(5)]
					j.Updated = at.Add(time.Duration(step) * time.Second)
					return j
				})
				for _, j := range batch {
					states[j.Seq] = j.State
				}
			case r < 7 && len(states) > 0:
				deleteSome(t, rng, s, states)
			case r < 8:
				s = reopen(t, s, dir, true, nil)
			case r < 9:
				s = reopen(t, s, dir, false, nil)
			default:
				s.signal() // a checkpoint, now and then
			}
			latest := map[uint64]string{}
			if err := s.Load(func(seq uint64, data []byte) error { latest[seq] = string(data); return nil }); err != nil {
				t.Fatal(err)
			}
			got := map[uint64]bool{}
			err := s.LoadLive(func(seq uint64, data []byte) error {
				if latest[seq] != string(data) {
					t.Fatalf("seed %d step %d: LoadLive gave job %d a record that is not its latest", seed, step, seq)
				}
				got[seq] = true
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for seq, st := range states {
				if !st.Final() && !got[seq] {
					t.Fatalf("seed %d step %d: live job %d (%s) missing from LoadLive", seed, step, seq, st)
				}
			}
		}
		s.Close()
	}
}

// TestLiveIndexBuilt: a drover.db without the live index (an older
// drover's) has it built when the store opens.
func TestLiveIndexBuilt(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir)
	live, done := storeJob(1), storeJob(2)
	done.State = Succeeded
	save(t, s, live, done)
	s.Close()
	db, err := bolt.Open(dir+"/"+BoltFile, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(liveBucket); err != nil {
			return err
		}
		return tx.Bucket(storeBucket).Delete(liveMark)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = openBolt(t, dir)
	var got []uint64
	if err := s.LoadLive(func(seq uint64, _ []byte) error { got = append(got, seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("LoadLive after the index was rebuilt: %v, want [1]", got)
	}
}
