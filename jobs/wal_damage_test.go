package jobs

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// noIdleFlush keeps flushIdle from writing the current segment's records
// to drover.db during the test, so that what a lost segment held is only
// in it.
func noIdleFlush(t *testing.T) {
	old := idleFlush
	idleFlush = time.Hour
	t.Cleanup(func() { idleFlush = old })
}

// caughtUp waits until s has checkpointed every sealed segment and made
// its spare.
func caughtUp(t *testing.T, s *BoltStore) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		done := len(s.frozen) == 0 && s.spare != nil && !s.making
		s.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the checkpointer did not catch up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// covered reports whether every Seq of seqs is in lost's IDs or ranges.
func covered(lost LostJobs, seqs []uint64) bool {
	for _, q := range seqs {
		in := slices.Contains(lost.IDs, q)
		for _, r := range lost.Ranges {
			in = in || (r.From <= q && q <= r.To)
		}
		if !in {
			return false
		}
	}
	return true
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for q := from; q <= to; q++ {
		out = append(out, q)
	}
	return out
}

// wantCheckDamage runs CheckDataDir on dir and wants it damaged, its
// first damage of kind in file, and the Seqs lost covered by what it
// says was lost.
func wantCheckDamage(t *testing.T, dir, kind, file string, lost []uint64) *CheckReport {
	t.Helper()
	r, err := CheckDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sound() || len(r.Torn) != 0 {
		t.Fatalf("check: sound %v, torn %v; want damage", r.Sound(), r.Torn)
	}
	d := r.Damage[0]
	if d.Kind != kind || d.File != file {
		t.Fatalf("check: damage %+v, want %s in %s", d, kind, file)
	}
	if !covered(r.Lost, lost) {
		t.Fatalf("check: lost %+v does not cover the jobs lost %v", r.Lost, lost)
	}
	return r
}

// TestDamageOldestSegmentBeforeSpare is the tester's first report: a fresh
// store, 35 acknowledged jobs, a crash, the first segment deleted; only
// the spare made ahead of need, empty, is left. No frame is left to show
// an LSN gap, but drover.db says the log goes on in segment 0.
func TestDamageOldestSegmentBeforeSpare(t *testing.T) {
	testSegments(t, 1<<20)
	noIdleFlush(t)
	dir := t.TempDir()
	s := openBolt(t, dir)
	for q := range uint64(35) {
		save(t, s, storeJob(q+1))
	}
	caughtUp(t, s)
	s.crash()
	if got := segments(t, dir); !slices.Equal(got, []uint64{0, 1}) {
		t.Fatalf("segments %v, want the current one and the spare", got)
	}
	if err := os.Remove(segPath(dir, 0)); err != nil {
		t.Fatal(err)
	}
	d := wantCorrupt(t, dir, segPath(dir, 0), -1, "log segment 0000000000000000.wal is missing",
		"the log starts at 0000000000000001.wal", "every frame after LSN 0").Damage[0]
	if d.Kind != DamageMissingSegment || d.NewFrom != 1 || d.NewTo < 35 {
		t.Fatalf("damage %+v, want the missing segment, new IDs from 1 to at least 35", d)
	}
	r := wantCheckDamage(t, dir, DamageMissingSegment, segPath(dir, 0), seqRange(1, 35))
	if r.Records != 0 {
		t.Fatalf("check: %d jobs would load, want 0", r.Records)
	}
	rep, err := Salvage(dir, filepath.Join(t.TempDir(), "new"))
	if err != nil || rep.Complete() || !covered(rep.Lost, seqRange(1, 35)) || rep.HighWater < 35 {
		t.Fatalf("salvage: %+v, %v; want it incomplete, 1..35 lost", rep, err)
	}
}

// TestDamageCurrentSegmentAfterCheckpoints is the tester's second case of
// it: segments checkpointed, more jobs acknowledged in the current
// segment, a crash, the current segment deleted, the empty spare left.
func TestDamageCurrentSegmentAfterCheckpoints(t *testing.T) {
	testSegments(t, 8<<10)
	noIdleFlush(t)
	dir := t.TempDir()
	s := openBolt(t, dir)
	for q := range uint64(300) {
		save(t, s, storeJob(q+1))
	}
	caughtUp(t, s)
	cur := s.seg.num
	if cur < 3 {
		t.Fatalf("current segment %d: want a few checkpointed before it", cur)
	}
	// Jobs that fit in the current segment.
	var added []uint64
	for q := uint64(1000); s.seg.room(4 << 10); q++ {
		save(t, s, storeJob(q))
		added = append(added, q)
	}
	if s.seg.num != cur || len(added) == 0 {
		t.Fatalf("saves went to segment %d (%d of them), want %d", s.seg.num, len(added), cur)
	}
	ckLSN := s.frozenLSN(t)
	s.crash()
	if got := segments(t, dir); !slices.Equal(got, []uint64{cur, cur + 1}) {
		t.Fatalf("segments %v, want %d and its spare", got, cur)
	}
	if err := os.Remove(segPath(dir, cur)); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, dir, segPath(dir, cur), -1, segmentName(cur)+" is missing",
		"every frame after LSN "+strconv.FormatUint(ckLSN, 10), "any job first saved in it has an ID in ")
	r := wantCheckDamage(t, dir, DamageMissingSegment, segPath(dir, cur), added)
	if d := r.Damage[0]; r.Bolt.LSN != ckLSN || d.NewFrom != r.Bolt.HighWater+1 || d.NewTo < slices.Max(added) {
		t.Fatalf("check: drover.db through LSN %d (want %d), damage %+v", r.Bolt.LSN, ckLSN, d)
	}
	for _, q := range added {
		if slices.ContainsFunc(r.kept, func(k keptRec) bool { return k.Seq == q }) {
			t.Fatalf("job %d, saved only in the deleted segment, would load", q)
		}
	}
}

