package jobs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// Orphan pages: leaf pages of drover.db's jobs bucket that no sound
// branch reaches. A damaged branch page cuts every page under it off the
// tree, though those pages read; a freed page keeps the records it held
// when a later transaction replaced it. Check and salvage read both, for
// the jobs the damaged parts of the tree may have held, and nothing else:
// where the tree reads, it says which jobs drover.db holds (a job it does
// not hold was deleted, whatever a freed page says).
//
// Which version of a job is kept, newest first:
//  1. a valid log frame's (the latest by LSN): the log is newer than any
//     page of drover.db;
//  2. the one the tree reaches from the meta page in use;
//  3. one on a page cut off from the tree: not reached and not on the free
//     list, so it was part of the tree at the last commit;
//  4. one on a freed page: a later transaction replaced the page, so its
//     version may be older than the one lost, or the job deleted since.
//
// bbolt records no transaction ID per page, so between two pages of the
// same kind the version whose record says it was updated later
// (Job.Updated) is kept, then the one of the higher attempt. A page is
// read as an orphan only if its header (its own page number, the leaf
// flag, overflow pages within the file and not used elsewhere) and every
// element (in place, an 8-byte key, in ascending order, within the page)
// check out; a record only if its checksum matches and it decodes as the
// job of its key. Counts and offsets read from a page are checked against
// the page before they are used, and the bytes read are bounded.

// The kinds of orphan page, in order of preference.
const (
	orphanCutOff  = 1 // neither reached nor on the free list
	orphanUnknown = 2 // not reached; the free list does not read
	orphanFree    = 3 // on the free list
)

// orphanRec is a job record found on an orphan page.
type orphanRec struct {
	Record
	page    uint64
	kind    int
	off     int64
	updated time.Time // Job.Updated
	attempt int
}

// orphanScan is what scanOrphans found.
type orphanScan struct {
	recs      map[uint64]orphanRec // the version kept of each Seq
	pages     int                  // orphan leaf pages with job records that read
	cutOff    int                  // of them, pages neither reached nor free
	badRecs   int                  // records on them whose checksum does not match or that do not decode
	truncated bool                 // the scan stopped at its byte budget
}

// jobRanges returns the ranges of Seqs the damaged pages of the tree may
// have held in the jobs bucket (a damaged page above the jobs bucket may
// have held all of them).
func (w *boltWalk) jobRanges() []IDRange {
	var out []IDRange
	for _, lr := range w.lost {
		switch lr.bucket {
		case "":
			return []IDRange{{1, ^uint64(0)}}
		case string(jobsBucket):
		default:
			continue
		}
		from, to := uint64(1), ^uint64(0)
		if len(lr.from) >= 8 {
			from = max(1, binary.BigEndian.Uint64(lr.from[:8]))
			if len(lr.from) > 8 {
				from++
			}
		}
		if len(lr.to) == 8 {
			to = binary.BigEndian.Uint64(lr.to) - 1
		}
		if from != 0 && to >= from {
			out = append(out, IDRange{from, to})
		}
	}
	return out
}

// freePages reads the free list's page IDs (with the free list's own
// pages); ok is false when the free list does not read. walkBolt has
// checked it when it reports no free-list damage.
func freePages(bp *boltPages, w *boltWalk) (free map[uint64]bool, ok bool) {
	for _, d := range w.damage {
		if d.Kind == DamageBoltFreelist {
			return nil, false
		}
	}
	free = make(map[uint64]bool)
	m := bp.meta
	if m.freelist == boltNoFreelist {
		return free, true
	}
	hdr, err := bp.readAt(int64(m.freelist)*bp.ps, pageHeaderSize)
	if err != nil {
		return nil, false
	}
	over := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	if over >= m.pgid-m.freelist {
		return nil, false
	}
	buf, err := bp.readAt(int64(m.freelist)*bp.ps, int64(over+1)*bp.ps)
	if err != nil {
		return nil, false
	}
	count, start := uint64(binary.LittleEndian.Uint16(hdr[10:])), uint64(pageHeaderSize)
	if count == 0xFFFF {
		count = binary.LittleEndian.Uint64(buf[pageHeaderSize:])
		start += 8
	}
	if count > (uint64(len(buf))-start)/8 {
		return nil, false
	}
	for i := range count {
		p := binary.LittleEndian.Uint64(buf[start+8*i:])
		if p < 2 || p >= m.pgid {
			return nil, false
		}
		free[p] = true
	}
	return free, true
}

