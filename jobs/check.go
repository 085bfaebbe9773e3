package jobs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// CheckReport is what CheckDataDir found in a data dir.
type CheckReport struct {
	Dir  string     `json:"dir"`
	Bolt BoltReport `json:"bolt"`
	Log  LogReport  `json:"log"`
	// Records is the number of jobs a master would load (drover.db with
	// the log replayed over it, what reads of both); HighestSeq the
	// highest of their Seqs.
	Records    int    `json:"records"`
	HighestSeq uint64 `json:"highest_seq"`
	// HighWater is at or above every Seq the data dir ever saved: the
	// highest of any record, frame and drover.db's state, and of the
	// reservation in wal/highwater (after a crash it is above the highest
	// Seq saved, so that Seqs of lost frames are covered): a master
	// numbers new jobs above it.
	HighWater uint64 `json:"high_water"`
	// Closed is "closed" when the store was closed cleanly (Close ran:
	// nothing to replay), "open" when it was not (a crash, or a master is
	// running), "unknown" for a data dir written before drover kept it,
	// "unreadable" when drover.db, or the part of it that held the state,
	// is missing or damaged.
	Closed string `json:"store_state"`
	// CleanStopMark is set when the master's clean-stop mark is in
	// drover.db (the master then starts without the recovery grace).
	CleanStopMark bool `json:"clean_stop_mark"`
	// Damage is every damaged or missing part: the data dir is sound
	// without any. Torn is a torn tail, which is not damage: a master
	// drops it at start.
	Damage []Damage `json:"damage,omitempty"`
	Torn   []Damage `json:"torn_tail,omitempty"`
	Notes  []string `json:"notes,omitempty"`
	// Lost is what the damage lost, as far as it can tell.
	Lost LostJobs `json:"lost"`

	kept []keptRec // the jobs that read, in Seq order
}

// Sound reports whether the data dir has no damage (a torn tail is no
// damage).
func (r *CheckReport) Sound() bool { return len(r.Damage) == 0 }

// BoltReport describes drover.db.
type BoltReport struct {
	Path       string `json:"path"`
	Exists     bool   `json:"exists"`
	Size       int64  `json:"size"`
	PageSize   int64  `json:"page_size,omitempty"`
	Pages      uint64 `json:"pages,omitempty"`
	FreePages  int    `json:"free_pages,omitempty"`
	Leaked     int    `json:"leaked_pages,omitempty"`
	TxID       uint64 `json:"txid,omitempty"`
	MetaPage   int    `json:"meta_page"`
	Records    int    `json:"records"`
	HighestSeq uint64 `json:"highest_seq"`
	// HighWater and LSN are from the store's state record.
	HighWater uint64         `json:"high_water"`
	LSN       uint64         `json:"lsn"`
	Buckets   map[string]int `json:"buckets,omitempty"`
	// Orphans is the number of jobs read from leaf pages of the jobs
	// bucket that no sound branch reaches (see orphan.go), for the key
	// ranges damaged pages held; OrphanPages the number of those pages.
	Orphans     int `json:"orphan_records,omitempty"`
	OrphanPages int `json:"orphan_pages,omitempty"`
	// Checked is set when bbolt's own consistency check (Tx.Check) ran:
	// only on a file whose pages passed ours.
	Checked bool `json:"bbolt_check_ran"`
}

// LogReport describes the write-ahead log.
type LogReport struct {
	Dir      string          `json:"dir"`
	Segments []SegmentReport `json:"segments"`
	Frames   int             `json:"frames"`
	Records  int             `json:"records"`
	FirstLSN uint64          `json:"first_lsn,omitempty"`
	LastLSN  uint64          `json:"last_lsn,omitempty"`
	// HighWater is the highest Seq or high-water mark of its frames.
	HighWater uint64 `json:"high_water"`
	// HighWaterFile is what wal/highwater holds (HighWaterFileOK: it
	// exists and reads): a reservation at or above every Seq saved,
	// written before the frame that first holds a Seq above it; after a
	// clean Close, the high-water mark itself.
	HighWaterFile   uint64 `json:"high_water_file"`
	HighWaterFileOK bool   `json:"high_water_file_ok"`
}

