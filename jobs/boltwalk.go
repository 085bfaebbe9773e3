package jobs

// Walking a bbolt file's tree and free list page by page (boltPages reads
// them): every page checked, the damage and the key ranges it lost
// reported, and every entry that reads handed on.

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// boltEntry is a key/value of a bucket, as found by a walk.
type boltEntry struct {
	bucket   string
	key, val []byte // copies
	off      int64  // where the element is in the file
}

// lostRange is a key range of a bucket a damaged page held.
type lostRange struct {
	bucket   string
	from, to []byte // to nil: no upper bound
}

// boltWalk walks the tree of the meta page in use and the free list,
// checking every page.
type boltWalk struct {
	bp      *boltPages
	reached []bool
	damage  []Damage
	lost    []lostRange
	onEntry func(e boltEntry) // every non-bucket entry, if set
	pages   int               // pages of the tree
	free    int               // pages on the free list
	leaked  int               // pages neither reached nor free
	maxSeq  uint64            // the highest Seq in the jobs bucket
	records int               // records of the jobs bucket that read
	state   *storeState       // the store's state, if it reads
	stateOK bool
	buckets map[string]int // entries per bucket
}

// walkBolt checks the whole file. onEntry, if set, gets every entry that
// reads.
func walkBolt(bp *boltPages, onEntry func(e boltEntry)) *boltWalk {
	w := &boltWalk{bp: bp, reached: make([]bool, bp.meta.pgid), onEntry: onEntry, buckets: make(map[string]int)}
	w.reached[0], w.reached[1] = true, true
	w.walkPage(nil, bp.meta.root, nil, nil, 0, int64(bp.used)*bp.ps)
	w.walkFreelist()
	for _, r := range w.reached {
		if !r {
			w.leaked++
		}
	}
	w.leaked -= w.free
	return w
}

func (w *boltWalk) pageDamage(kind string, id uint64, off int64, problem string, bucket []string, from, to []byte) {
	d := Damage{File: w.bp.path, Offset: off, Kind: kind, Problem: problem}
	name := bucketName(bucket)
	switch {
	case bucket == nil:
		d.Lost = "the buckets the page held: possibly everything in drover.db"
	case name == string(jobsBucket):
		d.Lost = "the jobs " + keyRange(from, to) + " that were in drover.db"
	default:
		d.Lost = fmt.Sprintf("the entries of bucket %q %s", name, keyRangeRaw(from, to))
	}
	if id > 0 {
		d.Problem = fmt.Sprintf("page %d: %s", id, problem)
	}
	w.damage = append(w.damage, d)
	w.lost = append(w.lost, lostRange{bucket: name, from: bytes.Clone(from), to: bytes.Clone(to)})
}

func bucketName(path []string) string {
	if len(path) == 0 {
		return ""
	}
	s := path[0]
	for _, p := range path[1:] {
		s += "/" + p
	}
	return s
}

func keyRange(from, to []byte) string {
	lo, hi := "1", "the highest"
	if len(from) == 8 {
		lo = fmt.Sprint(binary.BigEndian.Uint64(from))
	}
	if len(to) == 8 {
		if v := binary.BigEndian.Uint64(to); v > 0 {
			hi = fmt.Sprint(v - 1)
		}
	}
	return fmt.Sprintf("with IDs from %s to %s", lo, hi)
}

func keyRangeRaw(from, to []byte) string {
	if from == nil && to == nil {
		return "(all of them)"
	}
	return fmt.Sprintf("from key %q to key %q", from, to)
}

