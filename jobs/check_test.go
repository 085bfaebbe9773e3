package jobs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// damaged is a damaged data dir for CheckDataDir and Salvage, with what a
// salvage of it must keep: want, exactly (nil: check only that every job
// kept is as acknowledged and every job not kept is reported lost).
type damaged struct {
	dir  string
	h    *acked
	want map[uint64][]byte
	file string // a file the damage is in
}

// batchesIn returns the indexes of the batches (one frame each) in the
// segments of dir before first, and in segment num.
func batchesIn(t *testing.T, dir string, nums []uint64, num uint64) (before, in int) {
	for _, n := range nums {
		k := len(frames(t, segPath(dir, n)))
		if n == num {
			return before, k
		}
		before += k
	}
	t.Fatalf("no segment %d", num)
	return
}

var damages = []struct {
	name string
	make func(t *testing.T) damaged
}{
	{"flipped byte", func(t *testing.T) damaged {
		dir, h := crashedDir(t, 0, 12, 5, false)
		seg := segPath(dir, 0)
		f := frames(t, seg)[5]
		writeAt(t, seg, f.off+f.size/2, []byte{readAll(t, seg)[f.off+f.size/2] ^ 0x10})
		return damaged{dir, h, h.state(func(i int) bool { return i != 5 }), seg}
	}},
	{"truncated frame", func(t *testing.T) damaged {
		dir, h := crashedDir(t, 0, 12, 5, false)
		seg := segPath(dir, 0)
		f := frames(t, seg)[4]
		cutBytes(t, seg, f.off+f.size-40, f.off+f.size)
		return damaged{dir, h, h.state(func(i int) bool { return i != 4 }), seg}
	}},
	{"file cut in the last frame", func(t *testing.T) damaged {
		dir, h := crashedDir(t, 0, 12, 5, false)
		seg := segPath(dir, 0)
		fs := frames(t, seg)
		last := fs[len(fs)-1]
		os.Truncate(seg, last.off+last.size/2)
		return damaged{dir, h, h.state(func(i int) bool { return i != len(fs)-1 }), seg}
	}},
	{"zeroed length", func(t *testing.T) damaged {
		dir, h := crashedDir(t, 0, 12, 5, false)
		seg := segPath(dir, 0)
		f := frames(t, seg)[6]
		writeAt(t, seg, f.off, make([]byte, 4))
		return damaged{dir, h, h.state(func(i int) bool { return i != 6 }), seg}
	}},
	{"missing segment", func(t *testing.T) damaged {
		dir, h := crashedDir(t, 4<<10, 14, 4, true)
		nums := segments(t, dir)
		from, n := batchesIn(t, dir, nums, nums[1])
		os.Remove(segPath(dir, nums[1]))
		return damaged{dir, h, h.state(func(i int) bool { return i < from || i >= from+n }), segPath(dir, nums[1])}
	}},
	{"oldest segment missing", func(t *testing.T) damaged {
		dir, h := crashedDir(t, 4<<10, 14, 4, true)
		nums := segments(t, dir)
		_, n := batchesIn(t, dir, nums, nums[0])
		os.Remove(segPath(dir, nums[0]))
		return damaged{dir, h, h.state(func(i int) bool { return i >= n }), segPath(dir, nums[0])}
	}},
	{"sequence gap", func(t *testing.T) damaged {
		dir, h := crashedDir(t, 0, 12, 5, false)
		seg := segPath(dir, 0)
		f := frames(t, seg)[3]
		cutBytes(t, seg, f.off, f.off+f.size)
		return damaged{dir, h, h.state(func(i int) bool { return i != 3 }), seg}
	}},
	{"empty drover.db after Close", func(t *testing.T) damaged {
		dir, h := closedDir(t, 120)
		db := filepath.Join(dir, BoltFile)
		os.Truncate(db, 0)
		return damaged{dir, h, map[uint64][]byte{}, db}
	}},
	{"garbage pages in drover.db", func(t *testing.T) damaged {
		dir, h := closedDir(t, 600)
		ps := boltPageSize(t, dir)
		pages := jobPages(t, dir)
		db := filepath.Join(dir, BoltFile)
		writeAt(t, db, int64(pages[len(pages)/2])*ps, randomBytes(rand.New(rand.NewPCG(3, 4)), 2*ps))
		return damaged{dir, h, nil, db}
	}},
	{"garbage over the jobs' branch page", func(t *testing.T) damaged {
		// The leaf pages under it read: every job is kept, in its last
		// version (freed pages hold older ones).
		dir, h := closedDir(t, 300)
		s := openBolt(t, dir)
		h.save(t, s, reprioritized(1, 300, 3, 9)...)
		s.Close()
		root, _ := jobsRoot(t, dir)
		db := filepath.Join(dir, BoltFile)
		writeAt(t, db, int64(root)*boltPageSize(t, dir)+pageHeaderSize, bytes.Repeat([]byte{0x5A}, 64))
		return damaged{dir, h, h.state(nil), db}
	}},
	{"garbage pages in drover.db and a log", func(t *testing.T) damaged {
		// Jobs checkpointed into drover.db, then updated in the log: the
		// log's versions cover part of what the pages lost.
		dir, h := closedDir(t, 600)
		s := openBolt(t, dir)
		h.save(t, s, reprioritized(200, 399, 7, 5)...)
		s.crash()
		ps := boltPageSize(t, dir)
		pages := jobPages(t, dir)
		db := filepath.Join(dir, BoltFile)
		writeAt(t, db, int64(pages[len(pages)/2])*ps, bytes.Repeat([]byte{0xA5}, int(ps)))
		return damaged{dir, h, nil, db}
	}},
}

