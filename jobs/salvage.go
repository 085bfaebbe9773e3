package jobs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// SalvageReport is what Salvage kept and what it could not.
type SalvageReport struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Kept is the number of jobs written to To: FromBolt of them as
	// drover.db held them, FromLog from a log frame.
	Kept     int `json:"kept"`
	FromBolt int `json:"from_bolt"`
	FromLog  int `json:"from_log"`
	// Meta is the number of other entries (schedules, groups, the
	// master's marks) copied.
	Meta int `json:"meta_entries"`
	// HighWater is the high-water mark written to To: a master numbers
	// new jobs above it, so that the IDs of lost jobs are not used again.
	HighWater uint64 `json:"high_water"`
	// Lost is what could not be kept, as far as it can tell.
	Lost LostJobs `json:"lost"`
	// Skipped are the byte ranges of From that were skipped.
	Skipped []Skipped `json:"skipped,omitempty"`
	// Damage is the damage found in From (as CheckDataDir reports it);
	// Torn a torn tail, dropped.
	Damage []Damage `json:"damage,omitempty"`
	Torn   []Damage `json:"torn_tail,omitempty"`
	Notes  []string `json:"notes,omitempty"`
}

// Complete reports whether nothing was lost: From had no damage.
func (r *SalvageReport) Complete() bool { return len(r.Damage) == 0 }

// Skipped is a byte range of a file that Salvage could not read.
type Skipped struct {
	File string `json:"file"`
	From int64  `json:"from"` // -1: the whole file
	To   int64  `json:"to"`   // exclusive
	Why  string `json:"why"`
}

// Salvage copies every record of the data dir src that reads into a new
// data dir dst: drover.db's records on every page that reads, then every
// valid frame of every log segment (a later frame's record of a Seq
// replacing an earlier one), each checked to decode as a job, written in
// Seq order; drover.db's other buckets (schedules, groups) as they read;
// and the high-water mark, at least the highest Seq src shows was ever
// saved, so that the IDs of lost jobs are not handed out again. dst must
// not exist or be empty; src is only read, under a shared lock (Salvage
// fails if a master holds it). The report lists the jobs it could not
// keep, where it can tell, and the byte ranges it skipped. dst is checked
// with CheckDataDir before Salvage returns.
func Salvage(src, dst string) (*SalvageReport, error) {
	if err := checkSalvageDst(src, dst); err != nil {
		return nil, err
	}
	r := &CheckReport{}
	ds, err := scanDir(src, r)
	if err != nil {
		return nil, err
	}
	defer ds.close()
	ds.merge(r)
	rep := newSalvageReport(src, dst, ds, r)
	if err := writeSalvagedDB(dst, ds, r, rep); err != nil {
		return nil, err
	}
	if err := makeSalvagedLog(dst, r.HighWater); err != nil {
		return nil, err
	}
	if err := checkSalvaged(dst, rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// newSalvageReport reports what the scan ds of src (checked in r) found
// and what salvage keeps of it in dst.
func newSalvageReport(src, dst string, ds *dirScan, r *CheckReport) *SalvageReport {
	rep := &SalvageReport{From: src, To: dst, Kept: len(r.kept), HighWater: r.HighWater,
		Lost: r.Lost, Damage: r.Damage, Torn: r.Torn, Notes: r.Notes}
	for _, k := range r.kept {
		if k.order == 0 {
			rep.FromBolt++
		} else {
			rep.FromLog++
		}
	}
	rep.Skipped = skippedRanges(ds, r)
	return rep
}

// writeSalvagedDB writes dst's drover.db: the jobs kept, closed at the
// high-water mark, and the other buckets that read (rep.Meta counts
// their entries).
func writeSalvagedDB(dst string, ds *dirScan, r *CheckReport, rep *SalvageReport) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("jobs: salvage: %w", err)
	}
	db, err := openBoltDB(dst)
	if err != nil {
		return fmt.Errorf("jobs: salvage: %w", err)
	}
	if err := saveKept(db, r); err != nil {
		db.close()
		return fmt.Errorf("jobs: salvage: writing %s: %w", db.path, err)
	}
	rep.Meta, err = copyMetaBuckets(db, ds)
	if cerr := db.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("jobs: salvage: writing %s: %w", db.path, err)
	}
	return nil
}

// saveKept saves the jobs kept in r to db, in transactions of 50,000
// (one at least, which writes the state).
func saveKept(db *boltDB, r *CheckReport) error {
	const chunk = 50000
	for i := 0; i < len(r.kept) || i == 0; i += chunk {
		batch := make([]Record, 0, min(chunk, len(r.kept)-i))
		for _, k := range r.kept[i:min(i+chunk, len(r.kept))] {
			batch = append(batch, k.Record)
		}
		if err := db.save(batch, &storeState{hw: r.HighWater, closed: true}); err != nil {
			return err
		}
	}
	return nil
}

