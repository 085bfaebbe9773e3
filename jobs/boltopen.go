package jobs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// OpenBoltWith is OpenBolt with options. Before it lets bbolt at
// drover.db it checks the file's pages (bbolt would panic on a damaged
// one, or write over live pages with a damaged free list), then it reads
// the log. A torn tail (the last frame written, cut short by a crash: it
// was never acknowledged) is dropped and reported; any other damage makes
// it return a *CorruptError, wrapping ErrCorrupt, that names the file, the
// offset and what is lost, without changing anything.
func OpenBoltWith(dir string, o BoltOptions) (*BoltStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("jobs: data dir: %w", err)
	}
	op := &boltOpening{dir: dir, logDir: filepath.Join(dir, LogDir)}
	dbPath := filepath.Join(dir, BoltFile)
	hadLog := isDir(op.logDir)
	var hwfErr error
	op.hwf, op.hwfOK, hwfErr = readHighWaterFile(op.logDir)
	if hwfErr != nil {
		op.rec.Notes = append(op.rec.Notes, hwfErr.Error())
	}
	notes, fresh, err := checkBoltFile(dir, op.logDir, dbPath, op.hwf)
	if err != nil {
		return nil, err
	}
	op.rec.Notes = append(op.rec.Notes, notes...)
	op.db, err = openBoltDB(dir) // holds the lock on dir from here on
	if err != nil {
		return nil, err
	}
	s, err := op.open(fresh, hadLog)
	if err != nil {
		op.db.close()
		return nil, err
	}
	s.recovery = op.rec
	logRecovery(o.Logf, op.rec)
	s.startLoops(o.Logf)
	return s, nil
}

// boltOpening is what OpenBoltWith carries from one step to the next once
// drover.db is open: what the log held and what was recovered.
type boltOpening struct {
	dir, logDir string
	db          *boltDB
	rec         Recovery
	hwf         uint64 // the reservation in wal/highwater
	hwfOK       bool   // whether wal/highwater read
	ls          *logScan
	st          storeState // drover.db's state before the replay
	hw, lsn     uint64     // the high-water mark and LSN reached
}

// open makes the log dir, reads the log and replays it into drover.db,
// and returns the store, writing to a new segment. On an error the caller
// closes op.db.
func (op *boltOpening) open(fresh, hadLog bool) (*BoltStore, error) {
	if err := op.makeLogDir(fresh, hadLog); err != nil {
		return nil, err
	}
	if err := op.readLog(); err != nil {
		return nil, err
	}
	ls := op.ls
	s := &BoltStore{db: op.db, logDir: op.logDir, lsn: op.lsn, hw: op.hw,
		kick: make(chan struct{}, 1), stop: make(chan struct{})}
	s.caughtUp.L = &s.mu
	// The new segment comes first, then the replay, then the old segments
	// go, oldest first: at every step the log is a run of segments without
	// a gap and drover.db plus the log hold everything. Its number is the
	// next for the life of the data dir (also after a Close emptied the
	// log), so that the segment drover.db says the log goes on in only
	// grows.
	num := op.st.seg
	if n := len(ls.segs); n > 0 {
		num = max(num, ls.segs[n-1].num+1)
	}
	var err error
	if s.seg, err = createSegment(op.logDir, num, walSegmentSize); err != nil {
		return nil, err
	}
	s.nextNum = num + 1
	if err := op.replayInto(s); err != nil {
		s.seg.f.Close()
		return nil, err
	}
	return s, nil
}

// makeLogDir makes the log dir, syncing the data dir first for a fresh
// drover.db and after for a new log dir.
func (op *boltOpening) makeLogDir(fresh, hadLog bool) error {
	if fresh {
		// drover.db is there before wal/ is: a wal/ beside a missing or
		// empty drover.db means it was lost.
		if err := syncDir(op.dir); err != nil {
			return fmt.Errorf("jobs: data dir: %w", err)
		}
	}
	if err := os.MkdirAll(op.logDir, 0o755); err != nil {
		return fmt.Errorf("jobs: log dir: %w", err)
	}
	if !hadLog {
		if err := syncDir(op.dir); err != nil { // the log dir's entry, before frames go in it
			return fmt.Errorf("jobs: data dir: %w", err)
		}
	}
	return nil
}

// readLog reads the log over drover.db's state into op.ls, fails with a
// *CorruptError on damage, clears a torn tail, and records the high-water
// mark, the LSN and what was found in op.rec.
func (op *boltOpening) readLog() error {
	db := op.db
	st, haveState, err := db.state()
	if err != nil {
		return err
	}
	op.st = st
	ls, err := scanLog(op.logDir, stateOfLog(st, haveState, op.hwf))
	if err != nil {
		return err
	}
	last, err := db.lastSeq()
	if err != nil {
		return err
	}
	hw := max(st.hw, last, op.hwf, ls.hw)
	if len(ls.damage) > 0 {
		return &CorruptError{Dir: op.dir, Damage: ls.damage, HighWater: hw}
	}
	// Leftover temporary files (a segment or wal/highwater a crash left
	// half made) go only now: a dir refused is left as it was.
	removeTemps(op.logDir)
	lsn := max(st.lsn, ls.lsn)
	// A torn tail is cleared before anything is written after it, so that
	// it is never found behind newer frames.
	for _, t := range ls.tornAt {
		if err := clearTorn(t); err != nil {
			return err
		}
	}
	rec := &op.rec
	rec.Torn = ls.torn
	rec.Notes = append(rec.Notes, ls.notes...)
	rec.CleanClose = haveState && st.closed
	for _, seg := range ls.segs {
		if len(seg.frames) > 0 {
			rec.Segments++
		}
	}
	rec.Frames = len(ls.frames)
	rec.HighWater, rec.LSN = hw, lsn
	op.ls, op.hw, op.lsn = ls, hw, lsn
	return nil
}

