package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// acked is what a store acknowledged, Save by Save, for the damage tests
// to say what a damaged data dir must still hold.
type acked struct {
	batches [][]Record // every acknowledged Save, copied
}

// save saves js in s as one batch and records it.
func (h *acked) save(tb testing.TB, s Store, js ...*Job) {
	tb.Helper()
	recs := Records(js...)
	if err := s.Save(recs); err != nil {
		tb.Fatalf("Save: %v", err)
	}
	cp := make([]Record, len(recs))
	for i, r := range recs {
		cp[i] = Record{r.Seq, bytes.Clone(r.Data)}
	}
	h.batches = append(h.batches, cp)
}

// state is every job's last record over the batches for which keep is
// true (nil keep: all).
func (h *acked) state(keep func(i int) bool) map[uint64][]byte {
	m := make(map[uint64][]byte)
	for i, b := range h.batches {
		if keep != nil && !keep(i) {
			continue
		}
		for _, r := range b {
			m[r.Seq] = r.Data
		}
	}
	return m
}

// versions is every record ever acknowledged of each Seq.
func (h *acked) versions() map[uint64][][]byte {
	m := make(map[uint64][][]byte)
	for _, b := range h.batches {
		for _, r := range b {
			m[r.Seq] = append(m[r.Seq], r.Data)
		}
	}
	return m
}

func (h *acked) highest() uint64 {
	var top uint64
	for _, b := range h.batches {
		for _, r := range b {
			top = max(top, r.Seq)
		}
	}
	return top
}

// loadRecords loads every record of s.
func loadRecords(tb testing.TB, s Store) map[uint64][]byte {
	tb.Helper()
	m := make(map[uint64][]byte)
	if err := s.Load(func(seq uint64, data []byte) error { m[seq] = bytes.Clone(data); return nil }); err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return m
}

func sameRecords(got, want map[uint64][]byte) string {
	for _, q := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[q]
		switch {
		case !ok:
			return fmt.Sprintf("job %d missing", q)
		case !bytes.Equal(g, want[q]):
			return fmt.Sprintf("job %d differs", q)
		}
	}
	for q := range got {
		if _, ok := want[q]; !ok {
			return fmt.Sprintf("job %d is extra", q)
		}
	}
	return ""
}

// crashedDir makes a data dir of batches × per new jobs, every third
// batch also updating a job of the batch before, and crashes the store (no
// checkpoint, the log left as it is). With segSize > 0 segments are that
// small; with stuck set, checkpoints fail, so that the segments stay.
func crashedDir(tb testing.TB, segSize int64, batches, per int, stuck bool) (string, *acked) {
	tb.Helper()
	if segSize == 0 {
		segSize = 1 << 20 // one segment, made quicker than 32 MiB
	}
	testSegments(tb, segSize)
	dir := tb.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if stuck {
		s.db.db.Close()
	}
	h := &acked{}
	seq := uint64(0)
	for b := range batches {
		var js []*Job
		for range per {
			seq++
			js = append(js, storeJob(seq))
		}
		if b%3 == 2 && seq > uint64(2*per) {
			u := storeJob(seq - uint64(per) - 1)
			u.Spec.Priority = 100 + b
			js = append(js, u)
		}
		h.save(tb, s, js...)
	}
	s.crash()
	return dir, h
}

// testSegments makes log segments of n bytes until the test ends.
func testSegments(tb testing.TB, n int64) {
	old := walSegmentSize
	walSegmentSize = n
	tb.Cleanup(func() { walSegmentSize = old })
}

// frame is one frame of a segment file, as the tests find it.
type frame struct{ off, size int64 }

// frames lists the frames of a segment file, reading only lengths.
func frames(tb testing.TB, path string) []frame {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out []frame
	for off := int64(walHeaderSize); off+frameHeader <= int64(len(b)); {
		n := int64(binary.LittleEndian.Uint32(b[off:]))
		if n == 0 {
			break
		}
		out = append(out, frame{off, frameHeader + n})
		off += frameHeader + n
	}
	return out
}

func segPath(dir string, num uint64) string { return filepath.Join(dir, LogDir, segmentName(num)) }

// randomBytes returns n bytes drawn from rng.
func randomBytes(rng *rand.Rand, n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// reprioritized returns storeJob(q) for q from first to last, step apart,
// each with priority p: new versions of jobs a store already holds.
func reprioritized(first, last, step uint64, p int) []*Job {
	var js []*Job
	for q := first; q <= last; q += step {
		j := storeJob(q)
		j.Spec.Priority = p
		js = append(js, j)
	}
	return js
}

// trimBolt cuts off what bbolt grew drover.db by ahead of its pages (bbolt
// grows it again), so that copies of dir are small, and returns the size
// left.
func trimBolt(tb testing.TB, dir string) int64 {
	tb.Helper()
	bp, _, err := openBoltPages(filepath.Join(dir, BoltFile))
	if err != nil {
		tb.Fatal(err)
	}
	size := int64(bp.meta.pgid) * bp.ps
	bp.close()
	if err := os.Truncate(filepath.Join(dir, BoltFile), size); err != nil {
		tb.Fatal(err)
	}
	return size
}

func writeAt(tb testing.TB, path string, off int64, b []byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		tb.Fatal(err)
	}
}

