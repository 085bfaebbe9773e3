package jobs

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
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
		if hw := HighWater(s); hw < h.highest() {
			t.Fatalf("cut %d: high water %d, want at least %d", cut, hw, h.highest())
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

// TestIdleFlush: an idle log's records go to the bbolt file and leave
// memory; reads, a crash, a segment sealed with none of its records left
// in memory, and a clean stop all keep every acknowledged record.
func TestIdleFlush(t *testing.T) {
	testSegments(t, 12<<10)
	old := idleFlush
	idleFlush = 50 * time.Millisecond
	t.Cleanup(func() { idleFlush = old })
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	memLen := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.mem.len()
	}
	flushed := func(what string) {
		t.Helper()
		poll.UntilErr(t, 10*time.Second, what+": the records flushed from memory", func() error {
			if n := memLen(); n > 0 {
				return fmt.Errorf("%d records still in memory after the log was idle", n)
			}
			return nil
		})
	}
	h := &acked{}
	seq := uint64(0)
	batch := func(n int) {
		var js []*Job
		for range n {
			seq++
			js = append(js, storeJob(seq))
		}
		if seq > 5 {
			u := storeJob(seq - 5)
			u.Spec.Priority = int(seq)
			js = append(js, u)
		}
		h.save(t, s, js...)
	}
	batch(5)
	batch(5)
	if err := s.Delete([]uint64{2}); err != nil {
		t.Fatal(err)
	}
	flushed("first")
	want := h.state(nil)
	delete(want, 2)
	if d := sameRecords(loadRecords(t, s), want); d != "" {
		t.Fatalf("after the flush: %s", d)
	}
	for q := uint64(1); q <= seq; q++ {
		got, err := s.Get(q)
		if err != nil || (want[q] == nil) != (got == nil) {
			t.Fatalf("get %d after the flush: %d bytes, %v", q, len(got), err)
		}
	}
	// Fill the segment until it is sealed with nothing of it in memory
	// but the last batch, then crash once its checkpoint is done.
	for range 40 {
		batch(3)
		flushed("again")
	}
	poll.UntilErr(t, 10*time.Second, "a checkpoint of a sealed segment", func() error {
		s.mu.Lock()
		n, segs := len(s.frozen), s.seg.num
		s.mu.Unlock()
		if n == 0 && segs > 1 {
			return nil
		}
		return fmt.Errorf("%d waiting, segment %d", n, segs)
	})
	s.crash()
	want = h.state(nil)
	delete(want, 2)
	rep, err := CheckDataDir(dir)
	if err != nil || len(rep.Damage) > 0 {
		t.Fatalf("check after the crash: damage %v, %v", rep.Damage, err)
	}
	s, err = OpenBolt(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if d := sameRecords(loadRecords(t, s), want); d != "" {
		t.Fatalf("after the crash: %s", d)
	}
	if hw := HighWater(s); hw < h.highest() {
		t.Fatalf("high water %d, want at least %d", hw, h.highest())
	}
	batch(2)
	flushed("after the restart")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenBolt(dir)
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	defer s.Close()
	want = h.state(nil)
	delete(want, 2)
	if d := sameRecords(loadRecords(t, s), want); d != "" {
		t.Fatalf("after a clean stop: %s", d)
	}
}