// SegmentReport describes one log segment.
type SegmentReport struct {
	Path     string `json:"path"`
	Num      uint64 `json:"num"`
	Size     int64  `json:"size"`
	Format   int    `json:"format"`
	Frames   int    `json:"frames"`
	Records  int    `json:"records"`
	FirstLSN uint64 `json:"first_lsn,omitempty"`
	LastLSN  uint64 `json:"last_lsn,omitempty"`
	MaxSeq   uint64 `json:"max_seq,omitempty"`
	// End is the offset just past its last valid frame.
	End int64 `json:"end"`
}

// LostJobs says which jobs a damaged data dir lost, as far as it can tell.
type LostJobs struct {
	// IDs are jobs known to have been saved of which no version reads.
	IDs []uint64 `json:"ids,omitempty"`
	// Stale are jobs of which a version reads, but a later one was in a
	// damaged part: they come back as they were before it.
	Stale []uint64 `json:"stale,omitempty"`
	// MaybeOlder are jobs kept in the version of a freed page of
	// drover.db (the page that held their last version is damaged or cut
	// off): it may be older than the one lost, or the job may have been
	// deleted since.
	MaybeOlder []uint64 `json:"maybe_older,omitempty"`
	// Ranges are ranges of IDs that damaged parts may have held (a
	// damaged bbolt page's key range; the new jobs of lost log frames),
	// less the IDs kept.
	Ranges []IDRange `json:"ranges,omitempty"`
}

// IDRange is the job IDs From..To, both included.
type IDRange struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

func (r IDRange) String() string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d..%d", r.From, r.To)
}

// IDRanges returns ids, which must be sorted, as their runs of
// consecutive IDs, in order: [1 2 3 7] is 1..3 and 7.
func IDRanges(ids []uint64) []IDRange {
	var rs []IDRange
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		rs = append(rs, IDRange{ids[i], ids[j]})
		i = j + 1
	}
	return rs
}

// keptRec is a record that reads, with where it came from.
type keptRec struct {
	Record
	order  int // 0: drover.db; i+1: the log's i-th valid frame
	orphan int // for drover.db: 0, the tree; else the kind of orphan page (orphanCutOff, ...)
}

// dirScan is everything read from a data dir, for CheckDataDir and
// Salvage.
type dirScan struct {
	dir, dbPath, logDir string
	used                bool
	ro                  *bolt.DB
	bp                  *boltPages
	walk                *boltWalk
	boltJobs            []boltEntry            // the jobs bucket's entries that read, in Seq order
	other               map[string][]boltEntry // other buckets' entries
	log                 *logScan
	state               logState
	cleanStop           bool
	orphans             *orphanScan // jobs on pages no sound branch reaches, if drover.db's tree is damaged
}

func (ds *dirScan) close() {
	if ds.bp != nil {
		ds.bp.close()
	}
	if ds.ro != nil {
		ds.ro.Close()
	}
}

// masterBucket and cleanStopKey are where a master keeps its clean-stop
// mark (package master), read here only to report it.
const (
	masterMetaBucket = "meta/master"
	cleanStopKey     = "clean_stop"
)

// scanDir reads the data dir dir without changing anything. It holds a
// shared lock on drover.db (when bbolt can open it) until close, and
// fails if a master holds it.
func scanDir(dir string, r *CheckReport) (*dirScan, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("jobs: data dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("jobs: data dir %s: not a directory", dir)
	}
	ds := &dirScan{dir: dir, dbPath: filepath.Join(dir, BoltFile), logDir: filepath.Join(dir, LogDir),
		other: make(map[string][]boltEntry)}
	if fi, err := os.Stat(ds.logDir); err == nil && fi.IsDir() {
		ds.used = true
	}
	r.Dir = dir
	r.Closed = "unknown"
	r.Bolt.Path = ds.dbPath
	r.Log.Dir = ds.logDir
	unreadable, err := ds.scanBolt(r)
	if err != nil {
		return nil, err
	}
	ds.reportClosed(r, unreadable)
	if err := ds.scanLogDir(r); err != nil {
		ds.close()
		return nil, err
	}
	return ds, nil
}

