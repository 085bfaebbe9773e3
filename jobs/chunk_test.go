package jobs

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestCheckpointCutBetweenChunks: a checkpoint written in chunks and cut
// after some of them (the file has part of a segment, its state from
// before), then a crash. The data dir checks sound, and a start has every
// acknowledged record, updates and deletes included, and the high-water
// mark; the next checkpoint, whole, leaves nothing behind.
func TestCheckpointCutBetweenChunks(t *testing.T) {
	for _, cut := range []int{1, 2, 5} {
		testSegments(t, 12<<10)
		oldChunk := checkpointChunk
		checkpointChunk = 3
		// At the cut, the checkpointer stops until the test has copied
		// the data dir: the copy is what a kill -9 there leaves.
		var chunks atomic.Int32
		reached, release := make(chan struct{}), make(chan struct{})
		checkpointHook = func() error {
			if chunks.Add(1) == int32(cut) {
				close(reached)
				<-release
			}
			return nil
		}
		t.Cleanup(func() { checkpointChunk, checkpointHook = oldChunk, nil })

		dir := t.TempDir()
		s, err := OpenBolt(dir)
		if err != nil {
			t.Fatal(err)
		}
		h := &acked{}
		for b := range 12 {
			var js []*Job
			for i := range 6 {
				js = append(js, storeJob(uint64(b*6+i+1)))
			}
			if b > 2 {
				u := storeJob(uint64(b*6 - 8))
				u.Spec.Priority = 100 + b
				js = append(js, u)
			}
			h.save(t, s, js...)
		}
		if err := s.Delete([]uint64{4, 5}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-reached:
		case <-time.After(10 * time.Second):
			t.Fatalf("cut %d: no checkpoint reached chunk %d", cut, cut)
		}
		crashed := copyDir(t, dir)
		close(release)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		checkpointHook = nil
		dir = crashed

		rep, err := CheckDataDir(dir)
		if err != nil || len(rep.Damage) > 0 {
			t.Fatalf("cut %d: check: damage %v, %v", cut, rep.Damage, err)
		}
		want := h.state(nil)
		delete(want, 4)
		delete(want, 5)
		s, err = OpenBolt(dir)
		if err != nil {
			t.Fatalf("cut %d: reopen: %v", cut, err)
		}
		if d := sameRecords(loadRecords(t, s), want); d != "" {
			t.Fatalf("cut %d: after the crash: %s", cut, d)
		}
		if hw := HighWater(s); hw != h.highest() {
			t.Fatalf("cut %d: high water %d, want %d", cut, hw, h.highest())
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = OpenBolt(dir)
		if err != nil {
			t.Fatalf("cut %d: reopen after close: %v", cut, err)
		}
		if d := sameRecords(loadRecords(t, s), want); d != "" {
			t.Fatalf("cut %d: after a clean stop: %s", cut, d)
		}
		s.Close()
	}
}
