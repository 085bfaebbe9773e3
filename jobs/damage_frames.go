package jobs

// Telling a torn tail from damage in the log (classify), and reading
// damaged frames without their checksums: where a later frame starts,
// which job IDs a damaged frame bore, how far the high-water mark had got,
// and where salvage's skipped bytes end.

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
)

// laterFrame looks for the start of a version 2 body (LSN, high-water
// mark) of a frame written after the torn one (whose LSN is prevLSN+1),
// as the remains of frames whose headers were lost: the sign of damage,
// not of a crash.
func laterFrame(b []byte, from int64, prevLSN, prevHW uint64, lastNZ int64) int64 {
	for p := from; p+frameMeta <= int64(len(b)) && p <= lastNZ; p++ {
		lsn := binary.LittleEndian.Uint64(b[p:])
		if lsn < prevLSN+2 || lsn > prevLSN+64 {
			continue
		}
		hw := binary.LittleEndian.Uint64(b[p+8:])
		if hw < prevHW || hw > prevHW+1<<20 || hw == 0 {
			continue
		}
		// Then a record count and a first record of a Seq at most hw.
		rest := b[p+frameMeta:]
		count, k := binary.Uvarint(rest)
		if k <= 0 || count == 0 || count > 1<<20 {
			continue
		}
		if seq, m := binary.Uvarint(rest[k:]); m > 0 && seq > 0 && seq <= hw {
			return p
		}
	}
	return -1
}

// guessLost reads what it can of the frames in b[from:to] without
// trusting their checksums, to say what a bad stretch held: the frames
// whose lengths fit, and the Seqs of the records it can make out, up to
// where the bytes stop making sense.
func guessLost(b []byte, from, to int64, version int) (frames, recs int, seqs []uint64, maxHW uint64) {
	for off := from; off+frameHeader <= to; {
		n := int64(binary.LittleEndian.Uint32(b[off:]))
		if n == 0 {
			break
		}
		frames++
		avail := min(n, to-off-frameHeader)
		got, hw, whole := lenientFrame(b[off+frameHeader:off+frameHeader+avail], version)
		recs += len(got)
		seqs = append(seqs, got...)
		if whole {
			maxHW = max(maxHW, hw)
		}
		if !whole || avail < n {
			break
		}
		off += frameHeader + n
	}
	return
}

// lenientFrame reads the Seqs of the records of a frame body, as many as
// its bytes hold; whole reports that the body decoded to its end. Without
// a checksum to trust, a Seq counts only where the record's own bytes
// bear it out: a record that decodes as the job of that Seq (or a
// tombstone), or one whose bytes are cut short or damaged but begin as a
// job record of that Seq. The reading stops at the first record that is
// neither: past it, the bytes may be anything (a frame cut short,
// shifted, or overwritten), and a Seq read from them would name a job
// that was never there.
func lenientFrame(body []byte, version int) (seqs []uint64, hw uint64, whole bool) {
	if version >= 2 {
		if len(body) < frameMeta {
			return nil, 0, false
		}
		hw = binary.LittleEndian.Uint64(body[8:])
		body = body[frameMeta:]
	}
	count, k := binary.Uvarint(body)
	if k <= 0 {
		return nil, 0, false
	}
	body = body[k:]
	var i uint64
	for ; i < count && len(body) > 0; i++ {
		seq, k := binary.Uvarint(body)
		if k <= 0 {
			break
		}
		l, m := binary.Uvarint(body[k:])
		if m <= 0 {
			break
		}
		data := body[k+m:]
		cut := l > uint64(len(data))
		if !cut {
			data = data[:l]
		}
		switch {
		case !cut && (isTombstone(data) || recordOf(data, seq)):
		case l > 1 && recordStarts(data, seq):
			// Damaged inside, or cut short: its start bears the Seq
			// out. Its length is read on, as far as the records after
			// it bear it out too.
			if cut {
				return append(seqs, seq), hw, false
			}
		default:
			return seqs, hw, false
		}
		seqs = append(seqs, seq)
		body = body[k+m+int(l):]
	}
	return seqs, hw, i == count && len(body) == 0
}

// recordOf reports whether data decodes as the job record of seq.
func recordOf(data []byte, seq uint64) bool {
	h, err := PeekRecord(data)
	return err == nil && h.Seq == seq
}

// recordStarts reports whether data begins as a binary job record of seq
// (its version byte, then seq): the start of a record whose rest is cut
// off or damaged.
func recordStarts(data []byte, seq uint64) bool {
	if len(data) < 2 || !recordVersion(data[0]) {
		return false
	}
	q, k := binary.Uvarint(data[1:])
	return k > 0 && q == seq
}