// TestCheckAndSalvage runs CheckDataDir and Salvage on every damaged dir:
// the check finds the damage and changes nothing; the salvage keeps every
// valid record, its new dir opens cleanly with a high-water mark at least
// the highest Seq ever saved, and the damaged dir is byte for byte as it
// was.
func TestCheckAndSalvage(t *testing.T) {
	for _, c := range damages {
		t.Run(c.name, func(t *testing.T) {
			d := c.make(t)
			before := dirHash(t, d.dir)
			r, err := CheckDataDir(d.dir)
			if err != nil {
				t.Fatalf("CheckDataDir: %v", err)
			}
			if r.Sound() {
				t.Fatalf("CheckDataDir found no damage")
			}
			named := false
			for _, dm := range r.Damage {
				named = named || dm.File == d.file || strings.HasPrefix(dm.File, d.file)
			}
			if !named {
				t.Fatalf("no damage names %s: %v", d.file, r.Damage)
			}
			if r.HighWater < d.h.highest() {
				t.Fatalf("check: high-water mark %d < %d", r.HighWater, d.h.highest())
			}
			for _, dm := range r.Damage {
				t.Logf("check: %s", dm)
			}

			dst := filepath.Join(t.TempDir(), "salvaged")
			rep, err := Salvage(d.dir, dst)
			if err != nil {
				t.Fatalf("Salvage: %v", err)
			}
			if !sameHash(before, dirHash(t, d.dir)) {
				t.Fatal("check or salvage changed the damaged dir")
			}
			if rep.Complete() {
				t.Fatalf("salvage report says nothing was lost: %+v", rep)
			}
			for _, dm := range rep.Damage {
				if dm.Offset >= 0 && dm.Kind != DamageLogGap && len(rep.Skipped) == 0 {
					t.Fatalf("salvage skipped no bytes of %s", dm)
				}
			}
			t.Logf("salvage: kept %d, lost %v, stale %v, ranges %v, skipped %v", rep.Kept, rep.Lost.IDs, rep.Lost.Stale, rep.Lost.Ranges, rep.Skipped)
			s, err := OpenBolt(dst)
			if err != nil {
				t.Fatalf("the salvaged dir does not open: %v", err)
			}
			defer s.Close()
			got := loadRecords(t, s)
			if hw := max(HighWater(s), rep.HighWater); hw < d.h.highest() || HighWater(s) < rep.HighWater {
				t.Fatalf("salvaged high-water mark %d (report %d) < %d", HighWater(s), rep.HighWater, d.h.highest())
			}
			if LoadJobs(s, func(*Job) error { return nil }) != nil {
				t.Fatal("salvaged jobs do not decode")
			}
			if len(got) != rep.Kept {
				t.Fatalf("salvaged dir holds %d jobs, the report says %d", len(got), rep.Kept)
			}
			if d.want != nil {
				if diff := sameRecords(got, d.want); diff != "" {
					t.Fatalf("salvage kept the wrong jobs: %s", diff)
				}
			}
			// Every job kept is as acknowledged (its last version, unless
			// reported stale); every job not kept is reported lost.
			last := d.h.state(nil)
			vers := d.h.versions()
			for q, data := range got {
				switch {
				case bytes.Equal(data, last[q]):
				case !slices.ContainsFunc(vers[q], func(v []byte) bool { return bytes.Equal(v, data) }):
					t.Fatalf("job %d kept in a version never acknowledged", q)
				case d.want == nil && !slices.Contains(rep.Lost.Stale, q) && !slices.Contains(rep.Lost.MaybeOlder, q):
					t.Fatalf("job %d kept in an older version, not reported stale", q)
				}
			}
			for q := range last {
				if _, ok := got[q]; ok || slices.Contains(rep.Lost.IDs, q) {
					continue
				}
				if !slices.ContainsFunc(rep.Lost.Ranges, func(r IDRange) bool { return r.From <= q && q <= r.To }) {
					t.Fatalf("job %d is neither kept nor reported lost (lost %v, ranges %v)", q, rep.Lost.IDs, rep.Lost.Ranges)
				}
			}
			// The new dir checks sound, and a master can go on.
			if r2, err := CheckDataDir(dst); err == nil {
				t.Fatalf("check of the salvaged dir while it is open: no error")
			} else if !errors.Is(err, errLocked) {
				t.Fatalf("check of an open dir: %v, want locked", err)
			} else {
				_ = r2
			}
			s.Save(Records(storeJob(rep.HighWater + 1)))
		})
	}
}

