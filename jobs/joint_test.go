package jobs

import (
	"errors"
	"testing"
)

// TestSaveWithMetas: new jobs and meta records written together are both
// there, on both stores; a batch with an empty record writes neither; a
// later Save of one of those jobs wins over the joint write (the bolt
// store writes the joint batch to drover.db, the Save to the log).
func TestSaveWithMetas(t *testing.T) {
	for _, impl := range storeImpls {
		t.Run(impl.name, func(t *testing.T) {
			dir := t.TempDir()
			s := impl.open(t, dir)
			js := s.(JointSaver)
			ms := s.(MetaStore)
			old := []*Job{storeJob(1), storeJob(2)}
			save(t, s, old...)

			bad := append(Records(storeJob(3)), Record{Seq: 4})
			if err := js.SaveWithMetas(bad, []MetaRecord{{Bucket: "sched", Key: "a", Val: []byte("bad")}}); !errors.Is(err, ErrEmptyRecord) {
				t.Fatalf("SaveWithMetas with an empty record = %v, want ErrEmptyRecord", err)
			}
			if v, err := ms.GetMeta("sched", "a"); err != nil || v != nil {
				t.Fatalf("after a refused SaveWithMetas the meta record is %q (%v)", v, err)
			}
			wantJobs(t, loadAll(t, s), old)

			fresh := []*Job{storeJob(5), storeJob(3)}
			metas := []MetaRecord{{Bucket: "sched", Key: "a", Val: []byte("fired")}, {Bucket: "sched", Key: "gone"}}
			if err := js.SaveWithMetas(Records(fresh...), metas); err != nil {
				t.Fatal(err)
			}
			want := []*Job{old[0], old[1], fresh[1], fresh[0]}
			wantJobs(t, loadAll(t, s), want)
			if v, err := ms.GetMeta("sched", "a"); err != nil || string(v) != "fired" {
				t.Fatalf("meta record %q (%v), want fired", v, err)
			}
			if hw := HighWater(s); hw < 5 {
				t.Fatalf("high water %d, want >= 5", hw)
			}

			changed := fresh[0].Clone()
			changed.Spec.Priority = 42
			save(t, s, changed)
			want[3] = changed
			wantJobs(t, loadAll(t, s), want)

			b, ok := s.(*BoltStore)
			if !ok {
				return
			}
			// After a crash: the joint write from drover.db, the later
			// Save from the log replayed over it.
			b.crash()
			r, err := CheckDataDir(dir)
			if err != nil || !r.Sound() {
				t.Fatalf("check after a crash: %+v, %v", r, err)
			}
			s = openBolt(t, dir)
			wantJobs(t, loadAll(t, s), want)
			if v, err := s.(MetaStore).GetMeta("sched", "a"); err != nil || string(v) != "fired" {
				t.Fatalf("meta record after a crash %q (%v), want fired", v, err)
			}
			if hw := HighWater(s); hw < 5 {
				t.Fatalf("high water after a crash %d, want >= 5", hw)
			}
			live := 0
			if err := s.(*BoltStore).LoadLive(func(uint64, []byte) error { live++; return nil }); err != nil || live != 4 {
				t.Fatalf("%d live jobs after a crash (%v), want 4", live, err)
			}
		})
	}
}