// plausible keeps the Seqs, read without a checksum, that can be real:
// at most prevHW plus one for each record (a frame's new jobs come right
// after the high-water mark).
func plausible(seqs []uint64, prevHW uint64) []uint64 {
	var out []uint64
	for _, q := range seqs {
		if q > 0 && q <= prevHW+uint64(len(seqs)) {
			out = append(out, q)
		}
	}
	return out
}

// hwHint reads the high-water mark in the body of the bad frame at sp,
// without a checksum to trust it: 0 unless it is above prevHW by no more
// new jobs than the frame's bytes can hold.
func hwHint(b []byte, sp *badSpot, version int, prevHW uint64) uint64 {
	at := sp.off + frameHeader + 8
	if version < 2 || at+8 > int64(len(b)) {
		return 0
	}
	hw := binary.LittleEndian.Uint64(b[at:])
	room := uint64(max(int64(sp.n), sp.end-sp.off)) / 3
	if hw <= prevHW || hw-prevHW > room {
		return 0
	}
	return hw
}

// classify turns the bad spots, segment gaps and LSN gaps into Damage.
func (ls *logScan) classify(st logState) {
	c := &logClassifier{ls: ls, last: ls.lastWritten(), prevLSN: st.lsn, prevHW: st.hw, lsnKnown: st.known, reserve: st.reserve}
	gapAt, gap := ls.startGap(st)
	for i, seg := range ls.segs {
		if gap != nil && i == gapAt {
			c.addPending(*gap)
		}
		c.segment(i, seg)
	}
	if gap != nil && gapAt == len(ls.segs) {
		c.addPending(*gap)
	}
	if d := ls.endGap(st); d != nil {
		c.addPending(*d)
	}
	c.finish()
	if len(ls.segs) == 0 && st.known && !st.closed {
		d := Damage{File: ls.dir, Offset: -1, Kind: DamageLogMissing,
			Problem: "holds no log segment, but drover.db says the store was not closed (a running store always has one)"}
		c.boundNew(&d)
		d.describeLost(false, "")
		d.Lost = strings.TrimSuffix(fmt.Sprintf("every frame after LSN %d, if there were any, %s", st.lsn, d.Lost), ", ")
		ls.damage = append(ls.damage, d)
	}
}

// lastWritten returns the index of the last segment written to: the last
// with anything after its header, or -1. Only there can a crash have
// left a torn frame.
func (ls *logScan) lastWritten() int {
	last := -1
	for i, seg := range ls.segs {
		if seg.readErr != nil || seg.headerErr != "" || seg.lastNZ >= 0 {
			last = i
		}
	}
	return last
}

// logClassifier walks the log's segments, bad spots and valid frames in
// the order written for classify, and keeps what one step tells the next.
type logClassifier struct {
	ls       *logScan
	last     int        // the last segment written to (lastWritten)
	pending  []int      // damage since the last valid frame: indexes in ls.damage
	prev     *frameScan // the last valid frame, nil before the first
	prevLSN  uint64     // the LSN reached
	prevHW   uint64     // the high-water mark reached
	lsnKnown bool       // whether prevLSN is known
	reserve  uint64     // wal/highwater's reservation (logState.reserve)
}

// addPending adds d to the damage, as damage since the last valid frame.
func (c *logClassifier) addPending(d Damage) {
	c.ls.damage = append(c.ls.damage, d)
	c.pending = append(c.pending, len(c.ls.damage)-1)
}

// segment classifies segment i (seg): the segments missing before it, a
// segment that cannot be read or has a bad header, then its bad spots and
// valid frames in the order of their offsets.
func (c *logClassifier) segment(i int, seg *segScan) {
	ls := c.ls
	if i > 0 && seg.num != ls.segs[i-1].num+1 {
		from, to := ls.segs[i-1].num+1, seg.num-1
		p := fmt.Sprintf("log segment %s is missing", segmentName(from))
		if to > from {
			p = fmt.Sprintf("log segments %s..%s are missing", segmentName(from), segmentName(to))
		}
		c.addPending(Damage{File: filepath.Join(ls.dir, segmentName(from)), Offset: -1, Kind: DamageMissingSegment,
			Problem: p + fmt.Sprintf(" between %s and %s", segmentName(from-1), segmentName(to+1))})
	}
	if seg.renamed {
		// Not pending: it lost nothing, whatever the frames around it.
		ls.damage = append(ls.damage, ls.renamedDamage(seg))
	}
	if seg.readErr != nil {
		c.addPending(Damage{File: seg.path, Offset: -1, Kind: DamageBadSegment, Problem: fmt.Sprintf("cannot be read: %v", seg.readErr)})
		return
	}
	if seg.headerErr != "" {
		c.addPending(Damage{File: seg.path, Offset: 0, Kind: DamageBadSegment, Problem: "bad segment header: " + seg.headerErr})
	}
	fi, bi := 0, 0
	for fi < len(seg.frames) || bi < len(seg.bad) {
		if bi < len(seg.bad) && (fi == len(seg.frames) || seg.bad[bi].off < ls.frames[seg.frames[fi]].off) {
			sp := &seg.bad[bi]
			bi++
			c.badSpot(i, seg, sp, bi == len(seg.bad))
			continue
		}
		f := &ls.frames[seg.frames[fi]]
		fi++
		c.frame(seg, f, fi == 1)
	}
}