// TestCheckSound: a data dir after a crash and after Close checks sound,
// with its counts; a torn tail is reported, not counted as damage.
func TestCheckSound(t *testing.T) {
	dir, h := crashedDir(t, 0, 6, 10, false)
	r, err := CheckDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Sound() || r.Records != len(h.state(nil)) || r.HighWater < h.highest() || r.HighWater != r.Log.HighWaterFile ||
		r.Closed != "open" || r.Log.Frames != 6 {
		t.Fatalf("report %+v", r)
	}
	s := openBolt(t, dir)
	s.Close()
	r, err = CheckDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Sound() || r.Records != len(h.state(nil)) || r.Bolt.Records != r.Records || r.Closed != "closed" || r.Log.Frames != 0 || !r.Bolt.Checked {
		t.Fatalf("report after Close %+v", r)
	}
	// A torn tail: the last frame's sectors after its first not written.
	dir, h = crashedDir(t, 0, 6, 10, false)
	seg := segPath(dir, 0)
	fs := frames(t, seg)
	from := (fs[5].off/sectorSize + 1) * sectorSize
	writeAt(t, seg, from, make([]byte, fs[5].off+fs[5].size-from))
	r, err = CheckDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Sound() || len(r.Torn) != 1 || r.Records != len(h.state(func(i int) bool { return i < 5 })) {
		t.Fatalf("report with a torn tail %+v", r)
	}
	rep, err := Salvage(dir, filepath.Join(t.TempDir(), "x"))
	if err != nil || !rep.Complete() || len(rep.Torn) != 1 {
		t.Fatalf("salvage with a torn tail: %+v %v", rep, err)
	}
}

