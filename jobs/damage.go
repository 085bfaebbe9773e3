package jobs

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
)

// Damage is one damaged or missing part of a data dir: where it is and
// what it cost.
type Damage struct {
	// File is the damaged file (or the missing one).
	File string `json:"file"`
	// Offset is the byte offset in File where the damage starts; -1 when
	// the whole file is missing or unusable.
	Offset int64 `json:"offset"`
	// End is where readable data resumes after the damage (exclusive),
	// when it does; 0 otherwise.
	End int64 `json:"end,omitempty"`
	// Kind is one of the Damage* constants.
	Kind string `json:"kind"`
	// Problem says what is wrong.
	Problem string `json:"problem"`
	// Lost says, in words, what the damage cost.
	Lost string `json:"lost"`
	// Frames is the number of log frames lost, when known (at least that
	// many when AtLeast).
	Frames int `json:"frames_lost,omitempty"`
	// Records is a lower bound of the records lost, when known.
	Records int `json:"records_lost,omitempty"`
	// LSNFrom and LSNTo are the LSNs of the frames lost, when known.
	LSNFrom uint64 `json:"lsn_from,omitempty"`
	LSNTo   uint64 `json:"lsn_to,omitempty"`
	// Seqs are the Seqs (job IDs) of records known to be in the lost
	// part (read from it without a valid checksum, or from a damaged page
	// of drover.db).
	Seqs []uint64 `json:"seqs,omitempty"`
	// NewFrom and NewTo bound the Seqs of jobs first saved in the lost
	// part, when the high-water marks around it tell.
	NewFrom uint64 `json:"new_seqs_from,omitempty"`
	NewTo   uint64 `json:"new_seqs_to,omitempty"`

	// ifAny is set for missing segments that may have held no frame (the
	// newest ones: the last may have been a spare made ahead of need).
	ifAny bool
}

// The kinds of Damage.
const (
	// DamageTornTail is the last frame of the log cut short by a crash: it
	// was never acknowledged, and is dropped. It is the one kind that is
	// not corruption.
	DamageTornTail = "torn-tail"
	// DamageBadFrame is a log frame that does not read (bad checksum,
	// length, or content) where a crash cannot have left one.
	DamageBadFrame = "bad-frame"
	// DamageLogGap is a gap or regression in the LSNs of the frames.
	DamageLogGap = "log-gap"
	// DamageMissingSegment is a gap in the segment numbers, or segments
	// missing at the start or the end of the log.
	DamageMissingSegment = "missing-segment"
	// DamageRenamedSegment is a segment under another name: its header
	// says which segment it is, and no file of that name is there.
	DamageRenamedSegment = "renamed-segment"
	// DamageBadSegment is a segment whose header is not what it must be,
	// or that cannot be read.
	DamageBadSegment = "bad-segment"
	// DamageLogMissing is a log directory without segments while
	// drover.db says its store was not closed.
	DamageLogMissing = "log-missing"
	// DamageBoltFile is a drover.db that is missing, empty or not a bbolt
	// file where the data dir shows it was used.
	DamageBoltFile = "bolt-file"
	// DamageBoltMeta is a drover.db without a valid meta page.
	DamageBoltMeta = "bolt-meta"
	// DamageBoltPage is a damaged page of drover.db (or a damaged
	// element of one).
	DamageBoltPage = "bolt-page"
	// DamageBoltRecord is a record of drover.db whose checksum does not
	// match, or that is not a job.
	DamageBoltRecord = "bolt-record"
	// DamageBoltFreelist is a damaged free-page list of drover.db; bbolt
	// would overwrite live pages with it.
	DamageBoltFreelist = "bolt-freelist"
)

func (d Damage) String() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Offset >= 0 {
		fmt.Fprintf(&b, " at offset %d", d.Offset)
	}
	b.WriteString(": ")
	b.WriteString(d.Problem)
	if d.Lost != "" {
		b.WriteString("; lost: ")
		b.WriteString(d.Lost)
	}
	return b.String()
}