// replayInto saves the latest record of each job in the log to drover.db,
// with the number of the new segment s writes to as the log's start,
// raises wal/highwater to the high-water mark and removes the old log
// segments, oldest first.
func (op *boltOpening) replayInto(s *BoltStore) error {
	if err := op.db.ensureLive(); err != nil {
		return err
	}
	recs := latestRecords(op.ls.records())
	op.rec.Records = len(recs)
	if err := op.db.save(recs, &storeState{hw: op.hw, lsn: op.lsn, seg: s.seg.num, segKnown: true, made: s.seg.num, madeKnown: true}); err != nil {
		return fmt.Errorf("jobs: replaying the log: %w", err)
	}
	if op.hwfOK {
		s.reserved = op.hwf
	}
	if err := s.raiseHighWaterFile(op.hw); err != nil {
		return err
	}
	for _, seg := range op.ls.segs {
		if err := os.Remove(seg.path); err != nil {
			return fmt.Errorf("jobs: log: %w", err)
		}
		if err := syncDir(op.logDir); err != nil {
			return fmt.Errorf("jobs: log: %w", err)
		}
	}
	return nil
}

// logRecovery tells logf, if set, what OpenBolt recovered from.
func logRecovery(logf func(format string, args ...any), rec Recovery) {
	if logf == nil {
		return
	}
	for _, d := range rec.Torn {
		logf("store: dropped a torn tail (a frame cut short by a crash, never acknowledged): %s", d)
	}
	for _, n := range rec.Notes {
		logf("store: %s", n)
	}
	if rec.Frames > 0 {
		logf("store: replayed %d records from %d log frames in %d segments (high-water mark %d, LSN %d)",
			rec.Records, rec.Frames, rec.Segments, rec.HighWater, rec.LSN)
	}
}

// startLoops starts the checkpointer and, for a drover.db whose history
// index is not whole, the index's build in the background; logf, if set,
// hears why a build failed.
func (s *BoltStore) startLoops(logf func(format string, args ...any)) {
	s.wg.Go(s.checkpointLoop)
	s.signal()
	if !s.db.indexWhole() {
		s.wg.Go(func() {
			err := s.db.buildIndex(s.stop)
			if err != nil && !errors.Is(err, ErrClosed) && logf != nil {
				logf("store: %v; filtered listings read the whole history", err)
			}
		})
	}
}

// checkBoltFile checks drover.db before bbolt opens it. fresh reports a
// file bbolt is to create (missing or empty in a dir never used).
func checkBoltFile(dir, logDir, dbPath string, hw uint64) (notes []string, fresh bool, err error) {
	used := isDir(logDir)
	corrupt := func(d Damage) error { return &CorruptError{Dir: dir, Damage: []Damage{d}, HighWater: hw} }
	fi, err := os.Stat(dbPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if used {
			return nil, false, corrupt(boltFileDamage(dbPath, false, hw))
		}
		return nil, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("jobs: open %s: %w", dbPath, err)
	case !fi.Mode().IsRegular():
		return nil, false, fmt.Errorf("jobs: open %s: not a regular file", dbPath)
	case fi.Size() == 0:
		if used {
			return nil, false, corrupt(boltFileDamage(dbPath, true, hw))
		}
		return nil, true, nil
	}
	ro, err := probeBolt(dbPath)
	if errors.Is(err, errLocked) {
		return nil, false, err
	}
	if ro != nil {
		defer ro.Close()
	}
	bp, dmg, err := openBoltPages(dbPath)
	if err != nil {
		return nil, false, fmt.Errorf("jobs: open %s: %w", dbPath, err)
	}
	defer bp.close()
	if dmg != nil {
		if !used && fi.Size() < 4*int64(os.Getpagesize()) && dmg.Kind == DamageBoltMeta {
			// A crash during bbolt's very first write of a new file, before
			// the log directory was made: it never held anything.
			if err := os.Truncate(dbPath, 0); err != nil {
				return nil, false, fmt.Errorf("jobs: open %s: %w", dbPath, err)
			}
			return []string{fmt.Sprintf("%s was a half-made new file (%d bytes, no valid meta page, no log yet): made anew", dbPath, fi.Size())}, true, nil
		}
		return nil, false, corrupt(*dmg)
	}
	w := walkBolt(bp, nil)
	if len(w.damage) > 0 {
		e := &CorruptError{Dir: dir, Damage: w.damage, HighWater: max(hw, w.maxSeq)}
		if w.stateOK {
			e.HighWater = max(e.HighWater, w.state.hw)
		}
		return nil, false, e
	}
	return bp.notes, false, nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// clearTorn zeroes a torn tail, and syncs it.
func clearTorn(t tornSpot) error {
	path, off := t.seg.path, t.sp.off
	end := min(t.sp.end, t.seg.lastNZ+1)
	if end <= off {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("jobs: log: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, end-off), off); err != nil {
		return fmt.Errorf("jobs: log: clearing the torn tail of %s: %w", path, err)
	}
	if err := fdatasync(f); err != nil {
		return fmt.Errorf("jobs: log: clearing the torn tail of %s: %w", path, err)
	}
	return nil
}