// scanBolt reads drover.db, if there is one, into ds and r, and reports
// whether it is unreadable: the store's state may be in a part of it that
// does not read. On an error ds is closed.
func (ds *dirScan) scanBolt(r *CheckReport) (unreadable bool, err error) {
	dbi, err := os.Stat(ds.dbPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if !ds.used {
			return false, fmt.Errorf("jobs: %s is not a drover data dir: it has neither %s nor %s", ds.dir, BoltFile, LogDir)
		}
		r.Damage = append(r.Damage, boltFileDamage(ds.dbPath, false, ds.reservation()))
		return true, nil
	case err != nil:
		return false, fmt.Errorf("jobs: %w", err)
	case dbi.Size() == 0:
		r.Bolt.Exists = true
		if ds.used {
			r.Damage = append(r.Damage, boltFileDamage(ds.dbPath, true, ds.reservation()))
			return true, nil
		}
		return false, nil
	}
	r.Bolt.Exists, r.Bolt.Size = true, dbi.Size()
	ds.ro, err = probeBolt(ds.dbPath)
	if errors.Is(err, errLocked) {
		return false, err
	}
	if err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("bbolt cannot open %s: %v", ds.dbPath, err))
	}
	bp, dmg, err := openBoltPages(ds.dbPath)
	if err != nil {
		ds.close()
		return false, fmt.Errorf("jobs: %s: %w", ds.dbPath, err)
	}
	ds.bp = bp
	r.Notes = append(r.Notes, bp.notes...)
	r.Bolt.PageSize = bp.ps
	if dmg != nil {
		r.Damage = append(r.Damage, *dmg)
		return true, nil
	}
	r.Bolt.Pages, r.Bolt.TxID, r.Bolt.MetaPage = bp.meta.pgid, bp.meta.txid, bp.used
	unreadable = ds.walkBoltFile(r)
	if len(ds.walk.damage) == 0 && ds.ro != nil {
		ds.boltCheck(r)
	}
	return unreadable, nil
}

// boltFileDamage is the damage of a drover.db that is missing, or empty,
// in a data dir that has been used, as OpenBolt and CheckDataDir both
// say it; hw is wal/highwater's reservation (0 if it does not read).
func boltFileDamage(path string, empty bool, hw uint64) Damage {
	d := Damage{File: path, Offset: -1, Kind: DamageBoltFile,
		Problem: "is missing, but the data dir has been used (it has a wal/ directory)", Lost: "every job checkpointed into it"}
	if empty {
		d.Offset, d.Problem = 0, "is empty (0 bytes), but the data dir has been used (it has a wal/ directory)"
	}
	if hw > 0 {
		d.Lost += fmt.Sprintf(" (job IDs up to %d may have been handed out)", hw)
	}
	return d
}

// reservation returns wal/highwater's reservation, 0 if it does not
// read.
func (ds *dirScan) reservation() uint64 {
	hw, _, _ := readHighWaterFile(ds.logDir)
	return hw
}

// walkBoltFile walks drover.db's tree and its orphan pages into ds and
// reports what it found in r. It reports whether a part that may hold the
// store's state does not read.
func (ds *dirScan) walkBoltFile(r *CheckReport) (unreadable bool) {
	ds.walk = walkBolt(ds.bp, func(e boltEntry) {
		if e.bucket == string(jobsBucket) {
			ds.boltJobs = append(ds.boltJobs, e)
			return
		}
		ds.other[e.bucket] = append(ds.other[e.bucket], e)
		if e.bucket == masterMetaBucket && string(e.key) == cleanStopKey {
			ds.cleanStop = true
		}
	})
	w := ds.walk
	for _, lr := range w.lost {
		unreadable = unreadable || lr.bucket == "" || lr.bucket == string(storeBucket)
	}
	ds.readOrphans()
	if o := ds.orphans; o != nil && o.pages > 0 {
		r.Bolt.Orphans, r.Bolt.OrphanPages = len(o.recs), o.pages
		r.Notes = append(r.Notes, o.note(ds.dbPath))
	}
	r.Damage = append(r.Damage, w.damage...)
	r.Bolt.FreePages, r.Bolt.Leaked, r.Bolt.Buckets = w.free, w.leaked, w.buckets
	r.Bolt.Records, r.Bolt.HighestSeq = w.records, w.maxSeq
	if w.stateOK {
		ds.state = stateOfLog(*w.state, true, 0)
		r.Bolt.HighWater, r.Bolt.LSN = w.state.hw, w.state.lsn
	}
	switch {
	case w.leaked > 0 && ds.orphans != nil && ds.orphans.cutOff > 0:
		r.Notes = append(r.Notes, fmt.Sprintf("%s: %d pages are neither in use nor free: %d of them are leaf pages of jobs cut off from the tree by the damage, read as said above",
			ds.dbPath, w.leaked, ds.orphans.cutOff))
	case w.leaked > 0 && len(w.damage) > 0:
		r.Notes = append(r.Notes, fmt.Sprintf("%s: %d pages are neither in use nor free (none of them holds a job record that reads)", ds.dbPath, w.leaked))
	case w.leaked > 0:
		r.Notes = append(r.Notes, fmt.Sprintf("%s: %d pages are neither in use nor free (space lost, no data)", ds.dbPath, w.leaked))
	}
	return unreadable
}