// describeLost fills in d.Lost from the counts and Seqs in d.
func (d *Damage) describeLost(atLeast bool, extra string) {
	var parts []string
	if d.Frames > 0 {
		s := fmt.Sprintf("%d frame%s", d.Frames, plural(d.Frames))
		if atLeast {
			s = "at least " + s
		}
		if d.LSNFrom > 0 {
			if d.LSNFrom == d.LSNTo {
				s += fmt.Sprintf(" (LSN %d)", d.LSNFrom)
			} else {
				s += fmt.Sprintf(" (LSNs %d..%d)", d.LSNFrom, d.LSNTo)
			}
		}
		parts = append(parts, s)
	} else if atLeast {
		parts = append(parts, "at least 1 frame")
	}
	if d.Records > 0 {
		parts = append(parts, fmt.Sprintf("at least %d record%s", d.Records, plural(d.Records)))
	}
	if len(d.Seqs) > 0 {
		parts = append(parts, "job IDs "+seqList(d.Seqs))
	}
	if d.NewTo > 0 && d.NewTo >= d.NewFrom {
		parts = append(parts, fmt.Sprintf("any job first saved in it has an ID in %d..%d", d.NewFrom, d.NewTo))
	}
	if extra != "" {
		parts = append(parts, extra)
	}
	d.Lost = strings.Join(parts, ", ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// seqList writes seqs (sorted) compactly, as ranges, at most 20 of them.
func seqList(seqs []uint64) string {
	s := slices.Clone(seqs)
	slices.Sort(s)
	s = slices.Compact(s)
	var parts []string
	left := uint64(len(s))
	for _, r := range IDRanges(s) {
		if len(parts) == 20 {
			parts = append(parts, fmt.Sprintf("and %d more", left))
			break
		}
		parts = append(parts, r.String())
		left -= r.To - r.From + 1
	}
	return strings.Join(parts, ",")
}

// CorruptError is the error OpenBolt returns for a damaged data dir. It
// wraps ErrCorrupt. OpenBolt changes nothing in a dir it refuses.
type CorruptError struct {
	Dir    string
	Damage []Damage
	// HighWater is at or above every Seq the dir shows was ever saved
	// (wal/highwater's reservation included).
	HighWater uint64
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "jobs: data dir %s is damaged: ", e.Dir)
	for i, d := range e.Damage {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.String())
	}
	fmt.Fprintf(&b, " (nothing was changed; run \"drover store check --data-dir %s\", then \"drover store salvage\" into a new dir)", e.Dir)
	return b.String()
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Recovery is what OpenBolt found and did: a master logs it.
type Recovery struct {
	// CleanClose is set when the store was closed (Close) the last time,
	// so the log held nothing to replay.
	CleanClose bool `json:"clean_close"`
	// Segments, Frames and Records count what was replayed from the log.
	Segments int `json:"segments"`
	Frames   int `json:"frames"`
	Records  int `json:"records"`
	// Torn is the torn tail dropped (a frame a crash cut short, never
	// acknowledged), if there was one.
	Torn []Damage `json:"torn,omitempty"`
	// Notes are other facts worth a log line.
	Notes []string `json:"notes,omitempty"`
	// HighWater is what the store numbers above: the highest Seq ever
	// saved, or after a crash wal/highwater's reservation; LSN the last
	// frame's.
	HighWater uint64 `json:"high_water"`
	LSN       uint64 `json:"lsn"`
}

// guard runs fn, turning a panic (bbolt panics on damaged pages) or a
// memory fault (a page reference past the mapped file) into an error
// wrapping ErrCorrupt that names file.
func guard(file string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = &CorruptError{Dir: filepath.Dir(file), Damage: []Damage{{
				File: file, Offset: -1, Kind: DamageBoltPage,
				Problem: fmt.Sprintf("bbolt failed reading it: %v", r),
				Lost:    "unknown: run \"drover store check\"",
			}}}
		}
	}()
	return fn()
}

// The write-ahead log as read from disk.

// frameScan is one valid frame.
type frameScan struct {
	seg     int // index in logScan.segs
	off     int64
	size    int64
	version int
	lsn, hw uint64
	recs    []Record
	maxSeq  uint64
}