func readAll(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// cutBytes removes b[from:to] from the file, shifting the rest back and
// padding the end with zeros, so that the file keeps its size.
func cutBytes(tb testing.TB, path string, from, to int64) {
	tb.Helper()
	b := readAll(tb, path)
	out := append(append(bytes.Clone(b[:from]), b[to:]...), make([]byte, to-from)...)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// dirHash is the content of every file under dir, for "unchanged".
func dirHash(tb testing.TB, dir string) map[string][32]byte {
	tb.Helper()
	m := make(map[string][32]byte)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			m[rel+"/"] = [32]byte{}
			return nil
		}
		m[rel] = sha256.Sum256(readAll(tb, p))
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func sameHash(a, b map[string][32]byte) bool { return maps.Equal(a, b) }

// wantCorrupt opens dir and wants an ErrCorrupt naming file and, if
// offset >= 0, "offset N"; it also wants dir unchanged, and no panic.
func wantCorrupt(tb testing.TB, dir, file string, offset int64, more ...string) *CorruptError {
	tb.Helper()
	before := dirHash(tb, dir)
	s, err := OpenBolt(dir)
	if err == nil {
		s.Close()
		tb.Fatalf("OpenBolt of a damaged data dir succeeded")
	}
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		tb.Fatalf("OpenBolt = %v, want a *CorruptError wrapping ErrCorrupt", err)
	}
	msg := err.Error()
	want := []string{file}
	if offset >= 0 {
		want = append(want, fmt.Sprintf("at offset %d", offset))
	}
	for _, w := range append(want, more...) {
		if !strings.Contains(msg, w) {
			tb.Fatalf("OpenBolt error does not say %q:\n%v", w, err)
		}
	}
	if !sameHash(before, dirHash(tb, dir)) {
		tb.Fatalf("OpenBolt changed the damaged data dir")
	}
	tb.Logf("OpenBolt: %v", err)
	return ce
}

// TestDamageUserReport is the bug report: 100 jobs in 10 acknowledged
// batches, kill -9, one byte overwritten at offset 2000 of the first
// segment. The master used to start with 20 jobs and hand out ID 21 again.
func TestDamageUserReport(t *testing.T) {
	dir, h := crashedDir(t, 0, 10, 10, false)
	seg := segPath(dir, 0)
	fs := frames(t, seg)
	var hit frame
	for _, f := range fs {
		if f.off <= 2000 && 2000 < f.off+f.size {
			hit = f
		}
	}
	writeAt(t, seg, 2000, []byte{^readAll(t, seg)[2000]})
	ce := wantCorrupt(t, dir, seg, hit.off, "checksum mismatch", "a valid frame follows")
	if ce.HighWater < h.highest() {
		t.Fatalf("high-water mark %d < %d", ce.HighWater, h.highest())
	}
}

// TestDamageFlippedByte: one byte flipped in the middle of a frame in the
// middle of the first segment, later frames valid.
func TestDamageFlippedByte(t *testing.T) {
	dir, _ := crashedDir(t, 0, 12, 5, false)
	seg := segPath(dir, 0)
	f := frames(t, seg)[5]
	mid := f.off + f.size/2
	writeAt(t, seg, mid, []byte{readAll(t, seg)[mid] ^ 0x10})
	d := wantCorrupt(t, dir, seg, f.off, "LSN 6").Damage[0]
	if d.Kind != DamageBadFrame || d.Frames != 1 || d.End != f.off+f.size {
		t.Fatalf("damage %+v, want one bad frame ending at %d", d, f.off+f.size)
	}
}

// TestDamageTruncatedFrame: a frame in the middle cut short (its last
// bytes gone, the rest of the log shifted back), and a segment file cut
// short inside its last frame: no crash does either.
func TestDamageTruncatedFrame(t *testing.T) {
	t.Run("middle", func(t *testing.T) {
		dir, _ := crashedDir(t, 0, 12, 5, false)
		seg := segPath(dir, 0)
		f := frames(t, seg)[4]
		cutBytes(t, seg, f.off+f.size-40, f.off+f.size)
		wantCorrupt(t, dir, seg, f.off, "a valid frame follows")
	})
	t.Run("file", func(t *testing.T) {
		dir, _ := crashedDir(t, 0, 12, 5, false)
		seg := segPath(dir, 0)
		fs := frames(t, seg)
		last := fs[len(fs)-1]
		if err := os.Truncate(seg, last.off+last.size/2); err != nil {
			t.Fatal(err)
		}
		wantCorrupt(t, dir, seg, last.off, "past the end of the file")
	})
}

// TestDamageZeroedLength: the length field of a frame in the middle
// zeroed, so that the log seems to end there, valid frames after it.
func TestDamageZeroedLength(t *testing.T) {
	dir, _ := crashedDir(t, 0, 12, 5, false)
	seg := segPath(dir, 0)
	f := frames(t, seg)[6]
	writeAt(t, seg, f.off, make([]byte, 4))
	wantCorrupt(t, dir, seg, f.off, "length 0", "a valid frame follows")
}

// TestDamageLostHeaders: the headers of the last two frames zeroed (a
// zeroed stretch of disk), their bodies left: the log seems to end with a
// torn frame, but the body of a second frame after it gives the damage
// away.
func TestDamageLostHeaders(t *testing.T) {
	dir, _ := crashedDir(t, 0, 12, 5, false)
	seg := segPath(dir, 0)
	fs := frames(t, seg)
	a, b := fs[len(fs)-2], fs[len(fs)-1]
	writeAt(t, seg, a.off, make([]byte, (a.off/sectorSize+1)*sectorSize-a.off))
	writeAt(t, seg, b.off, make([]byte, frameHeader))
	wantCorrupt(t, dir, seg, a.off, "not a torn tail", "the body of a later frame (LSN 12)")
}

// TestDamageSealedSegmentTail: bytes where a sealed segment must hold
// zeros, after its last frame.
func TestDamageSealedSegmentTail(t *testing.T) {
	dir, _ := crashedDir(t, 4<<10, 14, 4, true)
	nums := segments(t, dir)
	seg := segPath(dir, nums[0])
	fs := frames(t, seg)
	end := fs[len(fs)-1].off + fs[len(fs)-1].size
	writeAt(t, seg, end+100, []byte{1})
	wantCorrupt(t, dir, seg, end, "not the last one written")
}

// TestDamageMissingSegment: with small segments and checkpoints failing,
// several segments stay; one deleted among them, the oldest deleted, one
// renamed into a gap.
func TestDamageMissingSegment(t *testing.T) {
	build := func(t *testing.T) (string, []uint64) {
		dir, _ := crashedDir(t, 4<<10, 14, 4, true)
		nums := segments(t, dir)
		if len(nums) < 4 {
			t.Fatalf("segments %v, want at least 4", nums)
		}
		return dir, nums
	}
	t.Run("middle", func(t *testing.T) {
		dir, nums := build(t)
		if err := os.Remove(segPath(dir, nums[1])); err != nil {
			t.Fatal(err)
		}
		d := wantCorrupt(t, dir, segmentName(nums[1]), -1, "is missing").Damage[0]
		if d.Kind != DamageMissingSegment || d.Frames == 0 || d.LSNFrom == 0 {
			t.Fatalf("damage %+v, want a missing segment with its frames counted", d)
		}
	})
	t.Run("oldest", func(t *testing.T) {
		dir, nums := build(t)
		if err := os.Remove(segPath(dir, nums[0])); err != nil {
			t.Fatal(err)
		}
		d := wantCorrupt(t, dir, segPath(dir, nums[0]), -1, "is missing", "the log starts at "+segmentName(nums[1])).Damage[0]
		if d.Kind != DamageMissingSegment || d.Frames == 0 || d.LSNFrom != 1 {
			t.Fatalf("damage %+v, want the oldest segment missing with its frames counted from LSN 1", d)
		}
	})
	t.Run("renamed", func(t *testing.T) {
		dir, nums := build(t)
		if err := os.Rename(segPath(dir, nums[2]), segPath(dir, nums[1])); err != nil {
			t.Fatal(err)
		}
		// Segment nums[1] is gone (written over); nums[2] is under its
		// name: each said once.
		ce := wantCorrupt(t, dir, segmentName(nums[1]), -1, segmentName(nums[1])+" is missing",
			fmt.Sprintf("is log segment %s under another name (its header says segment %d", segmentName(nums[2]), nums[2]))
		if len(ce.Damage) != 2 || ce.Damage[0].Kind != DamageMissingSegment || ce.Damage[1].Kind != DamageRenamedSegment {
			t.Fatalf("damage %+v, want the missing segment and the renamed one", ce.Damage)
		}
	})
	t.Run("all", func(t *testing.T) {
		dir, nums := build(t)
		for _, n := range nums {
			os.Remove(segPath(dir, n))
		}
		wantCorrupt(t, dir, filepath.Join(dir, LogDir), -1, "holds no log segment")
	})
}

// TestDamageSequenceGap: a whole frame taken out of the middle of a
// segment: every frame left is valid, but the LSNs skip one.
func TestDamageSequenceGap(t *testing.T) {
	dir, _ := crashedDir(t, 0, 12, 5, false)
	seg := segPath(dir, 0)
	fs := frames(t, seg)
	f := fs[3]
	cutBytes(t, seg, f.off, f.off+f.size)
	d := wantCorrupt(t, dir, seg, f.off, "LSN 4..4 are missing").Damage[0]
	if d.Kind != DamageLogGap || d.Frames != 1 || d.LSNFrom != 4 {
		t.Fatalf("damage %+v", d)
	}
}

// closedDir makes a data dir of n jobs, saved in batches of 50, closed
// cleanly: everything in drover.db, no log left.
func closedDir(tb testing.TB, n int) (string, *acked) {
	tb.Helper()
	testSegments(tb, 1<<20)
	dir := tb.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		tb.Fatal(err)
	}
	h := &acked{}
	for i := 0; i < n; i += 50 {
		var js []*Job
		for q := i + 1; q <= min(n, i+50); q++ {
			js = append(js, storeJob(uint64(q)))
		}
		h.save(tb, s, js...)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	return dir, h
}

// TestDamageEmptyBolt: drover.db emptied (0 bytes) or deleted after a
// clean stop: every job was in it. The high-water mark survives in
// wal/highwater.
func TestDamageEmptyBolt(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		dir, h := closedDir(t, 120)
		db := filepath.Join(dir, BoltFile)
		if err := os.Truncate(db, 0); err != nil {
			t.Fatal(err)
		}
		ce := wantCorrupt(t, dir, db, 0, "is empty (0 bytes)", "job IDs up to 120")
		if ce.HighWater != h.highest() {
			t.Fatalf("high-water mark %d, want %d", ce.HighWater, h.highest())
		}
	})
	t.Run("deleted", func(t *testing.T) {
		dir, _ := closedDir(t, 120)
		db := filepath.Join(dir, BoltFile)
		os.Remove(db)
		wantCorrupt(t, dir, db, -1, "is missing")
	})
}