// scanOrphans reads the job records of the pages of bp the walk w did not
// reach, keeping for each Seq that want accepts the newest version (see
// above). It reads at most twice the file's pages.
func scanOrphans(bp *boltPages, w *boltWalk, want func(seq uint64) bool) *orphanScan {
	o := &orphanScanner{bp: bp, w: w, want: want, sc: &orphanScan{recs: make(map[uint64]orphanRec)}}
	pgid := bp.meta.pgid
	o.free, o.freeOK = freePages(bp, w)
	o.consumed = make([]bool, pgid)
	o.budget = 2 * int64(pgid) * bp.ps
	for id := uint64(2); id < pgid; id++ {
		if w.reached[id] || o.consumed[id] {
			continue
		}
		pg, ok, eof := o.leafPage(id)
		if eof {
			break // past the end of the file: so are the pages after it
		}
		if !ok {
			continue
		}
		if o.budget -= pg.size; o.budget < 0 {
			o.sc.truncated = true
			break
		}
		buf, err := bp.readAt(pg.off, pg.size)
		if err != nil {
			continue
		}
		recs, bad, ok := o.pageRecords(pg, buf)
		if !ok || len(recs)+bad == 0 {
			continue
		}
		o.keep(pg, recs, bad)
	}
	return o.sc
}

// orphanScanner is the state of one scanOrphans.
type orphanScanner struct {
	bp       *boltPages
	w        *boltWalk
	want     func(seq uint64) bool
	free     map[uint64]bool // the free list's pages, if freeOK
	freeOK   bool
	consumed []bool // pages read as part of an orphan page, by ID
	budget   int64  // bytes of pages left to read
	sc       *orphanScan
}

// orphanPage is an unreached page that has the shape of a leaf of jobs.
type orphanPage struct {
	id, over uint64 // its ID, and its overflow pages
	off      int64  // its offset in the file
	count    int64  // its elements
	size     int64  // its bytes, overflow pages included
	kind     int    // orphanCutOff, ...
}

// kindOf returns the kind of orphan page id is.
func (o *orphanScanner) kindOf(id uint64) int {
	switch {
	case !o.freeOK:
		return orphanUnknown
	case o.free[id]:
		return orphanFree
	}
	return orphanCutOff
}

// leafPage reads the header of page id and reports whether it is a leaf
// page that can hold jobs: its own ID, the leaf flag, elements, overflow
// pages within the file, unreached and of its kind, and elements that
// check out. eof reports a page past the end of the file.
func (o *orphanScanner) leafPage(id uint64) (pg orphanPage, ok, eof bool) {
	bp, pgid, ps := o.bp, o.bp.meta.pgid, o.bp.ps
	off := int64(id) * ps
	hdr, err := bp.readAt(off, pageHeaderSize)
	if err != nil {
		return pg, false, true
	}
	if binary.LittleEndian.Uint64(hdr) != id || binary.LittleEndian.Uint16(hdr[8:]) != leafPageFlag {
		return pg, false, false
	}
	over := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	count := int64(binary.LittleEndian.Uint16(hdr[10:]))
	size := int64(over+1) * ps
	if over >= pgid-id || count == 0 || pageHeaderSize+count*pageElemSize > size {
		return pg, false, false
	}
	pg = orphanPage{id: id, over: over, off: off, count: count, size: size, kind: o.kindOf(id)}
	for i := id + 1; i <= id+over; i++ {
		if o.w.reached[i] || o.consumed[i] || o.kindOf(i) != pg.kind {
			return pg, false, false
		}
	}
	return pg, o.elemsFit(pg), false
}

