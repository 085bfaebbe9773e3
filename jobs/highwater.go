package jobs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
)

// The high-water file: hwMagic, the mark (uint64, little-endian), and the
// CRC-32C of both.
//
// While a store is open the file holds a reservation, not the mark: Save
// raises it, durably, above the Seqs of a batch before it writes the
// batch's frame, by reserveBlock IDs at a time, so that it is at or above
// every Seq ever acknowledged even when log frames are lost (the frames
// are the only other copy of the mark until the first checkpoint). A
// reopened store numbers above it: a crash costs a gap in the IDs, never
// an ID handed out twice. Close, once everything is in drover.db and
// drover.db is marked closed, lowers it to the mark itself, so that a
// clean restart numbers on without a gap.
const (
	hwMagic    = "DRHW0001"
	hwFileSize = len(hwMagic) + 8 + 4
)

// reserveBlock is how many IDs above a batch's highest Seq a reservation
// covers (at least the batch's length): one write of the high-water file
// per reserveBlock new jobs, off the path of every other Save.
var reserveBlock uint64 = 10000

// readHighWaterFile reads dir/highwater. A missing file is no error.
func readHighWaterFile(logDir string) (hw uint64, ok bool, err error) {
	path := filepath.Join(logDir, HighWaterFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("%s: %v", path, err)
	}
	if len(b) != hwFileSize || string(b[:len(hwMagic)]) != hwMagic ||
		binary.LittleEndian.Uint32(b[len(hwMagic)+8:]) != crc32.Checksum(b[:len(hwMagic)+8], crcTable) {
		return 0, false, fmt.Errorf("%s is damaged: ignored, and written again when the mark is next saved", path)
	}
	return binary.LittleEndian.Uint64(b[len(hwMagic):]), true, nil
}

// writeHighWaterFile writes dir/highwater durably (temporary file,
// rename).
func writeHighWaterFile(logDir string, hw uint64) error {
	b := make([]byte, 0, hwFileSize)
	b = append(b, hwMagic...)
	b = binary.LittleEndian.AppendUint64(b, hw)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	path := filepath.Join(logDir, HighWaterFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("jobs: high-water file: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(logDir)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("jobs: high-water file: %w", err)
	}
	return nil
}

// reserve makes the high-water file cover top, the highest Seq of a batch
// of n records about to be written, if it does not yet: it writes a
// reservation of reserveBlock (at least n) IDs above top. The caller
// holds mu. Most Saves find their Seqs covered and write nothing.
func (s *BoltStore) reserve(top uint64, n int) error {
	if top <= s.reserved {
		return nil
	}
	r := top + max(reserveBlock, uint64(n))
	if r < top {
		r = math.MaxUint64
	}
	if err := writeHighWaterFile(s.logDir, r); err != nil {
		return err
	}
	s.reserved = r
	return nil
}

// raiseHighWaterFile writes hw to the high-water file if it is above what
// the file holds. OpenBolt calls it after the replay (the log may show a
// higher mark than a lost or damaged file), and the checkpointer after a
// checkpoint and before the segment goes, so that the file and the log
// cover every Seq the bbolt file holds (Save's reservations already do).
func (s *BoltStore) raiseHighWaterFile(hw uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hw <= s.reserved {
		return nil
	}
	if err := writeHighWaterFile(s.logDir, hw); err != nil {
		return err
	}
	s.reserved = hw
	return nil
}

// lowerHighWaterFile sets the high-water file to the mark itself, from a
// reservation above it, once Close has checkpointed everything: the log is
// empty, and drover.db, marked closed, holds every record and the mark.
// Then a clean restart numbers on from the mark, without a gap. It
// changes nothing unless drover.db says so; a failure only leaves the
// reservation, which costs a gap at the next start.
func (s *BoltStore) lowerHighWaterFile() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reserved <= s.hw {
		return
	}
	st, ok, err := s.db.state()
	if err != nil || !ok || !st.closed || st.hw < s.hw {
		return
	}
	if writeHighWaterFile(s.logDir, st.hw) == nil {
		s.reserved = st.hw
	}
}