// badSpot is a stretch of a segment where frames do not read.
type badSpot struct {
	off, end int64 // end: where the next valid frame starts, or the size
	n        uint32
	why      string
	follows  bool // a valid frame follows in the segment
}

// segScan is one segment as read.
type segScan struct {
	num       uint64
	path      string
	data      []byte
	version   int
	headerErr string
	readErr   error
	frames    []int // indexes in logScan.frames
	bad       []badSpot
	lastNZ    int64 // offset of the last non-zero byte after the header, -1 if none
	// renamed is set for a segment read under another name (path):
	// its header says it is segment num (renumber).
	renamed bool
}

// tornSpot is where a torn tail is.
type tornSpot struct {
	seg *segScan
	sp  *badSpot
}

// logState is what drover.db (and wal/highwater) say about the log.
type logState struct {
	known  bool   // drover.db holds a store state (written by this version)
	lsn    uint64 // the last LSN it holds
	hw     uint64
	closed bool // the store was closed by Close
	// seg is the segment the log goes on in (when segKnown: a state of
	// version 2 or later), made the highest segment made (when
	// madeKnown: version 3), see storeState.
	seg       uint64
	segKnown  bool
	made      uint64
	madeKnown bool
	// reserve is wal/highwater's reservation (0 if it does not read): at
	// or above every Seq acknowledged, it bounds the new jobs of frames
	// lost after the last one that reads.
	reserve uint64
}

// logScan is the whole log as read, with its damage classified.
type logScan struct {
	dir    string
	segs   []*segScan
	frames []frameScan // in the order written
	damage []Damage    // corruption
	torn   []Damage    // torn tails (at most one)
	tornAt []tornSpot  // where they are, for OpenBolt to clear
	notes  []string
	hw     uint64 // the highest Seq and high-water mark of the frames
	lsn    uint64 // the last LSN of the frames
}

// scanLog reads every segment in dir, and the files that are segments
// under another name (renumber), and classifies what does not read. It
// changes nothing.
func scanLog(dir string, st logState) (*logScan, error) {
	nums, strays, err := logFiles(dir)
	if err != nil {
		return nil, err
	}
	ls := &logScan{dir: dir}
	for _, num := range nums {
		seg := &segScan{num: num, path: filepath.Join(dir, segmentName(num))}
		seg.data, seg.readErr = os.ReadFile(seg.path)
		ls.segs = append(ls.segs, seg)
	}
	ls.renumber(strays)
	for i, seg := range ls.segs {
		if seg.readErr == nil {
			ls.scanSegment(i)
		}
	}
	ls.classify(st)
	for _, f := range ls.frames {
		ls.hw = max(ls.hw, f.hw, f.maxSeq)
		ls.lsn = max(ls.lsn, f.lsn)
	}
	return ls, nil
}

// records returns the records of the frames in the order written.
func (ls *logScan) records() []Record {
	var recs []Record
	for _, f := range ls.frames {
		recs = append(recs, f.recs...)
	}
	return recs
}

// lastNonZero returns the offset of the last non-zero byte of b at or
// after from, or -1.
func lastNonZero(b []byte, from int) int64 {
	i := len(b)
	for i-8 >= from && binary.LittleEndian.Uint64(b[i-8:]) == 0 {
		i -= 8
	}
	for i > from && b[i-1] == 0 {
		i--
	}
	if i <= from {
		return -1
	}
	return int64(i - 1)
}