// boltPageSize returns the page size of dir's drover.db.
func boltPageSize(tb testing.TB, dir string) int64 {
	bp, dmg, err := openBoltPages(filepath.Join(dir, BoltFile))
	if err != nil || dmg != nil {
		tb.Fatalf("openBoltPages: %v %v", err, dmg)
	}
	defer bp.close()
	return bp.ps
}

// jobPages returns the pages of drover.db that hold jobs: leaf pages of
// the jobs bucket.
func jobPages(tb testing.TB, dir string) []uint64 {
	bp, _, err := openBoltPages(filepath.Join(dir, BoltFile))
	if err != nil {
		tb.Fatal(err)
	}
	defer bp.close()
	seen := map[uint64]bool{}
	walkBolt(bp, func(e boltEntry) {
		if e.bucket == string(jobsBucket) {
			seen[uint64(e.off/bp.ps)] = true
		}
	})
	return slices.Sorted(maps.Keys(seen))
}

// TestDamageBoltPages: pages of drover.db overwritten with garbage, zeroed,
// a byte of a record flipped, both meta pages destroyed, the free list
// pointing at live pages: OpenBolt returns ErrCorrupt naming drover.db
// and the offset, and nothing panics (bbolt alone panics or faults on most
// of these).
func TestDamageBoltPages(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := func(n int64) []byte { return randomBytes(rng, n) }
	t.Run("garbage", func(t *testing.T) {
		dir, _ := closedDir(t, 600)
		ps := boltPageSize(t, dir)
		pages := jobPages(t, dir)
		p := pages[len(pages)/2]
		db := filepath.Join(dir, BoltFile)
		writeAt(t, db, int64(p)*ps, garbage(2*ps))
		wantCorrupt(t, dir, db, int64(p)*ps, fmt.Sprintf("page %d", p), "the jobs with IDs from")
	})
	t.Run("zeroed", func(t *testing.T) {
		dir, _ := closedDir(t, 600)
		ps := boltPageSize(t, dir)
		p := jobPages(t, dir)[1]
		db := filepath.Join(dir, BoltFile)
		writeAt(t, db, int64(p)*ps, make([]byte, ps))
		wantCorrupt(t, dir, db, int64(p)*ps, "its header says page 0")
	})
	t.Run("record", func(t *testing.T) {
		dir, _ := closedDir(t, 600)
		ps := boltPageSize(t, dir)
		p := jobPages(t, dir)[2]
		db := filepath.Join(dir, BoltFile)
		off := int64(p)*ps + ps - 300
		for readAll(t, db)[off] == 0 {
			off -= 100
		}
		writeAt(t, db, off, []byte{readAll(t, db)[off] ^ 1})
		wantCorrupt(t, dir, db, -1, "checksum mismatch")
	})
	t.Run("metas", func(t *testing.T) {
		dir, _ := closedDir(t, 100)
		ps := boltPageSize(t, dir)
		db := filepath.Join(dir, BoltFile)
		writeAt(t, db, 0, garbage(2*ps))
		wantCorrupt(t, dir, db, 0, "no valid meta page")
	})
	t.Run("freelist", func(t *testing.T) {
		dir, _ := closedDir(t, 600)
		bp, _, err := openBoltPages(filepath.Join(dir, BoltFile))
		if err != nil {
			t.Fatal(err)
		}
		fl, ps, root := bp.meta.freelist, bp.ps, bp.meta.root
		bp.close()
		db := filepath.Join(dir, BoltFile)
		hdr := readAll(t, db)[int64(fl)*ps:][:pageHeaderSize+8]
		if binary.LittleEndian.Uint16(hdr[10:]) == 0 {
			t.Skip("the free list is empty")
		}
		// Its first free page becomes the root page, which is in use.
		writeAt(t, db, int64(fl)*ps+pageHeaderSize, binary.LittleEndian.AppendUint64(nil, root))
		wantCorrupt(t, dir, db, int64(fl)*ps, "free and in use")
	})
	t.Run("random", func(t *testing.T) {
		// Garbage over random stretches of the file: never a panic; an
		// error is ErrCorrupt; an open store loads all or an error.
		base, h := closedDir(t, 300)
		testSegments(t, 64<<10)
		want := h.state(nil)
		size := trimBolt(t, base)
		for i := range 120 {
			dir := copyDir(t, base)
			db := filepath.Join(dir, BoltFile)
			off := rng.Int64N(size)
			writeAt(t, db, off, garbage(1+rng.Int64N(64)))
			s, err := OpenBolt(dir)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("try %d, garbage at %d: OpenBolt = %v, want ErrCorrupt", i, off, err)
				}
				continue
			}
			got := make(map[uint64][]byte)
			err = s.Load(func(seq uint64, data []byte) error { got[seq] = bytes.Clone(data); return nil })
			s.Close()
			if err == nil {
				if diff := sameRecords(got, want); diff != "" {
					t.Fatalf("try %d, garbage at %d: opened and loaded, but %s", i, off, diff)
				}
			} else if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("try %d: Load = %v, want ErrCorrupt", i, err)
			}
		}
	})
}