// boltCheck adds what bbolt's own check finds in drover.db to r's damage,
// but the unreachable pages walkBoltFile counted already.
func (ds *dirScan) boltCheck(r *CheckReport) {
	r.Bolt.Checked = true
	ds.ro.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			msg := err.Error()
			if strings.Contains(msg, "unreachable unfreed") {
				continue // counted above
			}
			d := Damage{File: ds.dbPath, Offset: -1, Kind: DamageBoltPage, Problem: "bbolt's check: " + msg,
				Lost: "unknown"}
			var id uint64
			if _, err := fmt.Sscanf(msg, "page %d", &id); err == nil {
				d.Offset = int64(id) * ds.bp.ps
			}
			r.Damage = append(r.Damage, d)
		}
		return nil
	})
}

// reportClosed reports in r whether the store was closed cleanly, as far
// as drover.db tells.
func (ds *dirScan) reportClosed(r *CheckReport, unreadable bool) {
	switch {
	case !ds.state.known && unreadable:
		r.Closed = "unreadable"
		r.Notes = append(r.Notes, fmt.Sprintf("whether the store was closed cleanly is not known: its state is kept in %s, which does not read", ds.dbPath))
	case !ds.state.known:
	case ds.state.closed:
		r.Closed = "closed"
	default:
		r.Closed = "open"
	}
	r.CleanStopMark = ds.cleanStop
}

// scanLogDir reads the high-water file and the log's segments into ds
// and reports them in r.
func (ds *dirScan) scanLogDir(r *CheckReport) error {
	hwf, ok, err := readHighWaterFile(ds.logDir)
	if err != nil {
		r.Notes = append(r.Notes, err.Error())
	}
	r.Log.HighWaterFile, r.Log.HighWaterFileOK = hwf, ok
	st := ds.state
	if ok {
		st.reserve = hwf
	}
	ds.log, err = scanLog(ds.logDir, st)
	if err != nil {
		return err
	}
	ls := ds.log
	r.Damage = append(r.Damage, ls.damage...)
	r.Torn = ls.torn
	r.Notes = append(r.Notes, ls.notes...)
	for _, seg := range ls.segs {
		sr := ls.segmentReport(seg)
		r.Log.Segments = append(r.Log.Segments, sr)
		r.Log.Frames += sr.Frames
		r.Log.Records += sr.Records
		if r.Log.FirstLSN == 0 {
			r.Log.FirstLSN = sr.FirstLSN
		}
		r.Log.LastLSN = max(r.Log.LastLSN, sr.LastLSN)
	}
	r.Log.HighWater = ls.hw
	if ds.state.known && ds.state.closed && r.Log.Frames > 0 {
		r.Notes = append(r.Notes, "the store was closed, but log frames are left (a crash while the last checkpoint's segment was being removed): they are replayed again, which is harmless")
	}
	return nil
}

// segmentReport sums up the valid frames of one log segment.
func (ls *logScan) segmentReport(seg *segScan) SegmentReport {
	sr := SegmentReport{Path: seg.path, Num: seg.num, Size: int64(len(seg.data)), Format: seg.version, End: int64(walHeaderSize)}
	for _, k := range seg.frames {
		f := ls.frames[k]
		sr.Frames++
		sr.Records += len(f.recs)
		if sr.FirstLSN == 0 {
			sr.FirstLSN = f.lsn
		}
		sr.LastLSN, sr.MaxSeq, sr.End = f.lsn, max(sr.MaxSeq, f.maxSeq), f.off+f.size
	}
	return sr
}

// CheckDataDir reports what the data dir dir holds and everything
// damaged in it: drover.db's pages (and bbolt's own check of them), every
// log segment's frames, the high-water marks. It changes nothing, and
// refuses (an error) a data dir a running master holds. The error is for
// a check that could not run; damage is in the report (see Sound).
func CheckDataDir(dir string) (*CheckReport, error) {
	r := &CheckReport{}
	ds, err := scanDir(dir, r)
	if err != nil {
		return nil, err
	}
	defer ds.close()
	ds.merge(r)
	return r, nil
}