// walkPage checks page id of the bucket at path, whose keys must be in
// [lo, hi), and its subtree. It returns the subtree's largest key (a copy)
// and whether the page read.
func (w *boltWalk) walkPage(path []string, id uint64, lo, hi []byte, depth int, refOff int64) ([]byte, bool) {
	ps := w.bp.ps
	off := int64(id) * ps
	fail := func(kind, problem string) ([]byte, bool) {
		w.pageDamage(kind, id, off, problem, path, lo, hi)
		return nil, false
	}
	switch {
	case depth > boltMaxDepth:
		return fail(DamageBoltPage, "the tree is deeper than any bbolt writes (a reference loop?)")
	case id < 2 || id >= w.bp.meta.pgid:
		off = refOff
		return fail(DamageBoltPage, fmt.Sprintf("a reference to page %d, outside the file's pages 2..%d", id, w.bp.meta.pgid-1))
	case w.reached[id]:
		return fail(DamageBoltPage, "referenced twice")
	}
	hdr, err := w.bp.readAt(off, pageHeaderSize)
	if err != nil {
		return fail(DamageBoltPage, fmt.Sprintf("cannot be read: %v", err))
	}
	pid := binary.LittleEndian.Uint64(hdr)
	flags := binary.LittleEndian.Uint16(hdr[8:])
	over := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	switch {
	case pid != id:
		return fail(DamageBoltPage, fmt.Sprintf("its header says page %d", pid))
	case flags != branchPageFlag && flags != leafPageFlag:
		return fail(DamageBoltPage, fmt.Sprintf("not a branch or leaf page (flags %#x)", flags))
	case over >= w.bp.meta.pgid-id:
		return fail(DamageBoltPage, fmt.Sprintf("its %d overflow pages run past the file's pages", over))
	}
	for i := id; i <= id+over; i++ {
		if w.reached[i] {
			return fail(DamageBoltPage, fmt.Sprintf("its overflow page %d is also used elsewhere", i))
		}
	}
	for i := id; i <= id+over; i++ {
		w.reached[i] = true
	}
	w.pages += int(over) + 1
	buf, err := w.bp.readAt(off, int64(over+1)*ps)
	if err != nil {
		return fail(DamageBoltPage, fmt.Sprintf("cannot be read: %v", err))
	}
	return w.walkNode(path, buf, flags == branchPageFlag, false, lo, hi, depth, id, off)
}

// walkNode checks the elements of a page (buf, at offset off in the file;
// an inline bucket's page is in its parent's value) and walks on.
func (w *boltWalk) walkNode(path []string, buf []byte, branch, inline bool, lo, hi []byte, depth int, id uint64, off int64) ([]byte, bool) {
	count := int(binary.LittleEndian.Uint16(buf[10:]))
	data := pageHeaderSize + count*pageElemSize
	if data > len(buf) || (branch && count == 0) {
		w.pageDamage(DamageBoltPage, id, off, fmt.Sprintf("%d elements do not fit the page", count), path, lo, hi)
		return nil, false
	}
	ne := &nodeElems{buf: buf, branch: branch, lo: lo, hi: hi, data: data, running: lo}
	var maxKey []byte
	for i := range count {
		e, el := ne.elem(i)
		key, val, problem := ne.check(i, e, el)
		if problem != "" {
			from := lo
			if ne.prevKey != nil {
				from = append(bytes.Clone(ne.prevKey), 0)
			}
			w.pageDamage(DamageBoltPage, id, off+int64(e), problem, path, from, hi)
			return maxKey, false
		}
		ne.data += el.ksize + el.vsize
		ne.prevKey = key
		if branch {
			mk, _ := w.walkPage(path, el.child, key, ne.nextKey(i, e, count), depth+1, off+int64(e))
			if mk != nil {
				maxKey, ne.running = mk, mk
			} else {
				ne.running = key
			}
			continue
		}
		maxKey = key
		w.leafEntry(path, key, val, el.flags&bucketLeafFlag != 0, depth, off+int64(e))
	}
	if inline && ne.data != len(buf) {
		w.pageDamage(DamageBoltPage, 0, off, fmt.Sprintf("an inline bucket of %d bytes whose elements end at %d", len(buf), ne.data), path, lo, hi)
		return maxKey, false
	}
	return bytes.Clone(maxKey), true
}

// nodeElems reads the elements of one page (or inline bucket) in order,
// for walkNode, and checks each against the page and the one before.
type nodeElems struct {
	buf     []byte
	branch  bool
	lo, hi  []byte // the range of keys the parent gives (nil: unbounded)
	data    int    // where the next element's key must start
	prevKey []byte // the last element's key
	running []byte // of a branch: the highest key reached under it so far
}

// pageElem is one element of a page, as its element header says.
type pageElem struct {
	pos, ksize, vsize int
	flags             uint32 // of a leaf
	child             uint64 // of a branch: the page it points to
}

