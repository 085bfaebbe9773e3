package jobs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/drover/drover/internal/binenc"
)

// The write-ahead log is a directory of segment files. A segment is
// created at its full size and filled with zeros, under a temporary name,
// synced and renamed, so a segment under its real name always has its
// full size and header, and appending to it changes no file metadata: an
// fdatasync writes only the new bytes. Segments are numbered in the order
// they are written, without gaps, for the life of the data dir (a spare
// made ahead of need is the next number, and a bigger one made in its
// place takes its number). drover.db's state names the segment the log
// goes on in (storeState.seg), so that a log whose oldest segments are
// gone shows it even when the segments left hold no frame, and the
// highest segment made (storeState.made, written before a frame can go
// in it), so that a log whose newest segments are gone shows it even when
// the segments left end cleanly. A file whose header names a segment no
// file of that name holds is that segment, renamed (walrename.go).
//
// A segment starts with a header (walMagic, then the segment's number) and
// holds frames back to back:
//
//	uint32 length of body (little-endian; 0 marks the end)
//	uint32 CRC-32C of body
//	body: uint64 LSN, uint64 high-water mark (both little-endian), then
//	      uvarint count, then count × (uvarint seq, uvarint len, data)
//
// A frame is one Save: it is acknowledged only after its fdatasync. The
// LSN counts frames, one more for each frame written (across segments and
// restarts: the bbolt file keeps the last one it holds); the high-water
// mark is the highest Seq saved so far, this frame's included. Segments of
// the first format (walMagicV1) have bodies without the two uint64s; they
// are still read, so a log left by an older drover replays.
//
// A crash can cut short only the last frame written, and only in the last
// segment written to: the frame's bytes reach the disk in sectors, some and
// not others, over the zeros the segment was made with, so at least one
// sector of it reads all zeros (waltorn.go). Anything else — a bad frame
// followed by a good one, a bad last frame with data in every sector,
// bytes where the log must hold zeros, a gap in the LSNs or in segment
// numbers, a log that starts after the segment drover.db names or ends
// before the highest it says was made, a bad header — is damage, and OpenBolt refuses to start on it (see damage.go).

const (
	walMagic      = "DRWAL002"
	walMagicV1    = "DRWAL001"
	walHeaderSize = len(walMagic) + 8
	frameHeader   = 8
	frameMeta     = 16 // LSN and high-water mark, at the start of a body
	walExt        = ".wal"
)

// walSegmentSize is the size of a new segment. A frame bigger than that
// gets a segment of its own size.
var walSegmentSize int64 = 32 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// segment is one log file being appended to.
type segment struct {
	num  uint64
	f    *os.File
	off  int64 // where the next frame goes
	size int64
	// hw and lastLSN are those of the last frame appended (0 before one).
	hw, lastLSN uint64
}

func segmentName(num uint64) string { return fmt.Sprintf("%016x%s", num, walExt) }

// createSegment makes segment num in dir, zero-filled to size bytes and
// synced, with its header written. It writes to a temporary name and
// renames, so a crash never leaves a half-made segment under a real name
// (and a segment num already there, an unused spare, is replaced whole).
func createSegment(dir string, num uint64, size int64) (*segment, error) {
	final := filepath.Join(dir, segmentName(num))
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jobs: log segment: %w", err)
	}
	fail := func(err error) (*segment, error) {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("jobs: log segment %s: %w", final, err)
	}
	hdr := make([]byte, walHeaderSize, 1<<20)
	copy(hdr, walMagic)
	binary.LittleEndian.PutUint64(hdr[len(walMagic):], num)
	zeros := hdr[:cap(hdr)]
	clear(zeros[walHeaderSize:])
	for off := int64(0); off < size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return fail(err)
		}
		if off == 0 {
			clear(zeros[:walHeaderSize])
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	return &segment{num: num, f: f, off: int64(walHeaderSize), size: size}, nil
}

// appendFrame fills in the header of frame (its first frameHeader bytes,
// left free by the caller, followed by the body with its LSN and
// high-water mark set) for the body after it, writes the frame in one call
// and syncs it.
func (s *segment) appendFrame(frame []byte) error {
	body := frame[frameHeader:]
	binary.LittleEndian.PutUint32(frame[0:], uint32(len(body)))
	binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(body, crcTable))
	if _, err := s.f.WriteAt(frame, s.off); err != nil {
		return err
	}
	if err := fdatasync(s.f); err != nil {
		return err
	}
	s.off += int64(len(frame))
	s.lastLSN = binary.LittleEndian.Uint64(body)
	s.hw = binary.LittleEndian.Uint64(body[8:])
	return nil
}

// room reports whether a frame of n bytes fits.
func (s *segment) room(n int) bool { return s.off+int64(n) <= s.size }

// listSegments returns the numbers of the segments in dir, in order, and
// removes leftover temporary files.
func listSegments(dir string) ([]uint64, error) { return segmentFiles(dir, true) }

// segmentFiles returns the numbers of the segments in dir, in order. With
// clean set it removes leftover temporary files; else a missing dir holds
// none.
func segmentFiles(dir string, clean bool) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !clean {
			return nil, nil
		}
		return nil, fmt.Errorf("jobs: log dir: %w", err)
	}
	var nums []uint64
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			if clean {
				os.Remove(filepath.Join(dir, name))
			}
		case strings.HasSuffix(name, walExt):
			n, err := strconv.ParseUint(strings.TrimSuffix(name, walExt), 16, 64)
			if err != nil || segmentName(n) != name {
				return nil, fmt.Errorf("jobs: log dir %s: unexpected file %s", dir, name)
			}
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

// appendFrameBody appends a frame's body for batch to b, leaving its LSN
// and high-water mark zero for Save to fill in.
func appendFrameBody(b []byte, batch []Record) []byte {
	b = append(b, make([]byte, frameMeta)...)
	b = binary.AppendUvarint(b, uint64(len(batch)))
	for _, r := range batch {
		b = binary.AppendUvarint(b, r.Seq)
		b = binary.AppendUvarint(b, uint64(len(r.Data)))
		b = append(b, r.Data...)
	}
	return b
}

// decodeFrame calls fn for each record of a frame's body, after its LSN
// and high-water mark (for a body of version 2).
func decodeFrame(body []byte, version int, fn func(seq uint64, data []byte)) (lsn, hw uint64, err error) {
	if version >= 2 {
		if len(body) < frameMeta {
			return 0, 0, fmt.Errorf("%w: frame of %d bytes", ErrRecord, len(body))
		}
		lsn = binary.LittleEndian.Uint64(body)
		hw = binary.LittleEndian.Uint64(body[8:])
		body = body[frameMeta:]
	}
	r := binenc.NewReader(body, ErrRecord)
	n := r.Count()
	type rec struct {
		seq  uint64
		data []byte
	}
	recs := make([]rec, 0, n)
	for range n {
		seq := r.Uvarint()
		l := r.Count()
		if r.Err != nil {
			break
		}
		if l == 0 {
			r.Fail("empty record for seq %d", seq)
			break
		}
		recs = append(recs, rec{seq, r.B[:l:l]})
		r.B = r.B[l:]
	}
	if err := r.End(); err != nil {
		return 0, 0, err
	}
	for _, x := range recs {
		fn(x.seq, x.data)
	}
	return lsn, hw, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
