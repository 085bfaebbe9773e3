package jobs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/drover/drover/internal/binenc"
)

// The write-ahead log is a directory of segment files. A segment is
// created at its full size and filled with zeros, so appending to it
// changes no file metadata and an fdatasync writes only the new bytes.
// It starts with a header (walMagic, then the segment's number) and holds
// frames back to back:
//
//	uint32 length of body (little-endian; 0 marks the end)
//	uint32 CRC-32C of body
//	body: uvarint count, then count × (uvarint seq, uvarint len, data)
//
// A frame is one Save: it is acknowledged only after its fdatasync, so a
// frame cut short by a crash (a bad CRC, a length past the end) was never
// acknowledged, and reading stops there.

const (
	walMagic      = "DRWAL001"
	walHeaderSize = len(walMagic) + 8
	frameHeader   = 8
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
}

func segmentName(num uint64) string { return fmt.Sprintf("%016x%s", num, walExt) }

// createSegment makes segment num in dir, zero-filled to size bytes and
// synced, with its header written. It writes to a temporary name and
// renames, so a crash never leaves a half-made segment under a real name.
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
// left free by the caller) for the body after it, writes the frame in one
// call and syncs it.
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
	return nil
}

// room reports whether a frame of n bytes fits.
func (s *segment) room(n int) bool { return s.off+int64(n) <= s.size }

// listSegments returns the numbers of the segments in dir, in order, and
// removes leftover temporary files.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("jobs: log dir: %w", err)
	}
	var nums []uint64
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, walExt+".tmp"):
			os.Remove(filepath.Join(dir, name))
		case strings.HasSuffix(name, walExt):
			n, err := strconv.ParseUint(strings.TrimSuffix(name, walExt), 16, 64)
			if err != nil {
				return nil, fmt.Errorf("jobs: log dir %s: unexpected file %s", dir, name)
			}
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

// readSegment calls fn for every record of every whole frame of segment
// num, in order. data is a slice of
// the segment's contents, which fn may keep. A cut-off frame ends the
// segment; a bad header is an error.
func readSegment(dir string, num uint64, fn func(seq uint64, data []byte)) error {
	path := filepath.Join(dir, segmentName(num))
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("jobs: log: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("jobs: log %s: %w", path, err)
	}
	if len(b) < walHeaderSize || string(b[:len(walMagic)]) != walMagic ||
		binary.LittleEndian.Uint64(b[len(walMagic):]) != num {
		return fmt.Errorf("jobs: log %s: not a drover log segment", path)
	}
	for off := walHeaderSize; off+frameHeader <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		sum := binary.LittleEndian.Uint32(b[off+4:])
		if n == 0 || n > len(b)-off-frameHeader {
			break
		}
		body := b[off+frameHeader : off+frameHeader+n]
		if crc32.Checksum(body, crcTable) != sum {
			break
		}
		if err := decodeFrame(body, fn); err != nil {
			return fmt.Errorf("jobs: log %s at %d: %w", path, off, err)
		}
		off += frameHeader + n
	}
	return nil
}

// appendFrameBody appends a frame's body for batch to b.
func appendFrameBody(b []byte, batch []Record) []byte {
	b = binary.AppendUvarint(b, uint64(len(batch)))
	for _, r := range batch {
		b = binary.AppendUvarint(b, r.Seq)
		b = binary.AppendUvarint(b, uint64(len(r.Data)))
		b = append(b, r.Data...)
	}
	return b
}

// decodeFrame calls fn for each record of a frame's body.
func decodeFrame(body []byte, fn func(seq uint64, data []byte)) error {
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
		return err
	}
	for _, x := range recs {
		fn(x.seq, x.data)
	}
	return nil
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