// elem returns the offset and the header of element i.
func (ne *nodeElems) elem(i int) (int, pageElem) {
	e := pageHeaderSize + i*pageElemSize
	el := ne.buf[e : e+pageElemSize]
	var pe pageElem
	if ne.branch {
		pe.pos, pe.ksize = int(binary.LittleEndian.Uint32(el)), int(binary.LittleEndian.Uint32(el[4:]))
		pe.child = binary.LittleEndian.Uint64(el[8:])
	} else {
		pe.flags = binary.LittleEndian.Uint32(el)
		pe.pos, pe.ksize, pe.vsize = int(binary.LittleEndian.Uint32(el[4:])), int(binary.LittleEndian.Uint32(el[8:])), int(binary.LittleEndian.Uint32(el[12:]))
	}
	return e, pe
}

// check returns the key and value of element i (at offset e, header el),
// or what is wrong with it: not where bbolt puts it, empty, past the
// page, unknown flags, out of order or out of the parent's range.
func (ne *nodeElems) check(i, e int, el pageElem) (key, val []byte, problem string) {
	buf, data := ne.buf, ne.data
	switch {
	case e+el.pos != data:
		return nil, nil, fmt.Sprintf("element %d: its key is at %d, not at %d where bbolt puts it", i, e+el.pos, data)
	case el.ksize == 0:
		return nil, nil, fmt.Sprintf("element %d: empty key", i)
	case el.ksize > len(buf)-data || el.vsize > len(buf)-data-el.ksize:
		return nil, nil, fmt.Sprintf("element %d: %d+%d bytes of key and value run past the page", i, el.ksize, el.vsize)
	case el.flags&^bucketLeafFlag != 0:
		return nil, nil, fmt.Sprintf("element %d: flags %#x", i, el.flags)
	}
	key = buf[data : data+el.ksize]
	val = buf[data+el.ksize : data+el.ksize+el.vsize]
	switch {
	case ne.prevKey != nil && bytes.Compare(key, ne.prevKey) <= 0:
		problem = fmt.Sprintf("element %d: key %x does not follow key %x", i, key, ne.prevKey)
	case i == 0 && ne.lo != nil && bytes.Compare(key, ne.lo) < 0, ne.branch && i > 0 && ne.running != nil && bytes.Compare(key, ne.running) <= 0:
		problem = fmt.Sprintf("element %d: key %x is below the range its parent gives", i, key)
	case ne.hi != nil && bytes.Compare(key, ne.hi) >= 0:
		problem = fmt.Sprintf("element %d: key %x is above the range its parent gives", i, key)
	}
	return key, val, problem
}

// nextKey returns the upper bound of the child of branch element i (at
// offset e, of count): the next element's key, if it reads; else hi, and
// the walk of the next element reports the page.
func (ne *nodeElems) nextKey(i, e, count int) []byte {
	if i+1 >= count {
		return ne.hi
	}
	buf, data := ne.buf, ne.data
	nx := buf[e+pageElemSize:]
	np, nk := int(binary.LittleEndian.Uint32(nx)), int(binary.LittleEndian.Uint32(nx[4:]))
	if a := e + pageElemSize + np; np >= 0 && a == data && nk > 0 && nk <= len(buf)-a {
		return buf[a : a+nk]
	}
	return ne.hi
}