// copyDir copies the data dir src into a new temporary dir.
func copyDir(tb testing.TB, src string) string {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), "data")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		return os.WriteFile(filepath.Join(dst, rel), readAll(tb, p), 0o600)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return dst
}

// TestTornTail: the last frame of the last segment written, cut short the
// ways a crash can: its end not written (zeros), a byte of it wrong, its
// first sector not written while a later one was. OpenBolt drops just
// that frame, says so, and starts.
func TestTornTail(t *testing.T) {
	cases := []struct {
		name string
		tear func(t *testing.T, seg string, f frame)
	}{
		{"end not written", func(t *testing.T, seg string, f frame) {
			writeAt(t, seg, f.off+f.size/2, make([]byte, f.size-f.size/2))
		}},
		{"a sector in the middle not written", func(t *testing.T, seg string, f frame) {
			mid := (f.off/sectorSize + 2) * sectorSize
			if mid+2*sectorSize > f.off+f.size {
				t.Fatalf("frame %+v too small", f)
			}
			writeAt(t, seg, mid, make([]byte, sectorSize))
		}},
		{"last sector not written", func(t *testing.T, seg string, f frame) {
			last := (f.off + f.size - 1) / sectorSize * sectorSize
			writeAt(t, seg, last, make([]byte, f.off+f.size-last))
		}},
		{"first sector not written", func(t *testing.T, seg string, f frame) {
			end := (f.off/sectorSize + 1) * sectorSize
			writeAt(t, seg, f.off, make([]byte, end-f.off))
		}},
		{"only the header written", func(t *testing.T, seg string, f frame) {
			writeAt(t, seg, f.off+frameHeader, make([]byte, f.size-frameHeader))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, h := crashedDir(t, 0, 8, 30, false)
			seg := segPath(dir, 0)
			fs := frames(t, seg)
			last := fs[len(fs)-1]
			c.tear(t, seg, last)
			var logged []string
			s, err := OpenBoltWith(dir, BoltOptions{Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
			if err != nil {
				t.Fatalf("OpenBolt with a torn tail: %v", err)
			}
			defer s.Close()
			if diff := sameRecords(loadRecords(t, s), h.state(func(i int) bool { return i < len(h.batches)-1 })); diff != "" {
				t.Fatalf("after a torn tail: %s", diff)
			}
			rec := s.Recovery()
			if len(rec.Torn) != 1 || rec.Torn[0].File != seg || rec.Torn[0].Offset != last.off || rec.Torn[0].Kind != DamageTornTail {
				t.Fatalf("Recovery().Torn = %+v, want the segment and offset %d", rec.Torn, last.off)
			}
			if len(logged) == 0 || !strings.Contains(logged[0], "torn tail") || !strings.Contains(logged[0], seg) {
				t.Fatalf("logged %q", logged)
			}
			t.Logf("logged: %s", logged[0])
			// The store goes on; a crash now finds no damage.
			h2 := &acked{}
			h2.save(t, s, storeJob(9999))
			s.crash()
			s = openBolt(t, dir)
			if len(s.Recovery().Torn) != 0 {
				t.Fatalf("the torn tail is found again")
			}
			if _, ok := loadRecords(t, s)[9999]; !ok {
				t.Fatal("job saved after the recovery is lost")
			}
		})
	}
}

// TestTornTailCleared: OpenBolt zeroes a torn tail before it writes
// anything after it, so that a crash while it deletes the replayed
// segments cannot leave the torn frame behind newer frames. Here a spare
// segment follows the torn one.
func TestTornTailCleared(t *testing.T) {
	dir, _ := crashedDir(t, 0, 5, 5, false)
	seg := segPath(dir, 0)
	fs := frames(t, seg)
	last := fs[len(fs)-1]
	writeAt(t, seg, last.off+last.size/2, make([]byte, last.size-last.size/2))
	spare, err := createSegment(filepath.Join(dir, LogDir), 1, walSegmentSize)
	if err != nil {
		t.Fatal(err)
	}
	spare.f.Close()
	ls, err := scanLog(filepath.Join(dir, LogDir), logState{})
	if err != nil || len(ls.damage) > 0 || len(ls.tornAt) != 1 || ls.tornAt[0].seg.path != seg {
		t.Fatalf("scan: %v %v %+v", err, ls.damage, ls.torn)
	}
	if err := clearTorn(ls.tornAt[0]); err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, seg); lastNonZero(b, int(last.off)) >= 0 {
		t.Fatal("the torn tail is still there")
	}
	ls, err = scanLog(filepath.Join(dir, LogDir), logState{})
	if err != nil || len(ls.damage) > 0 || len(ls.torn) != 0 || len(ls.frames) != len(fs)-1 {
		t.Fatalf("rescan: %v %v %v %d frames", err, ls.damage, ls.torn, len(ls.frames))
	}
}

// TestOlderDataDir: a data dir an older drover left after a crash: bare
// records in drover.db (no checksum) and a log segment of the first
// format (no LSN, no high-water mark). It opens, and everything loads.
func TestOlderDataDir(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir)
	s.Close()
	old, j2, j3 := storeJob(1), storeJob(2), storeJob(3)
	db, err := openBoltDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = db.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(storeBucket).Delete(stateKey); err != nil {
			return err
		}
		return tx.Bucket(jobsBucket).Put(seqKey(1), old.AppendRecord(nil))
	})
	db.close()
	if err != nil {
		t.Fatal(err)
	}
	// A first-format segment with two frames.
	seg := append([]byte(walMagicV1), make([]byte, 8)...)
	for _, batch := range [][]*Job{{j2}, {j3}} {
		var body []byte
		body = binary.AppendUvarint(body, uint64(len(batch)))
		for _, r := range Records(batch...) {
			body = binary.AppendUvarint(body, r.Seq)
			body = binary.AppendUvarint(body, uint64(len(r.Data)))
			body = append(body, r.Data...)
		}
		seg = binary.LittleEndian.AppendUint32(seg, uint32(len(body)))
		seg = binary.LittleEndian.AppendUint32(seg, crc32.Checksum(body, crcTable))
		seg = append(seg, body...)
	}
	seg = append(seg, make([]byte, 4096)...)
	if err := os.WriteFile(segPath(dir, 0), seg, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openBolt(t, dir)
	wantJobs(t, loadAll(t, s), []*Job{old, j2, j3})
	if s.HighWater() != 3 || s.Recovery().Frames != 2 {
		t.Fatalf("high-water mark %d, recovery %+v", s.HighWater(), s.Recovery())
	}
}