// elemsFit checks pg's elements before the page's bytes are read: each
// in place, an 8-byte key, the data within the page, and the page no
// longer than its data needs.
func (o *orphanScanner) elemsFit(pg orphanPage) bool {
	elems, err := o.bp.readAt(pg.off, pageHeaderSize+pg.count*pageElemSize)
	if err != nil {
		return false
	}
	fits := true
	data := pageHeaderSize + pg.count*pageElemSize
	for i := int64(0); i < pg.count && fits; i++ {
		e := pageHeaderSize + i*pageElemSize
		el := elems[e : e+pageElemSize]
		flags := binary.LittleEndian.Uint32(el)
		pos := int64(binary.LittleEndian.Uint32(el[4:]))
		ksize := int64(binary.LittleEndian.Uint32(el[8:]))
		vsize := int64(binary.LittleEndian.Uint32(el[12:]))
		fits = flags == 0 && e+pos == data && ksize == 8 && vsize > boltRecHeader && vsize <= pg.size-data-ksize
		data += ksize + vsize
	}
	return fits && !(pg.over > 0 && data <= int64(pg.over)*o.bp.ps)
}

// pageRecords reads the job records in buf, the bytes of pg, that want
// accepts, and counts those that do not read (bad). ok is false for a
// page whose keys are out of order or whose values are not job records:
// not a page of the jobs bucket.
func (o *orphanScanner) pageRecords(pg orphanPage, buf []byte) (recs []orphanRec, bad int, ok bool) {
	var prev []byte
	data := pageHeaderSize + pg.count*pageElemSize
	for i := int64(0); i < pg.count; i++ {
		vsize := int64(binary.LittleEndian.Uint32(buf[pageHeaderSize+i*pageElemSize+12:]))
		key, val := buf[data:data+8], buf[data+8:data+8+vsize]
		at := data
		data += 8 + vsize
		if prev != nil && bytes.Compare(key, prev) <= 0 {
			return nil, 0, false
		}
		prev = key
		seq := binary.BigEndian.Uint64(key)
		if val[0] != boltRecV2 {
			return nil, 0, false // not a job record of this drover: not the jobs bucket
		}
		rec, ok := openEnvelope(key, val)
		if !ok {
			bad++
			continue
		}
		j, err := DecodeRecord(rec)
		if err != nil || j.Seq != seq {
			bad++
			continue
		}
		if !o.want(seq) {
			continue
		}
		recs = append(recs, orphanRec{Record: Record{Seq: seq, Data: bytes.Clone(rec)}, page: pg.id, kind: pg.kind,
			off: pg.off + at, updated: j.Updated, attempt: j.Attempt})
	}
	return recs, bad, true
}

// keep marks pg's pages consumed, counts its bad records and keeps its
// records where they are newer than the versions kept so far.
func (o *orphanScanner) keep(pg orphanPage, recs []orphanRec, bad int) {
	sc := o.sc
	for i := pg.id; i <= pg.id+pg.over; i++ {
		o.consumed[i] = true
	}
	sc.badRecs += bad
	if len(recs) == 0 {
		return
	}
	sc.pages++
	if pg.kind == orphanCutOff {
		sc.cutOff++
	}
	for _, r := range recs {
		if cur, ok := sc.recs[r.Seq]; !ok || newerOrphan(r, cur) {
			sc.recs[r.Seq] = r
		}
	}
}

// newerOrphan reports whether a is to be kept over b, two orphan versions
// of one job.
func newerOrphan(a, b orphanRec) bool {
	switch {
	case a.kind != b.kind:
		return a.kind < b.kind
	case !a.updated.Equal(b.updated):
		return a.updated.After(b.updated)
	}
	return a.attempt > b.attempt
}

// seqs returns the Seqs of the records kept from orphan pages of kind.
func (sc *orphanScan) seqs(kind int) []uint64 {
	var out []uint64
	for q, r := range sc.recs {
		if kind == 0 || r.kind == kind {
			out = append(out, q)
		}
	}
	slices.Sort(out)
	return out
}