func (w *boltWalk) leafEntry(path []string, key, val []byte, isBucket bool, depth int, off int64) {
	name := bucketName(path)
	switch {
	case isBucket:
		if len(val) < bucketHeaderSize {
			w.pageDamage(DamageBoltPage, 0, off, fmt.Sprintf("bucket %q: a header of %d bytes", key, len(val)), path, key, append(bytes.Clone(key), 0))
			return
		}
		if name == string(jobsBucket) {
			seq := binary.BigEndian.Uint64(append(make([]byte, 8-min(8, len(key))), key[:min(8, len(key))]...))
			w.recordDamage(off, fmt.Sprintf("job %d is a bucket", seq), &seq)
			return
		}
		sub := append(path[:len(path):len(path)], string(key))
		if _, ok := w.buckets[bucketName(sub)]; !ok {
			w.buckets[bucketName(sub)] = 0
		}
		root := binary.LittleEndian.Uint64(val)
		if root != 0 {
			w.walkPage(sub, root, nil, nil, depth+1, off)
			return
		}
		page := val[bucketHeaderSize:]
		if len(page) < pageHeaderSize || binary.LittleEndian.Uint16(page[8:]) != leafPageFlag {
			w.pageDamage(DamageBoltPage, 0, off, fmt.Sprintf("bucket %q: a bad inline page", key), sub, nil, nil)
			return
		}
		w.walkNode(sub, page, false, true, nil, nil, depth+1, 0, off)
		return
	case path == nil:
		w.pageDamage(DamageBoltPage, 0, off, fmt.Sprintf("a value %q among the buckets", key), path, key, append(bytes.Clone(key), 0))
		return
	case name == string(jobsBucket):
		if len(key) != 8 {
			w.recordDamage(off, fmt.Sprintf("a key %x that is not a Seq", key), nil)
			return
		}
		seq := binary.BigEndian.Uint64(key)
		w.maxSeq = max(w.maxSeq, seq)
		rec, ok := openEnvelope(key, val)
		if !ok {
			w.recordDamage(off, fmt.Sprintf("job %d: checksum mismatch", seq), &seq)
			return
		}
		if len(val) == 0 || (val[0] != boltRecV2 && !recordVersion(val[0]) && val[0] != boltLegacyJSON) {
			w.recordDamage(off, fmt.Sprintf("job %d: a value that is not a job record", seq), &seq)
			return
		}
		w.records++
		val = rec
	case name == string(storeBucket) && string(key) == string(stateKey):
		st, ok := decodeState(val)
		if !ok {
			w.recordDamage(off, "the store's state record is damaged", nil)
			return
		}
		w.state, w.stateOK = &st, true
	}
	w.buckets[name]++
	if w.onEntry != nil {
		w.onEntry(boltEntry{bucket: name, key: bytes.Clone(key), val: bytes.Clone(val), off: off})
	}
}

func (w *boltWalk) recordDamage(off int64, problem string, seq *uint64) {
	d := Damage{File: w.bp.path, Offset: off, Kind: DamageBoltRecord, Problem: problem, Records: 1}
	if seq != nil {
		d.Seqs = []uint64{*seq}
		d.Lost = fmt.Sprintf("job %d", *seq)
	} else {
		d.Lost = "the record"
	}
	w.damage = append(w.damage, d)
}

func (w *boltWalk) walkFreelist() {
	m := w.bp.meta
	if m.freelist == boltNoFreelist {
		return
	}
	ps := w.bp.ps
	id := m.freelist
	off := int64(id) * ps
	fail := func(problem string) {
		w.damage = append(w.damage, Damage{File: w.bp.path, Offset: off, Kind: DamageBoltFreelist,
			Problem: fmt.Sprintf("free list page %d: %s", id, problem),
			Lost:    "nothing yet, but bbolt would write over pages in use"})
	}
	if id < 2 || id >= m.pgid {
		off = int64(w.bp.used) * ps
		fail("out of range")
		return
	}
	hdr, err := w.bp.readAt(off, pageHeaderSize)
	if err != nil {
		fail(err.Error())
		return
	}
	over := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	switch {
	case binary.LittleEndian.Uint64(hdr) != id:
		fail(fmt.Sprintf("its header says page %d", binary.LittleEndian.Uint64(hdr)))
		return
	case binary.LittleEndian.Uint16(hdr[8:]) != freelistPageFlag:
		fail(fmt.Sprintf("not a free list page (flags %#x)", binary.LittleEndian.Uint16(hdr[8:])))
		return
	case over >= m.pgid-id:
		fail("its overflow runs past the file's pages")
		return
	}
	for i := id; i <= id+over; i++ {
		if w.reached[i] {
			fail(fmt.Sprintf("page %d is also in the tree", i))
			return
		}
		w.reached[i] = true
	}
	buf, err := w.bp.readAt(off, int64(over+1)*ps)
	if err != nil {
		fail(err.Error())
		return
	}
	count, start := uint64(binary.LittleEndian.Uint16(hdr[10:])), uint64(pageHeaderSize)
	if count == 0xFFFF {
		count = binary.LittleEndian.Uint64(buf[pageHeaderSize:])
		start += 8
	}
	if count > (uint64(len(buf))-start)/8 {
		fail(fmt.Sprintf("%d free pages do not fit the page", count))
		return
	}
	seen := make(map[uint64]bool, count)
	for i := range count {
		p := binary.LittleEndian.Uint64(buf[start+8*i:])
		switch {
		case p < 2 || p >= m.pgid:
			fail(fmt.Sprintf("free page %d out of range", p))
			return
		case w.reached[p] || seen[p]:
			fail(fmt.Sprintf("page %d is free and in use", p))
			return
		}
		seen[p] = true
	}
	w.free = len(seen)
}
