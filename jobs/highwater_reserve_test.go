package jobs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestHighWaterReservation: every acknowledged Save is covered by
// wal/highwater, at the cost of one write per reserveBlock new IDs; the
// running store's mark is the highest Seq saved; after a crash the store
// numbers above the reservation, after Close right after the mark.
func TestHighWaterReservation(t *testing.T) {
	old := reserveBlock
	reserveBlock = 25
	t.Cleanup(func() { reserveBlock = old })
	dir := t.TempDir()
	logDir := filepath.Join(dir, LogDir)
	file := func() uint64 {
		t.Helper()
		res, ok, err := readHighWaterFile(logDir)
		if !ok || err != nil {
			t.Fatalf("wal/highwater: %v %v", ok, err)
		}
		return res
	}
	s := openBolt(t, dir)
	h := &acked{}
	writes, last := 0, uint64(0)
	seq := uint64(0)
	for i := range 60 {
		n := []int{1, 3, 10, 1, 40}[i%5] // 40: a batch above the block
		var js []*Job
		for range n {
			seq++
			js = append(js, storeJob(seq))
		}
		if i%4 == 3 {
			js = append(js, storeJob(seq/2)) // an update of an older job
		}
		h.save(t, s, js...)
		res := file()
		if res < h.highest() {
			t.Fatalf("save %d: wal/highwater %d < %d, acknowledged", i, res, h.highest())
		}
		if res != last {
			writes++
			last = res
		}
		if s.HighWater() != h.highest() {
			t.Fatalf("save %d: running store's mark %d, want %d", i, s.HighWater(), h.highest())
		}
	}
	// Rewrites of saved jobs write no reservation.
	for range 5 {
		h.save(t, s, storeJob(seq-3), storeJob(7))
	}
	if file() != last {
		t.Fatalf("a rewrite moved wal/highwater from %d to %d", last, file())
	}
	if limit := int(seq/reserveBlock) + 1; writes > limit {
		t.Fatalf("%d reservations written for %d IDs in blocks of %d, want at most %d", writes, seq, reserveBlock, limit)
	}
	t.Logf("%d IDs, %d reservations, wal/highwater %d", seq, writes, last)

	// A crash: the store numbers above the reservation.
	s.crash()
	s = openBolt(t, dir)
	if hw := s.HighWater(); hw < last {
		t.Fatalf("after a crash: high-water mark %d, below the reservation %d", hw, last)
	}
	next := s.HighWater() + 1
	h.save(t, s, storeJob(next))
	if file() <= next {
		t.Fatalf("after saving %d: wal/highwater %d", next, file())
	}

	// Close: the file goes back to the mark, and a restart numbers on.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if file() != next {
		t.Fatalf("after Close: wal/highwater %d, want the mark %d", file(), next)
	}
	s = openBolt(t, dir)
	if hw := s.HighWater(); hw != next || !s.Recovery().CleanClose {
		t.Fatalf("after Close: high-water mark %d (clean %v), want %d", hw, s.Recovery().CleanClose, next)
	}
}

// TestHighWaterReserveFails: a Save whose reservation cannot be written
// fails and writes no frame; the next one, once the file can be written,
// goes through.
func TestHighWaterReserveFails(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir)
	save(t, s, storeJob(1))
	covered := HighWater(s) + reserveBlock
	save(t, s, storeJob(covered)) // still covered: no write
	// The temporary file's name taken by a directory that is not empty.
	tmp := filepath.Join(dir, LogDir, HighWaterFile+".tmp")
	if err := os.MkdirAll(filepath.Join(tmp, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := len(frames(t, segPath(dir, 0)))
	if err := s.Save(Records(storeJob(covered + 1))); err == nil {
		t.Fatal("Save succeeded without its reservation")
	}
	if n := len(frames(t, segPath(dir, 0))); n != before {
		t.Fatalf("a frame was written without its reservation: %d frames, %d before", n, before)
	}
	if s.HighWater() != covered {
		t.Fatalf("high-water mark %d after a failed Save, want %d", s.HighWater(), covered)
	}
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	save(t, s, storeJob(covered+1))
	if res, _, _ := readHighWaterFile(filepath.Join(dir, LogDir)); res <= covered+1 {
		t.Fatalf("wal/highwater %d after saving %d", res, covered+1)
	}
}
