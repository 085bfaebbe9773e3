package jobs

// What a crash can leave of the last frame written: a torn tail.

import (
	"encoding/binary"
	"fmt"
)

// sectorSize is the unit in which a crash may tear a write: the bytes of a
// sector are all written or none. 512 is the smallest there is; a bigger
// real sector only makes fewer shapes possible.
const sectorSize = 512

// tornShape reports whether the bad spot sp, the last thing in the last
// segment written, with no valid frame after it, has a shape a crash can
// leave: the frame's sectors written or not, over zeros. prevLSN and
// prevHW are those of the last valid frame before it.
func tornShape(b []byte, sp *badSpot, version int, prevLSN, prevHW uint64, lastNZ int64) (bool, string) {
	off := sp.off
	size := int64(len(b))
	if size-off < frameHeader {
		return false, "no frame fits there"
	}
	// The length field lies in one sector unless it straddles two; then a
	// torn write can leave only some of its bytes, and it reads smaller
	// than it is. Otherwise it is all there (the frame's true length) or
	// all zero (its sector never written).
	straddles := off%sectorSize > sectorSize-4
	n := int64(sp.n)
	switch {
	case n == 0:
		end := min(size, (off/sectorSize+1)*sectorSize)
		if !straddles && lastNonZero(b[:end], int(off)) >= 0 {
			return false, "its length is zero while the rest of its sector is not"
		}
	case n > size-off-frameHeader:
		// A torn length is never larger than the true one, which fits.
		return false, "its length runs past the end of the file, which no crash can do"
	case !straddles && lastNZ >= off+frameHeader+n:
		return false, fmt.Sprintf("non-zero bytes follow its end (offset %d), up to offset %d", off+frameHeader+n, lastNZ)
	case zeroSector(b, off, off+frameHeader+n) < 0:
		return false, fmt.Sprintf("every %d-byte sector of its %d bytes holds data, so all of it was written: a crash leaves a sector of it unwritten (zeros), or the frame whole",
			sectorSize, frameHeader+n)
	}
	if version >= 2 {
		if p := laterFrame(b, off+frameHeader+1, prevLSN, prevHW, lastNZ); p >= 0 {
			return false, fmt.Sprintf("the body of a later frame (LSN %d) is at offset %d", binary.LittleEndian.Uint64(b[p:]), p)
		}
	}
	return true, ""
}

// zeroSector returns the offset of the first sector of the frame at
// b[off:end] whose bytes, those of the frame, are all zero, or -1 if
// there is none. A torn write leaves at least one: a frame whose sectors
// all reached the disk is the frame written, and its checksum matches.
// Where the frame's own data holds a sector of zeros, the frame looks the
// same as one whose sector was not written, and passes for torn.
func zeroSector(b []byte, off, end int64) int64 {
	for lo := off; lo < end; lo = (lo/sectorSize + 1) * sectorSize {
		hi := min(end, (lo/sectorSize+1)*sectorSize)
		if lastNonZero(b[:hi], int(lo)) < 0 {
			return lo
		}
	}
	return -1
}