// copyMetaBuckets copies the entries that read of ds's buckets other than
// the jobs, the store's state and the indexes into db, and returns how
// many it copied.
func copyMetaBuckets(db *boltDB, ds *dirScan) (int, error) {
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range ds.other {
			if !yield(name) {
				return
			}
		}
	})
	n := 0
	err := db.db.Update(func(tx *bolt.Tx) error {
		for _, name := range names {
			// save keeps the live index; the history index is built anew
			// when the salvaged store opens.
			if name == string(storeBucket) || name == string(liveBucket) || name == string(indexBucket) || name == "" {
				continue
			}
			b, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			for _, e := range ds.other[name] {
				if err := b.Put(e.key, e.val); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// makeSalvagedLog makes dst's empty log dir with the high-water mark hw
// in wal/highwater, syncing dst before and after.
func makeSalvagedLog(dst string, hw uint64) error {
	logDir := filepath.Join(dst, LogDir)
	if err := syncDir(dst); err != nil {
		return fmt.Errorf("jobs: salvage: %w", err)
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("jobs: salvage: %w", err)
	}
	if err := writeHighWaterFile(logDir, hw); err != nil {
		return fmt.Errorf("jobs: salvage: %w", err)
	}
	if err := syncDir(dst); err != nil {
		return fmt.Errorf("jobs: salvage: %w", err)
	}
	return nil
}

// checkSalvaged checks dst as CheckDataDir does: sound, with the jobs
// and the high-water mark rep says were written.
func checkSalvaged(dst string, rep *SalvageReport) error {
	chk, err := CheckDataDir(dst)
	switch {
	case err != nil:
		return fmt.Errorf("jobs: salvage: checking %s: %w", dst, err)
	case !chk.Sound():
		return fmt.Errorf("jobs: salvage: %s is damaged after writing it: %s", dst, chk.Damage[0])
	case chk.Records != rep.Kept || chk.HighWater < rep.HighWater:
		return fmt.Errorf("jobs: salvage: %s holds %d jobs (high-water mark %d), not the %d written (high-water mark %d)",
			dst, chk.Records, chk.HighWater, rep.Kept, rep.HighWater)
	}
	return nil
}

// checkSalvageDst refuses a dst that is not new, or is src or inside it.
func checkSalvageDst(src, dst string) error {
	as, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	ad, err := filepath.Abs(dst)
	if err != nil {
		return err
	}
	if ad == as || strings.HasPrefix(ad, as+string(filepath.Separator)) {
		return fmt.Errorf("jobs: salvage: %s is %s or inside it: salvage into a new dir elsewhere", dst, src)
	}
	ents, err := os.ReadDir(dst)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("jobs: salvage: %w", err)
	case len(ents) > 0:
		return fmt.Errorf("jobs: salvage: %s is not empty: salvage into a new dir", dst)
	}
	return nil
}

// skippedRanges lists the byte ranges of the damage.
func skippedRanges(ds *dirScan, r *CheckReport) []Skipped {
	var out []Skipped
	add := func(d Damage, why string) {
		s := Skipped{File: d.File, From: d.Offset, To: d.End, Why: why}
		switch {
		case d.Offset < 0:
			s.To = -1
		case d.End > 0:
		case strings.HasPrefix(d.Kind, "bolt") && ds.bp != nil && d.Kind != DamageBoltFile && d.Kind != DamageBoltMeta:
			// The rest of the page.
			s.To = (d.Offset/ds.bp.ps + 1) * ds.bp.ps
		default:
			if fi, err := os.Stat(d.File); err == nil {
				s.To = fi.Size()
			}
		}
		if ds.log != nil {
			for _, seg := range ds.log.segs {
				if seg.path != d.File {
					continue
				}
				for i := range seg.bad {
					if sp := &seg.bad[i]; sp.off == d.Offset {
						s.To = skipEnd(seg, sp)
					}
				}
			}
		}
		out = append(out, s)
	}
	for _, d := range r.Damage {
		switch d.Kind {
		case DamageLogGap, DamageMissingSegment, DamageLogMissing:
			continue // nothing there to skip
		case DamageBoltFile, DamageBoltMeta:
			d.Offset = -1
		case DamageBadSegment:
			if d.Offset == 0 {
				d.End = int64(walHeaderSize) // its frames were read
			}
		}
		add(d, d.Problem)
	}
	for _, d := range r.Torn {
		add(d, d.Problem)
	}
	return out
}