// note says what the orphan scan found, for the check's notes.
func (sc *orphanScan) note(path string) string {
	s := fmt.Sprintf("%s: %d leaf page%s of jobs that no sound branch reaches read (%d cut off from the tree by the damage, %d freed or of unknown kind): %d job%s kept from them",
		path, sc.pages, plural(sc.pages), sc.cutOff, sc.pages-sc.cutOff, len(sc.recs), plural(len(sc.recs)))
	if n := len(sc.seqs(orphanFree)); n > 0 {
		s += fmt.Sprintf(", %d only from freed pages (possibly an older version, or a job deleted since)", n)
	}
	if sc.badRecs > 0 {
		s += fmt.Sprintf("; %d record%s on them did not read", sc.badRecs, plural(sc.badRecs))
	}
	if sc.truncated {
		s += "; the scan stopped at its limit of bytes read"
	}
	return s
}

// readOrphans reads the orphan pages of drover.db when its tree is
// damaged where it held jobs (a damaged page of the jobs bucket or above
// it, a job record that does not read), for the Seqs the tree does not
// hold, and says in the walk's damage which of the jobs it lost were
// found on them.
func (ds *dirScan) readOrphans() {
	w := ds.walk
	ranges := w.jobRanges()
	records := make(map[uint64]bool)
	for _, d := range w.damage {
		if d.Kind == DamageBoltRecord {
			for _, q := range d.Seqs {
				records[q] = true
			}
		}
	}
	if len(ranges) == 0 && len(records) == 0 {
		return
	}
	tree := make(map[uint64]bool, len(ds.boltJobs))
	for _, e := range ds.boltJobs {
		tree[binary.BigEndian.Uint64(e.key)] = true
	}
	in := func(q uint64) bool {
		for _, r := range ranges {
			if r.From <= q && q <= r.To {
				return true
			}
		}
		return false
	}
	ds.orphans = scanOrphans(ds.bp, w, func(q uint64) bool { return !tree[q] && (records[q] || in(q)) })
	o := ds.orphans
	if len(o.recs) == 0 {
		return
	}
	// The damage's account of what it lost, pages then records: walkBolt
	// reports each damaged page with its lost range, in order.
	li := 0
	for k := range w.damage {
		d := &w.damage[k]
		switch d.Kind {
		case DamageBoltPage:
			if li >= len(w.lost) {
				continue
			}
			lr := w.lost[li]
			li++
			var found, older []uint64
			for _, q := range o.seqs(0) {
				if (lr.bucket == "" || lr.bucket == string(jobsBucket)) && inLost(lr, q) {
					found = append(found, q)
					if o.recs[q].kind != orphanCutOff {
						older = append(older, q)
					}
				}
			}
			if len(found) == 0 {
				continue
			}
			d.Lost += fmt.Sprintf(", but %d of them (IDs %s) read on pages no sound branch reaches and are kept", len(found), seqList(found))
			if len(older) > 0 {
				d.Lost += fmt.Sprintf(", %d of them (IDs %s) only in the version of a freed page, possibly older", len(older), seqList(older))
			}
		case DamageBoltRecord:
			if len(d.Seqs) == 1 {
				if r, ok := o.recs[d.Seqs[0]]; ok {
					d.Lost += fmt.Sprintf(", but a version of it reads on page %d, which no sound branch reaches, and is kept", r.page)
					if r.kind != orphanCutOff {
						d.Lost += " (a freed page: possibly an older version)"
					}
				}
			}
		}
	}
}

// inLost reports whether the job q is in the key range lr of the jobs
// bucket (or of the whole file).
func inLost(lr lostRange, q uint64) bool {
	if lr.bucket == "" {
		return true
	}
	k := seqKey(q)
	return (lr.from == nil || bytes.Compare(k, lr.from) >= 0) && (lr.to == nil || bytes.Compare(k, lr.to) < 0)
}
