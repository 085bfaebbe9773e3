package jobs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// crash stops s as a kill -9 would: no checkpoint, the log left as it is,
// the bbolt file's lock released.
func (s *BoltStore) crash() {
	s.mu.Lock()
	s.closed = true
	s.caughtUp.Broadcast()
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	if s.seg != nil {
		s.seg.f.Close()
	}
	if s.spare != nil {
		s.spare.f.Close()
	}
	s.db.close()
}

// smallSegments makes log segments of n bytes for the test.
func smallSegments(t *testing.T, n int64) {
	old := walSegmentSize
	walSegmentSize = n
	t.Cleanup(func() { walSegmentSize = old })
}

func segments(t *testing.T, dir string) []uint64 {
	t.Helper()
	nums, err := listSegments(filepath.Join(dir, LogDir))
	if err != nil {
		t.Fatal(err)
	}
	return nums
}

// TestLogReplayAfterCrash: what Save acknowledged is there after a crash,
// from the log alone.
func TestLogReplayAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir)
	var want []*Job
	for i := range 50 {
		j := storeJob(uint64(i + 1))
		want = append(want, j)
		save(t, s, j)
	}
	changed := want[3].Clone()
	changed.Spec.Priority = 77
	save(t, s, changed)
	want[3] = changed
	s.crash()
	if n := len(segments(t, dir)); n == 0 {
		t.Fatal("no log segment after the crash")
	}

	s = openBolt(t, dir)
	wantJobs(t, loadAll(t, s), want)
	// The replay went into the bbolt file and the old segments are gone.
	if got, err := countBolt(s); err != nil || got != 50 {
		t.Fatalf("bbolt file holds %d jobs (%v), want 50", got, err)
	}
}

func countBolt(s *BoltStore) (int, error) {
	n := 0
	err := s.db.load(func(uint64, []byte) error { n++; return nil })
	return n, err
}

// TestLogTornFrame: a frame cut short by a crash (never acknowledged) ends
// the log; the frames before it are replayed.
func TestLogTornFrame(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir)
	a, b := storeJob(1), storeJob(2)
	save(t, s, a)
	save(t, s, b)
	off := s.seg.off
	seg := filepath.Join(dir, LogDir, segmentName(s.seg.num))
	s.crash()
	// A third frame of 1000 bytes, half written: a length and CRC, and
	// garbage, its later sectors never written (zeros).
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xe8, 3, 0, 0, 1, 2, 3, 4, 9, 9, 9}, off); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s = openBolt(t, dir)
	wantJobs(t, loadAll(t, s), []*Job{a, b})
}

// TestLogBadSegment: a segment whose header is not ours stops OpenBolt
// with an error that names it, and changes nothing.
func TestLogBadSegment(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir)
	save(t, s, storeJob(1))
	s.Close()
	bad := filepath.Join(dir, LogDir, segmentName(99))
	if err := os.WriteFile(bad, []byte("not a log at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBolt(dir); err == nil || !strings.Contains(err.Error(), segmentName(99)) {
		t.Fatalf("OpenBolt with a bad segment: %v, want an error naming it", err)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Fatalf("the bad segment is gone: %v", err)
	}
}

// TestLogRotateAndCheckpoint: with small segments, many saves fill several
// segments; checkpoints move them into the bbolt file and delete them, and
// Close leaves no log behind.
func TestLogRotateAndCheckpoint(t *testing.T) {
	smallSegments(t, 16<<10)
	dir := t.TempDir()
	s := openBolt(t, dir)
	want := make(map[uint64]*Job)
	for round := range 4 {
		for i := range 100 {
			j := storeJob(uint64(i + 1))
			j.Spec.Priority = round
			want[j.Seq] = j
			save(t, s, j)
		}
	}
	big := make([]*Job, 300) // one frame bigger than a segment
	for i := range big {
		big[i] = storeJob(uint64(1000 + i))
		want[big[i].Seq] = big[i]
	}
	save(t, s, big...)
	var wantList []*Job
	for i := range uint64(2000) {
		if j := want[i]; j != nil {
			wantList = append(wantList, j)
		}
	}
	wantJobs(t, loadAll(t, s), wantList)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := segments(t, dir); len(n) != 0 {
		t.Fatalf("segments %v left after Close", n)
	}
	s = openBolt(t, dir)
	wantJobs(t, loadAll(t, s), wantList)
	if n, _ := countBolt(s); n != len(wantList) {
		t.Fatalf("bbolt file holds %d jobs, want %d", n, len(wantList))
	}
}

// TestLogCheckpointFailing: when the bbolt file refuses writes, sealed
// segments pile up to maxFrozen, then Save fails saying why; nothing
// acknowledged is lost from the log.
func TestLogCheckpointFailing(t *testing.T) {
	smallSegments(t, 4<<10)
	dir := t.TempDir()
	s := openBolt(t, dir)
	s.db.db.Close() // every checkpoint fails from here on
	var saveErr error
	acked := 0
	for i := range 1000 {
		if saveErr = s.Save(Records(storeJob(uint64(i + 1)))); saveErr != nil {
			break
		}
		acked++
	}
	if saveErr == nil || !strings.Contains(saveErr.Error(), "checkpoint") {
		t.Fatalf("Save kept working with a dead store file (last error %v)", saveErr)
	}
	t.Logf("%d saves acknowledged, then: %v", acked, saveErr)
	s.crash()
	s = openBolt(t, dir)
	got := loadAll(t, s)
	if len(got) != acked {
		t.Fatalf("after the restart %d jobs, want the %d acknowledged", len(got), acked)
	}
}

// TestLogEmptyRecordRefused: a record without data fails the Save and
// writes nothing.
func TestLogEmptyRecordRefused(t *testing.T) {
	s := openBolt(t, t.TempDir())
	if err := s.Save([]Record{{Seq: 1, Data: []byte{recordV1}}, {Seq: 2}}); !errors.Is(err, ErrEmptyRecord) {
		t.Fatalf("Save = %v, want ErrEmptyRecord", err)
	}
	if got := loadAll(t, s); len(got) != 0 {
		t.Fatalf("%d jobs stored after a refused Save", len(got))
	}
}