func (ls *logScan) scanSegment(idx int) {
	seg := ls.segs[idx]
	b := seg.data
	seg.version = 2
	switch {
	case len(b) < walHeaderSize:
		seg.headerErr = fmt.Sprintf("%d bytes, too short for a segment header", len(b))
	case string(b[:len(walMagic)]) == walMagic:
	case string(b[:len(walMagic)]) == walMagicV1:
		seg.version = 1
	default:
		seg.headerErr = fmt.Sprintf("not a drover log segment (starts %q)", b[:len(walMagic)])
		if hamming(b[:len(walMagic)], walMagicV1) < hamming(b[:len(walMagic)], walMagic) {
			seg.version = 1
		}
	}
	if seg.headerErr == "" {
		if n := binary.LittleEndian.Uint64(b[len(walMagic):]); n != seg.num {
			seg.headerErr = fmt.Sprintf("its header says segment %d", n)
		}
	}
	if len(b) < walHeaderSize {
		seg.lastNZ = lastNonZero(b, 0)
		return
	}
	seg.lastNZ = lastNonZero(b, walHeaderSize)
	prevLSN := uint64(0)
	if n := len(ls.frames); n > 0 {
		prevLSN = ls.frames[n-1].lsn
	}
	for off := int64(walHeaderSize); off < int64(len(b)); {
		f, why, n := parseFrame(b, off, seg.version, seg.lastNZ)
		if why == "" {
			f.seg = idx
			seg.frames = append(seg.frames, len(ls.frames))
			ls.frames = append(ls.frames, f)
			prevLSN = max(prevLSN, f.lsn)
			off += f.size
			continue
		}
		if why == whyEnd {
			break
		}
		spot := badSpot{off: off, end: int64(len(b)), n: n, why: why}
		next := resync(b, off+1, seg.version, prevLSN, seg.lastNZ)
		if next >= 0 {
			spot.end, spot.follows = next, true
		}
		seg.bad = append(seg.bad, spot)
		if next < 0 {
			break
		}
		off = next
	}
}

func hamming(a []byte, b string) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

const whyEnd = "end"

// parseFrame reads the frame at off. why is "" for a valid frame, whyEnd
// where the log ends (zeros to the end of the segment), else the problem.
func parseFrame(b []byte, off int64, version int, lastNZ int64) (f frameScan, why string, n uint32) {
	if off > lastNZ {
		return f, whyEnd, 0
	}
	rest := int64(len(b)) - off
	if rest < frameHeader {
		return f, fmt.Sprintf("%d bytes after the last frame, too few for a frame", rest), 0
	}
	n = binary.LittleEndian.Uint32(b[off:])
	sum := binary.LittleEndian.Uint32(b[off+4:])
	switch {
	case n == 0:
		return f, "a frame of length 0 (the end of the log), but data follows", n
	case int64(n) > rest-frameHeader:
		return f, fmt.Sprintf("a frame of %d bytes runs past the end of the file (%d bytes)", int64(n)+frameHeader, len(b)), n
	}
	body := b[off+frameHeader : off+frameHeader+int64(n)]
	if crc32.Checksum(body, crcTable) != sum {
		return f, fmt.Sprintf("checksum mismatch in a frame of %d bytes", int64(n)+frameHeader), n
	}
	f = frameScan{off: off, size: frameHeader + int64(n), version: version}
	lsn, hw, err := decodeFrame(body, version, func(seq uint64, data []byte) {
		f.recs = append(f.recs, Record{Seq: seq, Data: data})
		f.maxSeq = max(f.maxSeq, seq)
	})
	if err != nil {
		return frameScan{}, fmt.Sprintf("a frame of %d bytes whose checksum matches does not decode: %v", int64(n)+frameHeader, err), n
	}
	if version >= 2 && lsn == 0 {
		return frameScan{}, fmt.Sprintf("a frame of %d bytes whose checksum matches has LSN 0", int64(n)+frameHeader), n
	}
	f.lsn, f.hw = lsn, hw
	return f, "", n
}

// resync returns the offset of the first valid frame at or after from,
// or -1. For a version 2 segment the frame's LSN must come after prevLSN.
func resync(b []byte, from int64, version int, prevLSN uint64, lastNZ int64) int64 {
	size := int64(len(b))
	for p := from; p+frameHeader <= size && p <= lastNZ; p++ {
		n := int64(binary.LittleEndian.Uint32(b[p:]))
		if n == 0 || n > size-p-frameHeader {
			continue
		}
		if version >= 2 {
			if n <= frameMeta {
				continue
			}
			lsn := binary.LittleEndian.Uint64(b[p+frameHeader:])
			if lsn <= prevLSN || lsn-prevLSN > 1<<32 {
				continue
			}
		}
		if _, why, _ := parseFrame(b, p, version, lastNZ); why == "" {
			return p
		}
	}
	return -1
}