// TestCrashShapes are states a crash leaves that are not damage: a spare
// segment, one torn bbolt meta page, an empty current segment after a
// rotation, a crash while a checkpoint deleted its segment.
func TestCrashShapes(t *testing.T) {
	t.Run("torn meta page", func(t *testing.T) {
		dir, h := crashedDir(t, 0, 5, 5, false)
		bp, _, err := openBoltPages(filepath.Join(dir, BoltFile))
		if err != nil {
			t.Fatal(err)
		}
		used, ps := bp.used, bp.ps
		bp.close()
		// The newest meta page half written.
		writeAt(t, filepath.Join(dir, BoltFile), int64(used)*ps+pageHeaderSize+32, make([]byte, 32))
		s := openBolt(t, dir)
		if diff := sameRecords(loadRecords(t, s), h.state(nil)); diff != "" {
			t.Fatal(diff)
		}
	})
	t.Run("segments left by checkpoints", func(t *testing.T) {
		// Small segments, many rotations, spare segments made ahead; a
		// crash at the end, then again after reopening.
		dir, h := crashedDir(t, 4<<10, 40, 3, false)
		s := openBolt(t, dir)
		if diff := sameRecords(loadRecords(t, s), h.state(nil)); diff != "" {
			t.Fatal(diff)
		}
		for i := range 30 {
			h.save(t, s, storeJob(uint64(1000+i)))
		}
		s.crash()
		s = openBolt(t, dir)
		if diff := sameRecords(loadRecords(t, s), h.state(nil)); diff != "" {
			t.Fatal(diff)
		}
	})
	t.Run("checkpointed segment left", func(t *testing.T) {
		// A crash after a checkpoint's commit, before its segment was
		// deleted: the segment is replayed again.
		smallSegments(t, 4<<10)
		dir := t.TempDir()
		s := openBolt(t, dir)
		h := &acked{}
		for i := range 30 {
			h.save(t, s, storeJob(uint64(i+1)))
		}
		// A checkpoint may delete a segment between the listing and
		// its read: a segment gone is left out.
		keep := map[string][]byte{}
		for _, n := range segments(t, dir) {
			b, err := os.ReadFile(segPath(dir, n))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			keep[segPath(dir, n)] = b
		}
		if len(keep) == 0 {
			t.Fatal("no log segment to keep")
		}
		for i := range 30 {
			h.save(t, s, storeJob(uint64(i+100)))
		}
		s.Close()
		// Put back the oldest segment only: the log is a suffix.
		oldest := slices.Min(slices.Collect(maps.Keys(keep)))
		os.WriteFile(oldest, keep[oldest], 0o600)
		s = openBolt(t, dir)
		if diff := sameRecords(loadRecords(t, s), h.state(nil)); diff != "" {
			t.Fatal(diff)
		}
	})
}

