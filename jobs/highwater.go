package jobs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// The high-water file: hwMagic, the mark (uint64, little-endian), and the
// CRC-32C of both.
const (
	hwMagic    = "DRHW0001"
	hwFileSize = len(hwMagic) + 8 + 4
)

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

// raiseHighWaterFile writes hw to the high-water file if it is above what
// the file holds. The checkpointer calls it after a checkpoint and before
// the segment goes, so that the file and the log cover every Seq the
// bbolt file holds.
func (s *BoltStore) raiseHighWaterFile(hw uint64) error {
	if hw <= s.hwFile {
		return nil
	}
	if err := writeHighWaterFile(s.logDir, hw); err != nil {
		return err
	}
	s.hwFile = hw
	return nil
}