// badSpot classifies the bad spot sp of segment i (seg): a torn tail if
// it is the last spot (lastSpot) of the last segment written and has the
// shape of one, else a bad frame.
func (c *logClassifier) badSpot(i int, seg *segScan, sp *badSpot, lastSpot bool) {
	why := sp.why
	if i == c.last && lastSpot && !sp.follows && seg.headerErr == "" {
		ok, not := tornShape(seg.data, sp, seg.version, c.prevLSN, c.prevHW, seg.lastNZ)
		if ok {
			c.tornTail(seg, sp, why)
			return
		}
		why += ", and it is not a torn tail: " + not
	} else if sp.follows {
		why += fmt.Sprintf(", and a valid frame follows at offset %d", sp.end)
	} else if i != c.last {
		why += ", in a segment that is not the last one written"
	}
	d := Damage{File: seg.path, Offset: sp.off, Kind: DamageBadFrame, Problem: why}
	if sp.follows {
		d.End = sp.end
	}
	fr, recs, seqs, ghw := guessLost(seg.data, sp.off, sp.end, seg.version)
	d.Frames, d.Records, d.Seqs = max(fr, 1), recs, plausible(seqs, c.prevHW)
	// The high-water mark of the first frame lost, if its
	// body's start reads and is plausible (a new job takes a
	// few bytes of a frame), bounds the IDs it handed out.
	if h := max(ghw, hwHint(seg.data, sp, seg.version, c.prevHW)); h > c.prevHW {
		d.NewFrom, d.NewTo = c.prevHW+1, h
	}
	c.addPending(d)
}

// tornTail records the bad spot sp at the end of seg as a torn tail: the
// last frame written, cut short by a crash (why).
func (c *logClassifier) tornTail(seg *segScan, sp *badSpot, why string) {
	d := Damage{File: seg.path, Offset: sp.off, Kind: DamageTornTail,
		Problem: "torn tail (the last frame written, cut short by a crash): " + why}
	fr, recs, seqs, _ := guessLost(seg.data, sp.off, sp.end, seg.version)
	d.Frames, d.Records, d.Seqs = max(fr, 1), recs, plausible(seqs, c.prevHW)
	if c.lsnKnown {
		d.LSNFrom, d.LSNTo = c.prevLSN+1, c.prevLSN+1
	}
	d.describeLost(false, "never acknowledged")
	c.ls.torn = append(c.ls.torn, d)
	c.ls.tornAt = append(c.ls.tornAt, tornSpot{seg, sp})
}

// frame takes the valid frame f of seg (the segment's first if first):
// checks its LSN against the last frame's, says what the damage since
// that frame lost, and moves the LSN and high-water mark reached to it.
func (c *logClassifier) frame(seg *segScan, f *frameScan, first bool) {
	if f.version >= 2 {
		c.frameLSN(seg, f, first)
	}
	c.prevHW = max(c.prevHW, f.hw, f.maxSeq)
	for _, k := range c.pending {
		if c.ls.damage[k].Lost == "" {
			c.ls.damage[k].describeLost(true, "")
		}
	}
	c.pending = nil
	c.prev = f
}

