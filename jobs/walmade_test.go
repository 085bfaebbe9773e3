package jobs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// stuckCheckpoints makes every checkpoint fail after its first chunk of
// one record, until the test ends: sealed segments stay in the log,
// while drover.db still takes other writes (the segments made).
func stuckCheckpoints(t *testing.T) {
	oldChunk := checkpointChunk
	checkpointChunk = 1
	checkpointHook = func() error { return errors.New("test: checkpoint held back") }
	t.Cleanup(func() { checkpointChunk, checkpointHook = oldChunk, nil })
}

// spareMade waits until s has made its spare segment.
func spareMade(t *testing.T, s *BoltStore) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		spare, making := s.spare, s.making
		s.mu.Unlock()
		if spare != nil && !making {
			return spare.num
		}
		if time.Now().After(deadline) {
			t.Fatal("no spare segment made")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newestDir makes a data dir whose log holds sealed segments that no
// checkpoint wrote to drover.db, a current segment with the jobs it
// returns (saved only there), and the spare, and crashes the store. It
// returns the current segment's number and the spare's.
func newestDir(t *testing.T) (dir string, cur, spare uint64, added []uint64) {
	testSegments(t, 8<<10)
	noIdleFlush(t)
	stuckCheckpoints(t)
	dir = t.TempDir()
	s := openBolt(t, dir)
	q := uint64(0)
	for s.seg.num < 2 {
		q++
		save(t, s, storeJob(q))
	}
	cur = s.seg.num
	for ; s.seg.room(4<<10) && s.seg.num == cur; q++ {
		save(t, s, storeJob(q+1))
		added = append(added, q+1)
	}
	if s.seg.num != cur {
		t.Fatalf("the saves went on to segment %d", s.seg.num)
	}
	added = append([]uint64{q - uint64(len(added))}, added...) // the save that rotated into it
	spare = spareMade(t, s)
	s.crash()
	if got := segments(t, dir); !slices.Equal(got, seqRange(0, spare)) {
		t.Fatalf("segments %v, want 0..%d", got, spare)
	}
	return dir, cur, spare, added
}

// TestDamageNewestSegmentsDeleted: sealed segments wait for their
// checkpoint, jobs are acknowledged in the current segment, a crash,
// then the current segment and the spare are deleted. The log left ends
// cleanly, but drover.db names the spare as made: the newest segments
// are missing, and what the current one held is named lost.
func TestDamageNewestSegmentsDeleted(t *testing.T) {
	dir, cur, spare, added := newestDir(t)
	for _, n := range []uint64{cur, spare} {
		if err := os.Remove(segPath(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	want := "log segments " + segmentName(cur) + ".." + segmentName(spare) + " are missing: drover.db says segments up to " +
		segmentName(spare) + " were made, but the log ends at " + segmentName(cur-1) + " (the newest segments deleted)"
	ce := wantCorrupt(t, dir, segPath(dir, cur), -1, want, "if they held any")
	if len(ce.Damage) != 1 {
		t.Fatalf("damage %+v, want one", ce.Damage)
	}
	r := wantCheckDamage(t, dir, DamageMissingSegment, segPath(dir, cur), added)
	if len(r.Damage) != 1 || r.Damage[0].String() != ce.Damage[0].String() {
		t.Fatalf("check says %v, the start %v: want the same", r.Damage, ce.Damage)
	}
	for _, q := range added {
		if slices.ContainsFunc(r.kept, func(k keptRec) bool { return k.Seq == q }) {
			t.Fatalf("job %d, saved only in the deleted segment, would load", q)
		}
	}
}

// TestDamageSpareDeleted: the spare alone deleted. It was empty, but
// nothing in the data dir tells it from a current segment: it is
// reported missing, and what it may have held as "if any".
func TestDamageSpareDeleted(t *testing.T) {
	dir, _, spare, _ := newestDir(t)
	if err := os.Remove(segPath(dir, spare)); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, dir, segPath(dir, spare), -1, "log segment "+segmentName(spare)+" is missing", "the newest segments deleted", "if they held any")
}

// TestMadeRecorded: drover.db names every segment made before a frame
// goes in it: after a start, after each spare, and with no spare ready
// (rotate made it); Close removes the spare only once the store is
// marked closed, and a start after it goes on past it.
func TestMadeRecorded(t *testing.T) {
	testSegments(t, 8<<10)
	noIdleFlush(t)
	dir := t.TempDir()
	s := openBolt(t, dir)
	state := func() storeState {
		t.Helper()
		st, ok, err := s.db.state()
		if err != nil || !ok || !st.madeKnown {
			t.Fatalf("state %+v %v %v, want one naming the segments made", st, ok, err)
		}
		return st
	}
	if st := state(); st.made != s.seg.num {
		t.Fatalf("after the start: made %d, want %d", st.made, s.seg.num)
	}
	for q := uint64(1); q <= 40; q++ {
		save(t, s, storeJob(q))
		if st := state(); st.made < s.seg.num {
			t.Fatalf("job %d saved in segment %d, but drover.db says segments up to %d were made", q, s.seg.num, st.made)
		}
	}
	if n := spareMade(t, s); state().made != n {
		t.Fatalf("spare %d made, drover.db says %d", n, state().made)
	}
	s.Close()
	s = openBolt(t, dir)
	if st := state(); st.made != s.seg.num || st.seg != s.seg.num {
		t.Fatalf("after Close and a start: state %+v, want segment %d", st, s.seg.num)
	}
	for _, st := range []storeState{{hw: 7, lsn: 9, seg: 12, segKnown: true, made: 13, madeKnown: true}} {
		b := st.encode()
		if got, ok := decodeState(b); !ok || got != st || len(b) != boltStateSize3 {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", st, got, ok)
		}
	}
}

// TestRenamedSegment: a segment under another name (another number, a
// name that is no segment's, in the data dir) is said once, as renamed,
// naming the file and the name to give it back; nothing is said lost,
// nothing is changed, and renamed back the dir is sound and opens with
// every job.
func TestRenamedSegment(t *testing.T) {
	for _, c := range []struct {
		name string
		to   func(dir string, n uint64) string
	}{
		{"number", func(dir string, n uint64) string { return segPath(dir, n+7) }},
		{"bak", func(dir string, n uint64) string { return segPath(dir, n) + ".bak" }},
		{"tmp", func(dir string, n uint64) string { return segPath(dir, n) + ".tmp" }},
		{"datadir", func(dir string, n uint64) string { return filepath.Join(dir, "seg.old") }},
	} {
		for _, which := range []string{"middle", "spare"} {
			t.Run(c.name+"/"+which, func(t *testing.T) {
				dir, h := crashedDir(t, 4<<10, 14, 4, true)
				nums := segments(t, dir)
				n := nums[1]
				if which == "spare" {
					n = nums[len(nums)-1]
				}
				to := c.to(dir, n)
				if err := os.Rename(segPath(dir, n), to); err != nil {
					t.Fatal(err)
				}
				ce := wantCorrupt(t, dir, to, -1, "is log segment "+segmentName(n)+" under another name",
					"rename it back to "+segPath(dir, n))
				r, err := CheckDataDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, ds := range [][]Damage{ce.Damage, r.Damage} {
					if len(ds) != 1 || ds[0].Kind != DamageRenamedSegment || strings.Contains(ds[0].Lost, "frame") {
						t.Fatalf("damage %v, want the renamed segment alone, nothing lost", ds)
					}
				}
				if r.Damage[0].String() != ce.Damage[0].String() || len(r.Lost.IDs)+len(r.Lost.Ranges) != 0 {
					t.Fatalf("check says %v (lost %+v), the start %v", r.Damage, r.Lost, ce.Damage)
				}
				if err := os.Rename(to, segPath(dir, n)); err != nil {
					t.Fatal(err)
				}
				s := openBolt(t, dir)
				if diff := sameRecords(loadRecords(t, s), h.state(nil)); diff != "" {
					t.Fatal(diff)
				}
			})
		}
	}
}

// TestRenamedSegmentsSwapped: two segments with each other's names are
// each said renamed, and nothing else.
func TestRenamedSegmentsSwapped(t *testing.T) {
	dir, _ := crashedDir(t, 4<<10, 14, 4, true)
	nums := segments(t, dir)
	a, b := segPath(dir, nums[1]), segPath(dir, nums[2])
	for _, mv := range [][2]string{{a, a + ".x"}, {b, a}, {a + ".x", b}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	ce := wantCorrupt(t, dir, a, -1)
	if len(ce.Damage) != 2 || ce.Damage[0].Kind != DamageRenamedSegment || ce.Damage[1].Kind != DamageRenamedSegment {
		t.Fatalf("damage %v, want the two segments renamed", ce.Damage)
	}
}

// TestSegmentTempLeftover: a segment being made when the store stopped
// (its temporary file: a header, zeros) is no damage, and a start removes
// it; a copy of a segment beside it is a bad header, not a rename.
func TestSegmentTempLeftover(t *testing.T) {
	dir, h := crashedDir(t, 0, 4, 4, false)
	nums := segments(t, dir)
	next := nums[len(nums)-1] + 1
	seg, err := createSegment(filepath.Join(dir, LogDir), next, 4<<10)
	if err != nil {
		t.Fatal(err)
	}
	seg.f.Close()
	if err := os.Rename(segPath(dir, next), segPath(dir, next)+".tmp"); err != nil {
		t.Fatal(err)
	}
	if r, err := CheckDataDir(dir); err != nil || !r.Sound() {
		t.Fatalf("check: %v %v, want sound", r.Damage, err)
	}
	s := openBolt(t, dir)
	if diff := sameRecords(loadRecords(t, s), h.state(nil)); diff != "" {
		t.Fatal(diff)
	}
	if _, err := os.Stat(segPath(dir, next) + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the leftover is still there: %v", err)
	}
}
