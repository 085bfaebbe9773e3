package jobs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
)

// The high-water mark must survive the loss of log frames: before a data
// dir's first checkpoint the frames were its only copy, and an outside
// tester got IDs handed out twice after cutting or deleting part of the
// log. wal/highwater now holds a reservation above every Seq acknowledged.

// wantNoReuse checks that nothing opened from the damaged dir dir would
// number a new job at or below an acknowledged Seq: OpenBolt's error, the
// check, the salvage, the salvaged dir's reservation and a store opened on
// it.
func wantNoReuse(t *testing.T, dir string, h *acked) {
	t.Helper()
	top := h.highest()
	s, err := OpenBolt(dir)
	var ce *CorruptError
	switch {
	case err == nil:
		s.Close()
		t.Fatal("OpenBolt of the damaged dir succeeded")
	case !errors.As(err, &ce):
		t.Fatalf("OpenBolt = %v, want a *CorruptError", err)
	case ce.HighWater < top:
		t.Errorf("OpenBolt's error: high-water mark %d < %d, the highest Seq acknowledged", ce.HighWater, top)
	}
	r, err := CheckDataDir(dir)
	if err != nil {
		t.Fatalf("CheckDataDir: %v", err)
	}
	if r.Sound() {
		t.Fatal("CheckDataDir found no damage")
	}
	if r.HighWater < top {
		t.Errorf("check: high-water mark %d < %d (%d jobs would load, highest %d)", r.HighWater, top, r.Records, r.HighestSeq)
	}
	dst := filepath.Join(t.TempDir(), "salvaged")
	rep, err := Salvage(dir, dst)
	if err != nil {
		t.Fatalf("Salvage: %v", err)
	}
	t.Logf("salvage: kept %d, high-water mark %d, lost %v %v", rep.Kept, rep.HighWater, rep.Lost.IDs, rep.Lost.Ranges)
	if rep.HighWater < top {
		t.Errorf("salvage: high-water mark %d < %d", rep.HighWater, top)
	}
	if res, ok, err := readHighWaterFile(filepath.Join(dst, LogDir)); !ok || err != nil || res < top {
		t.Errorf("salvaged wal/highwater: %d (%v, %v), want at least %d", res, ok, err, top)
	}
	s = openBolt(t, dst)
	hw := HighWater(s)
	if hw < top {
		t.Fatalf("a store on the salvaged dir numbers from %d: IDs %d..%d were acknowledged before", hw+1, hw+1, top)
	}
	// The next job, numbered above the mark, is reserved in its turn.
	save(t, s, storeJob(hw+1))
	if res, _, _ := readHighWaterFile(filepath.Join(dst, LogDir)); res <= hw {
		t.Fatalf("after saving job %d: wal/highwater %d", hw+1, res)
	}
}

// TestHighWaterTruncatedLog is the tester's first case: 100 jobs in 10
// acknowledged batches, kill -9 before any checkpoint (every job only in
// wal/0000000000000000.wal), then the segment truncated in the middle of
// a frame ("truncate -s 18500"), cutting it and every frame after it.
// Salvage kept jobs 1..60 with high-water mark 70, and a master on the
// salvaged dir handed out 71..100 again.
func TestHighWaterTruncatedLog(t *testing.T) {
	dir, h := crashedDir(t, 0, 10, 10, true)
	seg := segPath(dir, 0)
	fs := frames(t, seg)
	if len(fs) != 10 {
		t.Fatalf("%d frames, want 10", len(fs))
	}
	cut := fs[6] // LSN 7, jobs 61..70: it and LSN 8..10 go
	if err := os.Truncate(seg, cut.off+cut.size/2); err != nil {
		t.Fatal(err)
	}
	wantNoReuse(t, dir, h)
}

// segmentedDir makes a data dir as the tester's second case had it: 800
// jobs in batches of 10, checkpoints stuck so that everything stays in the
// log (as before a data dir's first checkpoint: drover.db's mark is 0),
// segments of about 50 frames. The log ends as segment 0 (full), segment
// 1 (the current one, with the newest frames) and segment 2 (the spare,
// empty); then the store crashes.
func segmentedDir(t *testing.T) (string, *acked) {
	t.Helper()
	const batches, per = 80, 10
	batch := func(from uint64) []*Job {
		js := make([]*Job, per)
		for i := range js {
			js[i] = storeJob(from + uint64(i))
		}
		return js
	}
	frame := appendFrameBody(make([]byte, frameHeader), Records(batch(401)...))
	testSegments(t, int64(walHeaderSize+50*len(frame)))
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.db.db.Close() // checkpoints fail: the segments stay
	h := &acked{}
	for b := range batches {
		h.save(t, s, batch(uint64(b*per+1))...)
	}
	poll.Until(t, 10*time.Second, "a spare segment after segment 1", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.spare != nil && s.seg.num == 1
	})
	s.crash()
	nums := segments(t, dir)
	if len(nums) != 3 || len(frames(t, segPath(dir, 1))) == 0 || len(frames(t, segPath(dir, 2))) != 0 {
		t.Fatalf("segments %v; want 0 and 1 with frames, 2 empty", nums)
	}
	if res, ok, _ := readHighWaterFile(filepath.Join(dir, LogDir)); ok {
		t.Logf("wal/highwater: %d", res)
	}
	return dir, h
}

// TestHighWaterMiddleSegmentGone is the tester's second case: 800 jobs
// over three segments, the middle one (the newest frames) deleted before
// any checkpoint. Salvage kept the jobs of segment 0 with their highest
// ID as the mark, and a master on the salvaged dir handed out the IDs of
// segment 1 again.
func TestHighWaterMiddleSegmentGone(t *testing.T) {
	dir, h := segmentedDir(t)
	if err := os.Remove(segPath(dir, 1)); err != nil {
		t.Fatal(err)
	}
	wantNoReuse(t, dir, h)
}

// TestHighWaterNewestSegmentsGone: the newest segments deleted whole (the
// one with the newest frames and the spare after it). Nothing is left to
// show that anything is missing, so OpenBolt opens the dir; it must still
// number above every Seq acknowledged.
func TestHighWaterNewestSegmentsGone(t *testing.T) {
	dir, h := segmentedDir(t)
	for _, n := range []uint64{1, 2} {
		if err := os.Remove(segPath(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	s := openBolt(t, dir)
	if hw := HighWater(s); hw < h.highest() {
		t.Fatalf("high-water mark %d after the newest segments went: IDs %d..%d would be handed out again", hw, hw+1, h.highest())
	}
}