// frozenLSN returns the LSN drover.db holds (the last checkpointed).
func (s *BoltStore) frozenLSN(t *testing.T) uint64 {
	t.Helper()
	st, ok, err := s.db.state()
	if err != nil || !ok {
		t.Fatalf("state: %v %v", ok, err)
	}
	return st.lsn
}

// TestDamageLastFrameFlippedByte is the tester's third report: 10 saves of
// 10 jobs, a crash, one byte of the last frame overwritten. Every sector
// of that frame holds data, so the frame was written whole: it is damage,
// not a torn tail, and its jobs are reported lost.
func TestDamageLastFrameFlippedByte(t *testing.T) {
	dir, h := crashedDir(t, 0, 10, 10, false)
	seg := segPath(dir, 0)
	fs := frames(t, seg)
	last := fs[len(fs)-1]
	if zeroSector(readAll(t, seg), last.off, last.off+last.size) >= 0 {
		t.Fatalf("the last frame %+v has a sector of zeros: the test needs one without", last)
	}
	at := last.off + last.size/2
	v := byte(0xff) // as the tester wrote it
	if readAll(t, seg)[at] == v {
		v = 0x7f
	}
	writeAt(t, seg, at, []byte{v})
	wantCorrupt(t, dir, seg, last.off, "checksum mismatch", "not a torn tail", "every 512-byte sector")
	var lost []uint64
	for _, r := range h.batches[len(h.batches)-1] {
		lost = append(lost, r.Seq)
	}
	r := wantCheckDamage(t, dir, DamageBadFrame, seg, lost)
	if want := len(h.state(func(i int) bool { return i < len(h.batches)-1 })); r.Records != want {
		t.Fatalf("check: %d jobs would load, want %d", r.Records, want)
	}
}

// TestTornTailZeroSectorInData: a last frame whose own data holds a whole
// sector of zeros reads, when damaged elsewhere, as one whose sector was
// not written: a crash can leave those bytes, so it is a torn tail (and
// whole, the frame is valid).
func TestTornTailZeroSectorInData(t *testing.T) {
	testSegments(t, 1<<20)
	dir := t.TempDir()
	s := openBolt(t, dir)
	h := &acked{}
	h.save(t, s, storeJob(1))
	j := storeJob(2)
	j.Spec.Args["blob"] = string(make([]byte, 3*sectorSize))
	h.save(t, s, j)
	seg := filepath.Join(dir, LogDir, segmentName(s.seg.num))
	s.crash()
	fs := frames(t, seg)
	last := fs[len(fs)-1]
	if zeroSector(readAll(t, seg), last.off, last.off+last.size) < 0 {
		t.Fatal("the frame has no sector of zeros")
	}
	if r, err := CheckDataDir(dir); err != nil || !r.Sound() || len(r.Torn) != 0 || r.Records != 2 {
		t.Fatalf("whole, the frame is valid: %+v %v", r, err)
	}
	at := last.off + frameHeader + frameMeta + 2
	writeAt(t, seg, at, []byte{readAll(t, seg)[at] ^ 0x01})
	s = openBolt(t, dir)
	defer s.Close()
	if rec := s.Recovery(); len(rec.Torn) != 1 || rec.Torn[0].Offset != last.off {
		t.Fatalf("Recovery %+v, want a torn tail at %d", rec, last.off)
	}
	if diff := sameRecords(loadRecords(t, s), h.state(func(i int) bool { return i == 0 })); diff != "" {
		t.Fatal(diff)
	}
}