// TestHighWater: the mark is the highest Seq ever saved, across reopen,
// Close, and a store without it gives 0.
func TestHighWater(t *testing.T) {
	m := NewMemStore()
	save(t, m, storeJob(7), storeJob(3))
	if HighWater(m) != 7 {
		t.Fatalf("MemStore high-water mark %d", HighWater(m))
	}
	var plain struct{ Store }
	if HighWater(plain) != 0 {
		t.Fatal("a store without a mark")
	}
	dir := t.TempDir()
	s := openBolt(t, dir)
	save(t, s, storeJob(5), storeJob(40))
	save(t, s, storeJob(6))
	if s.HighWater() != 40 {
		t.Fatalf("high-water mark %d, want 40", s.HighWater())
	}
	s.crash()
	// After a crash the store numbers above the reservation in
	// wal/highwater: a gap, never an ID twice.
	res, _, _ := readHighWaterFile(filepath.Join(dir, LogDir))
	s = openBolt(t, dir)
	if s.HighWater() < 40 || s.HighWater() != res {
		t.Fatalf("after a crash: high-water mark %d, want the reservation %d (at least 40)", s.HighWater(), res)
	}
	save(t, s, storeJob(res+1))
	s.Close()
	// Close sets wal/highwater back to the mark: a clean restart
	// numbers on without a gap.
	s = openBolt(t, dir)
	if s.HighWater() != res+1 || !s.Recovery().CleanClose {
		t.Fatalf("after Close: high-water mark %d (clean %v), want %d", s.HighWater(), s.Recovery().CleanClose, res+1)
	}
	s.Close()
	if hw, ok, err := readHighWaterFile(filepath.Join(dir, LogDir)); hw != res+1 || !ok || err != nil {
		t.Fatalf("wal/highwater: %d %v %v, want %d", hw, ok, err, res+1)
	}
}

