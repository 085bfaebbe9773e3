package jobs

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// Reading a bbolt file's pages directly, without bbolt: bbolt trusts its
// pages, and on a damaged one panics, faults, loops or, with a damaged
// free list, overwrites live pages. boltPages checks every page of the
// tree and the free list, bounded and without trusting anything, before
// bbolt is let at the file, and reads what it can of a damaged file for
// check and salvage. The layout is bbolt's (go.etcd.io/bbolt,
// internal/common): a 16-byte page header (id, flags, count, overflow),
// 16-byte elements, keys and values packed after them in element order.

const (
	pageHeaderSize     = 16
	pageElemSize       = 16
	branchPageFlag     = 0x01
	leafPageFlag       = 0x02
	freelistPageFlag   = 0x10
	bucketLeafFlag     = 0x01
	boltMagic          = 0xED0CDAED
	boltVersion        = 2
	boltMetaSize       = 64
	boltNoFreelist     = ^uint64(0)
	boltMaxDepth       = 64
	bucketHeaderSize   = 16
	boltMaxPageSize    = 1 << 24
	boltLegacyJSON     = '{'
	boltMinPageSize    = 512
	boltMetaChecksumAt = 56
)

// boltMeta is a meta page's content.
type boltMeta struct {
	pageSize                   uint32
	root, freelist, pgid, txid uint64
	err                        string // why it is not valid; "" if it is
}

func parseMeta(b []byte) boltMeta {
	if len(b) < pageHeaderSize+boltMetaSize {
		return boltMeta{err: "too short"}
	}
	m := b[pageHeaderSize:]
	h := fnv.New64a()
	h.Write(m[:boltMetaChecksumAt])
	switch {
	case binary.LittleEndian.Uint32(m) != boltMagic:
		return boltMeta{err: "bad magic"}
	case binary.LittleEndian.Uint32(m[4:]) != boltVersion:
		return boltMeta{err: "bad version"}
	case binary.LittleEndian.Uint64(m[boltMetaChecksumAt:]) != h.Sum64():
		return boltMeta{err: "checksum mismatch"}
	}
	return boltMeta{
		pageSize: binary.LittleEndian.Uint32(m[8:]),
		root:     binary.LittleEndian.Uint64(m[16:]),
		freelist: binary.LittleEndian.Uint64(m[32:]),
		pgid:     binary.LittleEndian.Uint64(m[40:]),
		txid:     binary.LittleEndian.Uint64(m[48:]),
	}
}

// boltPages reads a bbolt file's pages.
type boltPages struct {
	f     *os.File
	path  string
	size  int64
	ps    int64
	meta  boltMeta // the meta page in use (bbolt's choice)
	metas [2]boltMeta
	used  int // which of metas is meta
	notes []string

	chunks map[int64][]byte // the last chunks read, by index
	order  []int64          // their indexes, oldest first
}

func (bp *boltPages) close() { bp.f.Close() }

// boltChunk is the unit in which boltPages reads the file: pages are
// mostly laid out in the order a walk visits them.
const (
	boltChunk  = 1 << 20
	boltChunks = 4 // chunks kept
)