// TestCheckLocked: a data dir a master holds is refused, by check and
// salvage, and salvage refuses a destination that is not new.
func TestCheckLocked(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir)
	save(t, s, storeJob(1))
	if _, err := CheckDataDir(dir); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("CheckDataDir of an open store: %v", err)
	}
	if _, err := Salvage(dir, filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("Salvage of an open store: %v", err)
	}
	s.Close()
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "f"), nil, 0o600)
	if _, err := Salvage(dir, full); err == nil {
		t.Fatal("Salvage into a dir that is not empty")
	}
	if _, err := Salvage(dir, filepath.Join(dir, "sub")); err == nil {
		t.Fatal("Salvage into the source")
	}
	if _, err := CheckDataDir(t.TempDir()); err == nil {
		t.Fatal("CheckDataDir of an empty dir")
	}
}

// FuzzOpenDamaged damages a small real data dir (a crashed store: jobs in
// drover.db, more in three log segments) at a fuzzed place: bytes
// overwritten or flipped, a file cut short or deleted. OpenBolt must not
// panic, and either fail with ErrCorrupt or load acknowledged records
// only, with everything written before the damage: what a prefix of the
// frames gives, at least the frames before the damaged one (damage to
// drover.db or wal/highwater: all of them). Where OpenBolt refuses,
// CheckDataDir and Salvage must not panic and the salvaged dir must open.
func FuzzOpenDamaged(f *testing.F) {
	f.Add(uint8(0), uint32(100), []byte{0xff}, uint8(0))
	f.Add(uint8(1), uint32(40), []byte{0, 0, 0, 0}, uint8(0))
	f.Add(uint8(2), uint32(30), []byte{1}, uint8(1))
	f.Add(uint8(3), uint32(5000), []byte("garbage"), uint8(0))
	f.Add(uint8(0), uint32(8192), bytes.Repeat([]byte{0xAA}, 64), uint8(0))
	f.Add(uint8(1), uint32(1000), []byte{}, uint8(2))
	f.Add(uint8(4), uint32(3), []byte{7}, uint8(0))
	f.Add(uint8(0), uint32(0), []byte{}, uint8(3))
	base, h, frs := fuzzBase(f)
	names := fuzzFiles(f, base)
	inBolt := len(h.batches) - len(frs) // the batches checkpointed into drover.db
	prefix := func(m int) map[uint64][]byte { return h.state(func(i int) bool { return i < inBolt+m }) }
	f.Fuzz(func(t *testing.T, which uint8, at uint32, val []byte, mode uint8) {
		if len(val) > 64 {
			val = val[:64]
		}
		dir := copyDir(t, base)
		name := names[int(which)%len(names)]
		path := filepath.Join(dir, name)
		b := readAll(t, path)
		off := int64(at) % int64(len(b)+1)
		switch mode % 4 {
		case 0: // overwrite
			n := copy(b[off:], val)
			val = val[:n]
		case 1: // xor
			for i := range val {
				if off+int64(i) < int64(len(b)) {
					b[off+int64(i)] ^= val[i]
				}
			}
		case 2: // cut the file short
			b = b[:off]
		case 3: // delete it
			os.Remove(path)
			b = nil
			off = 0
		}
		if b != nil {
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		// The first frame the damage can touch: the frames before it must
		// all be there.
		k := len(frs)
		for i, fr := range frs {
			if !strings.HasSuffix(name, walExt) {
				break
			}
			if fr.name > name || (fr.name == name && fr.off+fr.size > off) {
				k = i
				break
			}
		}
		s, err := OpenBolt(dir)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("OpenBolt = %v, want ErrCorrupt", err)
			}
			if _, err := CheckDataDir(dir); err != nil {
				t.Fatalf("CheckDataDir: %v", err)
			}
			rep, err := Salvage(dir, filepath.Join(t.TempDir(), "s"))
			if err != nil {
				t.Fatalf("Salvage: %v", err)
			}
			s2, err := OpenBolt(rep.To)
			if err != nil {
				t.Fatalf("salvaged dir: %v", err)
			}
			s2.Close()
			return
		}
		got := make(map[uint64][]byte)
		err = s.Load(func(seq uint64, data []byte) error { got[seq] = bytes.Clone(data); return nil })
		s.Close()
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load = %v, want ErrCorrupt", err)
			}
			return
		}
		for m := len(frs); m >= k; m-- {
			if sameRecords(got, prefix(m)) == "" {
				return
			}
		}
		t.Fatalf("%s damaged at %d (mode %d, %x): opened, but %s", name, off, mode%4, val, sameRecords(got, prefix(len(frs))))
	})
}

