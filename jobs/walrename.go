package jobs

// A segment under another name: the file's header says which segment it
// is. A segment renamed (to another number, to another name in the log
// dir, or into the data dir) is read as the segment its header names, so
// that the log around it reads as it is, and reported once, as renamed,
// rather than as a segment missing, a bad header and LSNs out of order.

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// logFiles returns the numbers of the segments in dir, in order, and the
// paths of the other files that may be segments under another name: the
// log dir's other files (but wal/highwater) and the data dir's (but
// drover.db). A missing dir holds none.
func logFiles(dir string) (nums []uint64, strays []string, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("jobs: log dir: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if n, ok := parseSegmentName(name); ok {
			nums = append(nums, n)
			continue
		}
		if !e.Type().IsRegular() || name == HighWaterFile {
			continue
		}
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, walExt) && !isSegmentFile(path) {
			return nil, nil, fmt.Errorf("jobs: log dir %s: unexpected file %s", dir, name)
		}
		strays = append(strays, path)
	}
	slices.Sort(nums)
	if ents, err := os.ReadDir(filepath.Dir(dir)); err == nil {
		for _, e := range ents {
			if e.Type().IsRegular() && e.Name() != BoltFile {
				strays = append(strays, filepath.Join(filepath.Dir(dir), e.Name()))
			}
		}
	}
	return nums, strays, nil
}

// parseSegmentName returns the number of the segment file name, if it is
// one.
func parseSegmentName(name string) (uint64, bool) {
	if !strings.HasSuffix(name, walExt) {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(name, walExt), 16, 64)
	return n, err == nil && segmentName(n) == name
}

// segmentHeader returns the segment number in the header b begins with,
// if b begins with a segment header (of either format).
func segmentHeader(b []byte) (uint64, bool) {
	if len(b) < walHeaderSize {
		return 0, false
	}
	if m := string(b[:len(walMagic)]); m != walMagic && m != walMagicV1 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[len(walMagic):]), true
}

// isSegmentFile reports whether the file at path begins with a segment
// header.
func isSegmentFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, walHeaderSize)
	if _, err := io.ReadFull(f, b); err != nil {
		return false
	}
	_, ok := segmentHeader(b)
	return ok
}

// renumber reads the segments of ls (read, not scanned) as the segments
// their headers name where their names do not: a segment file whose
// header names another segment, and a stray file with a segment's header,
// is that segment, renamed, when no file under that segment's name
// claims it (its own header saying so, or not reading). A stray made by
// createSegment and never renamed into place (SEGMENT.wal.tmp, nothing
// after its header) is not a segment. It sorts ls.segs by number.
func (ls *logScan) renumber(strays []string) {
	claimed := make(map[uint64]bool) // numbers a file of that name holds
	for _, seg := range ls.segs {
		if n, ok := segmentHeader(seg.data); !ok || n == seg.num {
			claimed[seg.num] = true
		}
	}
	for _, seg := range ls.segs {
		if n, ok := segmentHeader(seg.data); ok && n != seg.num && !claimed[n] {
			claimed[n] = true
			seg.num, seg.renamed = n, true
		}
	}
	for _, path := range strays {
		if !isSegmentFile(path) {
			continue
		}
		b, err := os.ReadFile(path)
		n, ok := segmentHeader(b)
		if err != nil || !ok || claimed[n] {
			continue
		}
		if filepath.Base(path) == segmentName(n)+".tmp" && lastNonZero(b, walHeaderSize) < 0 {
			continue // a segment being made when the store stopped
		}
		claimed[n] = true
		ls.segs = append(ls.segs, &segScan{num: n, path: path, data: b, renamed: true})
	}
	slices.SortFunc(ls.segs, func(a, b *segScan) int { return cmp.Compare(a.num, b.num) })
}

// renamedDamage is the damage of the renamed segment seg: it reads, under
// a name the store does not read it by.
func (ls *logScan) renamedDamage(seg *segScan) Damage {
	name := segmentName(seg.num)
	return Damage{File: seg.path, Offset: -1, Kind: DamageRenamedSegment,
		Problem: fmt.Sprintf("is log segment %s under another name (its header says segment %d, and no file named %s holds it): renamed; rename it back to %s",
			name, seg.num, name, filepath.Join(ls.dir, name)),
		Lost: "nothing if it is renamed back (it is read here as " + name + "); a master reads it only under its own name"}
}

// removeTemps removes the temporary files a crash may leave in the log
// dir (a segment or wal/highwater being written).
func removeTemps(logDir string) {
	ents, _ := os.ReadDir(logDir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			os.Remove(filepath.Join(logDir, e.Name()))
		}
	}
}