// readAt returns n bytes of the file at off. The slice may be shared: the
// caller must not change it.
func (bp *boltPages) readAt(off, n int64) ([]byte, error) {
	if c := off / boltChunk; (off+n-1)/boltChunk == c && off+n <= bp.size {
		b, ok := bp.chunks[c]
		if !ok {
			// A new buffer each time: slices of one dropped stay valid.
			b = make([]byte, min(boltChunk, bp.size-c*boltChunk))
			if k, err := bp.f.ReadAt(b, c*boltChunk); k < len(b) {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
			if bp.chunks == nil {
				bp.chunks = make(map[int64][]byte)
			}
			if len(bp.order) == boltChunks {
				delete(bp.chunks, bp.order[0])
				bp.order = bp.order[1:]
			}
			bp.chunks[c] = b
			bp.order = append(bp.order, c)
		}
		at := off - c*boltChunk
		return b[at : at+n : at+n], nil
	}
	b := make([]byte, n)
	k, err := bp.f.ReadAt(b, off)
	if int64(k) == n {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// openBoltPages opens path and picks its meta page as bbolt does (the
// valid one with the higher transaction id). A damage is returned when no
// meta page is valid or the file is shorter than its pages.
func openBoltPages(path string) (*boltPages, *Damage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	bp := &boltPages{f: f, path: path, size: fi.Size()}
	first := make([]byte, min(bp.size, 0x1000))
	f.ReadAt(first, 0)
	bp.metas[0] = parseMeta(first)
	ps := int64(os.Getpagesize())
	if bp.metas[0].err == "" {
		ps = int64(bp.metas[0].pageSize)
	} else {
		for i := range 15 {
			pos := int64(1024) << i
			if pos >= bp.size-1024 {
				break
			}
			b := make([]byte, min(0x1000, bp.size-pos))
			f.ReadAt(b, pos)
			if m := parseMeta(b); m.err == "" {
				ps = int64(m.pageSize)
				break
			}
		}
	}
	bp.ps = ps
	if ps < boltMinPageSize || ps > boltMaxPageSize || ps&(ps-1) != 0 {
		return bp, &Damage{File: path, Offset: 0, Kind: DamageBoltMeta, Problem: fmt.Sprintf("page size %d in the meta page", ps),
			Lost: "everything in drover.db"}, nil
	}
	if bp.size >= ps+pageHeaderSize+boltMetaSize {
		b := make([]byte, pageHeaderSize+boltMetaSize)
		f.ReadAt(b, ps)
		bp.metas[1] = parseMeta(b)
	} else {
		bp.metas[1] = boltMeta{err: "past the end of the file"}
	}
	a, b := 0, 1
	if bp.metas[1].txid > bp.metas[0].txid {
		a, b = 1, 0
	}
	switch {
	case bp.metas[a].err == "":
		bp.used = a
	case bp.metas[b].err == "":
		bp.used = b
	default:
		return bp, &Damage{File: path, Offset: 0, Kind: DamageBoltMeta,
			Problem: fmt.Sprintf("no valid meta page (page 0: %s; page 1: %s)", bp.metas[0].err, bp.metas[1].err),
			Lost:    "everything in drover.db"}, nil
	}
	bp.meta = bp.metas[bp.used]
	if other := 1 - bp.used; bp.metas[other].err != "" {
		bp.notes = append(bp.notes, fmt.Sprintf("%s: meta page %d is not valid (%s); bbolt uses meta page %d (one torn meta write is what a crash during a commit leaves)",
			path, other, bp.metas[other].err, bp.used))
	}
	m := bp.meta
	switch {
	case int64(m.pageSize) != ps:
		return bp, &Damage{File: path, Offset: int64(bp.used) * ps, Kind: DamageBoltMeta,
			Problem: fmt.Sprintf("meta page %d says page size %d, but it is at offset %d", bp.used, m.pageSize, int64(bp.used)*ps), Lost: "everything in drover.db"}, nil
	case m.pgid < 3 || m.pgid > uint64(bp.size/ps):
		return bp, &Damage{File: path, Offset: min(bp.size, int64(min(m.pgid, 1<<40))*ps), Kind: DamageBoltFile,
			Problem: fmt.Sprintf("the file has %d bytes, but its meta page says it holds %d pages of %d bytes: it was cut short", bp.size, m.pgid, ps),
			Lost:    "the records in the missing pages"}, nil
	case m.root < 2 || m.root >= m.pgid:
		return bp, &Damage{File: path, Offset: int64(bp.used) * ps, Kind: DamageBoltMeta,
			Problem: fmt.Sprintf("meta page %d: root page %d out of range", bp.used, m.root), Lost: "everything in drover.db"}, nil
	}
	return bp, nil, nil
}