// TestLogStartOlderState: a drover.db whose state record is an older
// drover's (version 1, without the log's segment) after a crash opens
// and replays; the state written then is version 2, naming the new
// segment, and round-trips.
func TestLogStartOlderState(t *testing.T) {
	dir, h := crashedDir(t, 0, 6, 5, false)
	db, err := openBoltDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, ok, err := db.state()
	if err != nil || !ok || !st.segKnown {
		t.Fatalf("state %+v %v %v, want one naming the log's segment", st, ok, err)
	}
	st.segKnown, st.seg, st.madeKnown, st.made = false, 0, false, 0
	err = db.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(storeBucket).Put(stateKey, st.encode()) })
	if err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := db.state(); !ok || got.segKnown || len(st.encode()) != boltStateSize {
		t.Fatalf("version 1 state %+v (%d bytes)", got, len(st.encode()))
	}
	db.close()
	s := openBolt(t, dir)
	if diff := sameRecords(loadRecords(t, s), h.state(nil)); diff != "" {
		t.Fatal(diff)
	}
	got, ok, err := s.db.state()
	if err != nil || !ok || !got.segKnown || got.seg != s.seg.num {
		t.Fatalf("state after the replay %+v, want segment %d", got, s.seg.num)
	}
	s.Close()
	for _, st := range []storeState{{hw: 7, lsn: 9, closed: true}, {hw: 7, lsn: 9, seg: 12, segKnown: true}} {
		b := st.encode()
		if got, ok := decodeState(b); !ok || got != st {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", st, got, ok)
		}
		b[len(b)-5] ^= 1
		if _, ok := decodeState(b); ok {
			t.Fatalf("a damaged state %+v decodes", st)
		}
	}
}

// TestLogStartAcrossRestarts: segment numbers go on across a Close (which
// empties the log) and a crash, and drover.db's segment with them: a
// crash after each start, with the spare made, is no damage, and the
// current segment deleted then is.
func TestLogStartAcrossRestarts(t *testing.T) {
	testSegments(t, 1<<20)
	noIdleFlush(t)
	dir := t.TempDir()
	s := openBolt(t, dir)
	save(t, s, storeJob(1))
	s.Close()
	s = openBolt(t, dir)
	if s.seg.num == 0 {
		t.Fatal("after Close the log starts again at segment 0")
	}
	save(t, s, storeJob(2))
	caughtUp(t, s)
	s.crash()
	s = openBolt(t, dir)
	if n := len(loadRecords(t, s)); n != 2 {
		t.Fatalf("%d jobs after a crash, want 2", n)
	}
	save(t, s, storeJob(3))
	caughtUp(t, s)
	cur := s.seg.num
	s.crash()
	os.Remove(segPath(dir, cur))
	wantCorrupt(t, dir, segPath(dir, cur), -1, "is missing")
}

// TestLogStartEmptySealedSegment: a frame bigger than the current, empty
// segment seals it without a frame; its checkpoint still moves drover.db
// past it before it goes, so that a crash then (the big frame's segment
// and the spare left) is no damage.
func TestLogStartEmptySealedSegment(t *testing.T) {
	testSegments(t, 4<<10)
	noIdleFlush(t)
	dir := t.TempDir()
	s := openBolt(t, dir)
	first := s.seg.num
	big := storeJob(1)
	big.Spec.Args["blob"] = strings.Repeat("x", 8<<10)
	save(t, s, big)
	if s.seg.num == first {
		t.Fatal("the big frame did not get a segment of its own")
	}
	caughtUp(t, s)
	s.crash()
	s = openBolt(t, dir)
	defer s.Close()
	if n := len(loadRecords(t, s)); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
}

// TestStartGap: where the log must start, for the segment numbers left
// and drover.db's state.
func TestStartGap(t *testing.T) {
	open := logState{known: true, lsn: 40, seg: 5, segKnown: true}
	closed, old := open, open
	closed.closed = true
	old.segKnown = false
	for _, c := range []struct {
		nums []uint64
		st   logState
		at   int
		want string // "" for no damage
	}{
		{[]uint64{5, 6}, open, 0, ""},
		{[]uint64{4, 5, 6}, open, 0, ""}, // 4: checkpointed, not yet removed
		{[]uint64{3, 7}, open, 0, ""},    // a gap between two segments: segment() reports it
		{nil, open, 0, ""},               // no log at all: DamageLogMissing
		{[]uint64{6, 7}, closed, 0, ""},
		{[]uint64{6, 7}, old, 0, ""},
		{[]uint64{6, 7}, open, 0, "log segment 0000000000000005.wal is missing: drover.db (checkpointed through LSN 40) says the log goes on in it, but the log starts at 0000000000000006.wal"},
		{[]uint64{8}, open, 0, "log segments 0000000000000005.wal..0000000000000007.wal are missing"},
		{[]uint64{3}, open, 1, "log segment 0000000000000005.wal is missing: drover.db (checkpointed through LSN 40) says the log goes on in it, but no segment from it on is left"},
	} {
		ls := &logScan{dir: "wal"}
		for _, n := range c.nums {
			ls.segs = append(ls.segs, &segScan{num: n})
		}
		at, d := ls.startGap(c.st)
		switch {
		case c.want == "" && d != nil:
			t.Errorf("segments %v, state %+v: damage %+v, want none", c.nums, c.st, d)
		case c.want != "" && (d == nil || at != c.at || !strings.Contains(d.Problem, c.want) ||
			d.File != filepath.Join("wal", segmentName(5)) || d.Kind != DamageMissingSegment):
			t.Errorf("segments %v: damage %+v before segment %d, want %q before %d", c.nums, d, at, c.want, c.at)
		}
	}
}