// fuzzFrame is a frame of the fuzz target's base dir.
type fuzzFrame struct {
	name      string // its segment, relative to the data dir
	off, size int64
}

// fuzzBase makes the data dir FuzzOpenDamaged damages: 60 jobs in
// drover.db (closed once), then updates and new jobs in small segments,
// checkpoints stuck so that the segments stay, and a crash. It returns the
// log's frames in the order written, one for each batch after the first
// ten.
func fuzzBase(tb testing.TB) (string, *acked, []fuzzFrame) {
	old := walSegmentSize
	walSegmentSize = 2 << 10
	tb.Cleanup(func() { walSegmentSize = old })
	dir := filepath.Join(tb.TempDir(), "base")
	s, err := OpenBolt(dir)
	if err != nil {
		tb.Fatal(err)
	}
	h := &acked{}
	for i := 0; i < 60; i += 6 {
		var js []*Job
		for q := i + 1; q <= i+6; q++ {
			js = append(js, storeJob(uint64(q)))
		}
		h.save(tb, s, js...)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	s, err = OpenBolt(dir)
	if err != nil {
		tb.Fatal(err)
	}
	s.db.db.Close() // checkpoints fail from here: the segments stay
	for i := range 9 {
		u := storeJob(uint64(3 + 5*i))
		u.Spec.Priority = 50 + i
		h.save(tb, s, u, storeJob(uint64(61+i)))
	}
	s.crash()
	trimBolt(tb, dir) // so that the copies the fuzzer makes are small
	nums, err := segmentFiles(filepath.Join(dir, LogDir), false)
	if err != nil {
		tb.Fatal(err)
	}
	var frs []fuzzFrame
	for _, n := range nums {
		name := filepath.Join(LogDir, segmentName(n))
		for _, fr := range frames(tb, filepath.Join(dir, name)) {
			frs = append(frs, fuzzFrame{name, fr.off, fr.size})
		}
	}
	if len(frs) != 9 {
		tb.Fatalf("%d frames in the log, want 9", len(frs))
	}
	return dir, h, frs
}

// fuzzFiles lists the files of the base dir, relative to it.
func fuzzFiles(tb testing.TB, dir string) []string {
	names := []string{BoltFile}
	ents, err := os.ReadDir(filepath.Join(dir, LogDir))
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		names = append(names, filepath.Join(LogDir, e.Name()))
	}
	return names
}

// TestFuzzBase checks the fuzz target's base dir opens with every job.
func TestFuzzBase(t *testing.T) {
	base, h, frs := fuzzBase(t)
	t.Logf("files %v, frames %v", fuzzFiles(t, base), frs)
	s := openBolt(t, base)
	if diff := sameRecords(loadRecords(t, s), h.state(nil)); diff != "" {
		t.Fatal(diff)
	}
}