// frameLSN compares the LSN of the version 2 frame f with the last one's:
// a gap is lost frames (damage of its own if nothing pending explains
// it), a repeat across segments a retried write, a step back damage, and
// a next LSN means the damage since the last frame lost no frame.
func (c *logClassifier) frameLSN(seg *segScan, f *frameScan, first bool) {
	ls, prev, prevLSN := c.ls, c.prev, c.prevLSN
	switch {
	case prev == nil && c.lsnKnown && f.lsn > prevLSN+1,
		prev != nil && f.lsn > prevLSN+1:
		c.lsnGap(seg, f)
	case prev != nil && f.lsn == prevLSN && len(c.pending) == 0 && first &&
		prev.seg != f.seg && prev.off+prev.size == lastFrameEnd(ls, prev.seg):
		ls.notes = append(ls.notes, fmt.Sprintf("%s: the frame at offset %d repeats LSN %d of the last frame of %s, a write that failed and was retried",
			seg.path, f.off, f.lsn, ls.segs[prev.seg].path))
	case prev != nil && f.lsn <= prevLSN:
		c.addPending(Damage{File: seg.path, Offset: f.off, Kind: DamageLogGap,
			Problem: fmt.Sprintf("the frame's LSN %d does not follow the previous frame's (LSN %d)", f.lsn, prevLSN),
			Lost:    "unknown: the frames are out of order, the log after it cannot be trusted"})
	case (prev != nil || c.lsnKnown) && f.lsn == prevLSN+1:
		for _, k := range c.pending {
			d := &ls.damage[k]
			d.Frames, d.Records = 0, 0
			d.describeLost(false, "")
			if d.Lost != "" {
				d.Lost = "no acknowledged frame (the LSNs on both sides of it follow each other), but it held " + d.Lost
			} else {
				d.Lost = "no acknowledged frame (the LSNs on both sides of it follow each other)"
			}
		}
	}
	if prev == nil || f.lsn > prevLSN {
		c.prevLSN = f.lsn
	}
	c.lsnKnown = true
}

// lsnGap charges the frames missing before f (LSNs after the last one
// reached) to the damage since the last frame, or to a gap of its own
// when there is none.
func (c *logClassifier) lsnGap(seg *segScan, f *frameScan) {
	prevLSN, prevHW := c.prevLSN, c.prevHW
	if len(c.pending) == 0 {
		p := fmt.Sprintf("frames with LSN %d..%d are missing before this frame (LSN %d)", prevLSN+1, f.lsn-1, f.lsn)
		if c.prev == nil {
			p = fmt.Sprintf("the log starts at LSN %d, but drover.db holds frames up to LSN %d only: the oldest log segment(s) are gone", f.lsn, prevLSN)
		}
		c.addPending(Damage{File: seg.path, Offset: f.off, Kind: DamageLogGap, Problem: p})
	}
	for _, k := range c.pending {
		d := &c.ls.damage[k]
		d.LSNFrom, d.LSNTo = prevLSN+1, f.lsn-1
		d.Frames = int(min(f.lsn-1-prevLSN, 1<<30))
		if f.hw > prevHW {
			d.NewFrom, d.NewTo = prevHW+1, f.hw
		}
		d.describeLost(false, "")
	}
	c.pending = nil
}

// finish says what the damage after the last valid frame lost: every
// frame after the LSN reached, and the new jobs they may have held, up to
// wal/highwater's reservation.
func (c *logClassifier) finish() {
	for _, k := range c.pending {
		d := &c.ls.damage[k]
		extra := ""
		if c.lsnKnown {
			extra = fmt.Sprintf("every frame after LSN %d", c.prevLSN)
		}
		c.boundNew(d)
		switch {
		case d.Kind != DamageMissingSegment || d.Frames > 0:
			d.describeLost(true, extra)
		case extra == "":
			d.describeLost(false, "")
		default:
			// Nothing of the segment is left to count: it held every
			// frame after the last one left, if any, and wal/highwater
			// bounds the IDs of their new jobs.
			d.describeLost(false, "")
			if d.ifAny {
				extra += ", if they held any"
			}
			d.Lost = strings.TrimSuffix(fmt.Sprintf("%s (the jobs submitted or changed in them), %s", extra, d.Lost), ", ")
		}
	}
}

// lastFrameEnd returns where the last valid frame of segment i ends.
func lastFrameEnd(ls *logScan, i int) int64 {
	fs := ls.segs[i].frames
	if len(fs) == 0 {
		return 0
	}
	f := ls.frames[fs[len(fs)-1]]
	return f.off + f.size
}

// skipEnd returns where the unreadable bytes of the bad spot sp of seg
// end (exclusive), for salvage's skipped ranges: at its last non-zero
// byte before the next valid frame (the zeros after it are the log's
// unused end, not data); but when the frame's length runs past the end of
// the file and the file's data reaches its last sector, the file was cut
// short inside that frame, and every byte to the end of the file is the
// frame's, trailing zeros included.
func skipEnd(seg *segScan, sp *badSpot) int64 {
	end := max(seg.lastNZ+1, sp.off+1)
	size := int64(len(seg.data))
	if sp.n > 0 && sp.off+frameHeader+int64(sp.n) > size && size-end < sectorSize {
		end = size
	}
	return min(sp.end, end)
}