// jobsRoot returns the root page of dir's jobs bucket, and whether it is
// a branch page.
func jobsRoot(tb testing.TB, dir string) (uint64, bool) {
	tb.Helper()
	db, err := bolt.Open(filepath.Join(dir, BoltFile), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var root uint64
	db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(jobsBucket).Root())
		return nil
	})
	ps := boltPageSize(tb, dir)
	hdr := readAll(tb, filepath.Join(dir, BoltFile))[int64(root)*ps:][:pageHeaderSize]
	return root, binary.LittleEndian.Uint16(hdr[8:]) == branchPageFlag
}

// TestDamageBranchPage: 64 bytes of garbage over the elements of the jobs
// bucket's branch page, after a clean stop (as an outside tester did).
// Every leaf page under it still reads: check and salvage read them
// though no sound branch reaches them, and keep the newest version of
// each job, not the older one a freed page still holds (the jobs were
// updated after a first checkpoint, with the same Updated time, so that
// only the kind of page tells the versions apart).
func TestDamageBranchPage(t *testing.T) {
	dir, h := closedDir(t, 300)
	s := openBolt(t, dir)
	h.save(t, s, reprioritized(1, 300, 2, 7)...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	root, branch := jobsRoot(t, dir)
	if !branch {
		t.Fatalf("the jobs bucket's root page %d is not a branch page", root)
	}
	ps := boltPageSize(t, dir)
	db := filepath.Join(dir, BoltFile)
	writeAt(t, db, int64(root)*ps+pageHeaderSize, randomBytes(rand.New(rand.NewPCG(5, 6)), 64))
	r, err := CheckDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sound() || r.Damage[0].Kind != DamageBoltPage || r.Damage[0].Offset != int64(root)*ps+pageHeaderSize {
		t.Fatalf("damage %v", r.Damage)
	}
	t.Logf("check: %s; notes %q", r.Damage[0], r.Notes)
	if r.Records != 300 || len(r.Lost.IDs) > 0 || len(r.Lost.Ranges) > 0 || len(r.Lost.MaybeOlder) > 0 {
		t.Fatalf("check: %d jobs would load, lost %+v", r.Records, r.Lost)
	}
	if !strings.Contains(r.Damage[0].Lost, "300 of them (IDs 1..300) read on pages no sound branch reaches") {
		t.Fatalf("lost: %s", r.Damage[0].Lost)
	}
	rep, err := Salvage(dir, filepath.Join(t.TempDir(), "new"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kept != 300 || rep.FromBolt != 300 {
		t.Fatalf("salvage kept %d (%d from drover.db)", rep.Kept, rep.FromBolt)
	}
	s = openBolt(t, rep.To)
	defer s.Close()
	if diff := sameRecords(loadRecords(t, s), h.state(nil)); diff != "" {
		t.Fatalf("salvaged: %s", diff)
	}
}

// TestDamageCutFrameSeqs: bytes cut out of the middle of a frame (the
// frames after it shifted back): the check names only jobs the frame
// held, never one read from the bytes of a record cut in two or of the
// frame after it.
func TestDamageCutFrameSeqs(t *testing.T) {
	dir, h := crashedDir(t, 64<<10, 10, 10, false)
	seg := segPath(dir, 0)
	orig := readAll(t, seg)
	fs := frames(t, seg)
	// Not the last frame: cut short with zeros after it, it is a torn
	// tail.
	for i := 1; i < len(fs)-1; i += 3 {
		in := map[uint64]bool{}
		for _, r := range h.batches[i] {
			in[r.Seq] = true
		}
		for at := int64(frameHeader + frameMeta); at+100 < fs[i].size; at += 61 {
			writeAt(t, seg, 0, orig)
			cutBytes(t, seg, fs[i].off+at, fs[i].off+at+100)
			r, err := CheckDataDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if r.Sound() {
				t.Fatalf("frame %d cut at %d: sound", i, at)
			}
			for _, d := range r.Damage {
				for _, q := range d.Seqs {
					if !in[q] {
						t.Fatalf("frame %d (jobs %v) cut at %d: %s names job %d", i, slices.Sorted(maps.Keys(in)), at, d, q)
					}
				}
			}
			for _, q := range r.Lost.Stale {
				if !in[q] {
					t.Fatalf("frame %d cut at %d: job %d reported stale", i, at, q)
				}
			}
		}
	}
}

// TestDamageFlippedByteSeqs: a byte flipped inside one record of a frame
// whose lengths are intact: the check still names every job of the frame,
// the damaged record's (its start reads) and those after it.
func TestDamageFlippedByteSeqs(t *testing.T) {
	dir, h := crashedDir(t, 64<<10, 10, 10, false)
	seg := segPath(dir, 0)
	f := frames(t, seg)[4]
	at := f.off + f.size/2
	writeAt(t, seg, at, []byte{^readAll(t, seg)[at]})
	r, err := CheckDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for _, rec := range h.batches[4] {
		want = append(want, rec.Seq)
	}
	slices.Sort(want)
	if len(r.Damage) != 1 || !slices.Equal(r.Damage[0].Seqs, want) {
		t.Fatalf("damage %v, want job IDs %v", r.Damage, want)
	}
}