// TestCheckStoreState: with drover.db empty after a clean stop, the check
// does not say the data dir is an older drover's: the store's state is
// unreadable, not unrecorded.
func TestCheckStoreState(t *testing.T) {
	dir, _ := closedDir(t, 100)
	if err := os.Truncate(filepath.Join(dir, BoltFile), 0); err != nil {
		t.Fatal(err)
	}
	r, err := CheckDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Closed != "unreadable" {
		t.Fatalf("store state %q, want unreadable", r.Closed)
	}
}

// TestSkipEndCutFile: a segment cut short inside its last frame, where
// the frame's last bytes left are zeros (as an outside tester cut one):
// the bytes skipped run to the end of the file, not to its last non-zero
// byte. A bad frame followed by the log's zeros ends at its last non-zero
// byte.
func TestSkipEndCutFile(t *testing.T) {
	dir, _ := crashedDir(t, 0, 12, 5, false)
	seg := segPath(dir, 0)
	fs := frames(t, seg)
	last := fs[len(fs)-1]
	b := readAll(t, seg)
	cut := int64(-1)
	for p := last.off + last.size - 1; p > last.off+frameHeader+frameMeta; p-- {
		if b[p-1] == 0 && b[p-2] == 0 && b[p-3] != 0 {
			cut = p
			break
		}
	}
	if cut < 0 {
		t.Skip("no zeros in the last frame")
	}
	if err := os.Truncate(seg, cut); err != nil {
		t.Fatal(err)
	}
	ls, err := scanLog(filepath.Join(dir, LogDir), logState{})
	if err != nil {
		t.Fatal(err)
	}
	s := ls.segs[0]
	if len(s.bad) != 1 || s.bad[0].off != last.off {
		t.Fatalf("bad spots %+v", s.bad)
	}
	if e := skipEnd(s, &s.bad[0]); e != cut {
		t.Fatalf("skipped to %d, want the end of the file, %d (its last non-zero byte is at %d)", e, cut, s.lastNZ)
	}

	dir, _ = crashedDir(t, 0, 12, 5, false)
	seg = segPath(dir, 0)
	f := frames(t, seg)[4]
	writeAt(t, seg, f.off+f.size/2, []byte{readAll(t, seg)[f.off+f.size/2] ^ 0x10})
	ls, err = scanLog(filepath.Join(dir, LogDir), logState{})
	if err != nil {
		t.Fatal(err)
	}
	s = ls.segs[0]
	if len(s.bad) != 1 || skipEnd(s, &s.bad[0]) != f.off+f.size {
		t.Fatalf("a flipped byte: bad spots %+v, skipped to %d, want %d", s.bad, skipEnd(s, &s.bad[0]), f.off+f.size)
	}
}

func TestIDRanges(t *testing.T) {
	for _, tc := range []struct {
		ids  []uint64
		want string
	}{
		{nil, ""},
		{[]uint64{7}, "7"},
		{[]uint64{1, 2, 3, 7}, "1..3,7"},
		{[]uint64{1, 3, 4, 5, 9, 10}, "1,3..5,9..10"},
	} {
		var got []string
		for _, r := range IDRanges(tc.ids) {
			got = append(got, r.String())
		}
		if s := strings.Join(got, ","); s != tc.want {
			t.Errorf("IDRanges(%v) = %s, want %s", tc.ids, s, tc.want)
		}
	}
}

// TestSeqList: the damage report's list of Seqs is sorted, without
// repeats, as ranges, and cut after 20 of them with how many Seqs are
// left.
func TestSeqList(t *testing.T) {
	if got, want := seqList([]uint64{9, 3, 1, 2, 3, 10}), "1..3,9..10"; got != want {
		t.Errorf("seqList = %q, want %q", got, want)
	}
	var seqs []uint64
	for i := range uint64(25) {
		seqs = append(seqs, 3*i, 3*i+1) // 25 ranges of two
	}
	got := seqList(seqs)
	if want := "0..1,3..4,"; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ",57..58,and 10 more") {
		t.Errorf("seqList of 25 ranges = %q, want 20 ranges then \"and 10 more\"", got)
	}
}
