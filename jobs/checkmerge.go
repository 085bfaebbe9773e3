package jobs

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// merge combines drover.db's jobs with the log replayed over them, each
// record checked to decode as the job of its Seq; a record that does not
// is damage. It fills in r's counts, high-water mark and lost jobs.
func (ds *dirScan) merge(r *CheckReport) {
	mg := &recordMerge{ds: ds, r: r, kept: make(map[uint64]keptRec)}
	hw := max(r.Bolt.HighWater, r.Bolt.HighestSeq, r.Log.HighWater, r.Log.HighWaterFile)
	mg.keepBolt()
	mg.replayLog()
	mg.listKept()
	hw = max(hw, r.HighestSeq)
	// What the damage lost.
	for _, d := range r.Damage {
		hw = max(hw, d.NewTo)
		for _, q := range d.Seqs {
			hw = max(hw, q)
		}
	}
	lost, stale, ranges := mg.damageLosses()
	ranges = append(ranges, ds.lostBoltRanges(hw)...)
	for _, d := range r.Damage {
		if d.Kind == DamageBoltFile || d.Kind == DamageBoltMeta {
			if hw > 0 {
				ranges = append(ranges, IDRange{1, hw})
			}
		}
	}
	r.HighWater = hw
	r.Lost.IDs = slices.Sorted(maps.Keys(lost))
	r.Lost.Stale = slices.Sorted(maps.Keys(stale))
	r.Lost.Ranges = subtractKept(ranges, mg.kept, lost)
}

// recordMerge is the state of one merge: the records kept so far, by Seq,
// and each log frame's place in the order written.
type recordMerge struct {
	ds   *dirScan
	r    *CheckReport
	kept map[uint64]keptRec
	rank []int // frame index -> its place in the order written, from 1
}

// bad reports the record of job seq at off in file as damage: it does
// not decode (err).
func (mg *recordMerge) bad(file string, off int64, seq uint64, err error) {
	mg.r.Damage = append(mg.r.Damage, Damage{File: file, Offset: off, Kind: DamageBoltRecord,
		Problem: fmt.Sprintf("job %d does not decode: %v", seq, err), Lost: fmt.Sprintf("job %d", seq),
		Records: 1, Seqs: []uint64{seq}})
}

// validRecord returns why data is not the record of job seq, or nil.
func validRecord(seq uint64, data []byte) error {
	j, err := DecodeRecord(data)
	if err == nil && j.Seq != seq {
		err = fmt.Errorf("%w: it says seq %d", ErrRecord, j.Seq)
	}
	return err
}

// keepBolt keeps drover.db's jobs that decode and, where the tree has
// none that reads, the jobs on pages no sound branch reaches.
func (mg *recordMerge) keepBolt() {
	ds := mg.ds
	for _, e := range ds.boltJobs {
		seq := binary.BigEndian.Uint64(e.key)
		if err := validRecord(seq, e.val); err != nil {
			mg.bad(ds.dbPath, e.off, seq, err)
			continue
		}
		mg.kept[seq] = keptRec{Record{seq, e.val}, 0, 0}
	}
	if ds.orphans != nil {
		for q, o := range ds.orphans.recs {
			if _, ok := mg.kept[q]; !ok {
				mg.kept[q] = keptRec{o.Record, 0, o.kind}
			}
		}
	}
}

// frameOrder returns the indexes of the log's frames in the order
// written: by LSN, older-format frames first (in segment order).
func frameOrder(ls *logScan) []int {
	order := make([]int, len(ls.frames))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		fa, fb := &ls.frames[a], &ls.frames[b]
		if fa.version != fb.version {
			return fa.version - fb.version
		}
		if fa.version < 2 || fa.lsn == fb.lsn {
			return 0
		}
		if fa.lsn < fb.lsn {
			return -1
		}
		return 1
	})
	return order
}

// replayLog applies the log's frames, in the order written, over the
// records kept, and ranks the frames in mg.rank.
func (mg *recordMerge) replayLog() {
	ls := mg.ds.log
	mg.rank = make([]int, len(ls.frames))
	for i, k := range frameOrder(ls) {
		mg.rank[k] = i + 1
		f := &ls.frames[k]
		for _, rec := range f.recs {
			if isTombstone(rec.Data) { // deleted: history or purge
				delete(mg.kept, rec.Seq)
				continue
			}
			if err := validRecord(rec.Seq, rec.Data); err != nil {
				mg.bad(ls.segs[f.seg].path, f.off, rec.Seq, err)
				continue
			}
			mg.kept[rec.Seq] = keptRec{rec, i + 1, 0}
		}
	}
}

// listKept puts the kept records in r, in Seq order, with their count,
// the highest Seq and the jobs kept only in an older page's version.
func (mg *recordMerge) listKept() {
	r := mg.r
	r.kept = make([]keptRec, 0, len(mg.kept))
	for _, k := range slices.Sorted(maps.Keys(mg.kept)) {
		r.kept = append(r.kept, mg.kept[k])
	}
	r.Records = len(r.kept)
	for _, k := range r.kept {
		if k.order == 0 && k.orphan > orphanCutOff {
			r.Lost.MaybeOlder = append(r.Lost.MaybeOlder, k.Seq)
		}
	}
	if n := len(r.Lost.MaybeOlder); n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("jobs kept in the version of a freed page of %s (possibly older than the one lost, or deleted since): %s",
			BoltFile, seqList(r.Lost.MaybeOlder)))
	}
	if n := len(r.kept); n > 0 {
		r.HighestSeq = r.kept[n-1].Seq
	}
}

// damageLosses returns the jobs the damage lost (no version kept), those
// of which only a version older than the damage is kept (stale), and the
// ranges of new Seqs the damage lost.
func (mg *recordMerge) damageLosses() (lost, stale map[uint64]bool, ranges []IDRange) {
	lost, stale = map[uint64]bool{}, map[uint64]bool{}
	for _, d := range mg.r.Damage {
		place := mg.damagePlace(d)
		for _, q := range d.Seqs {
			k, ok := mg.kept[q]
			switch {
			case !ok:
				lost[q] = true
			case k.order < place:
				stale[q] = true
			}
		}
		if d.NewTo > 0 && d.NewTo >= d.NewFrom {
			ranges = append(ranges, IDRange{d.NewFrom, d.NewTo})
		}
	}
	return lost, stale, ranges
}

// damagePlace returns the place of the damage d among the log's frames
// (0 for damage in drover.db): a kept version from a frame after it is
// newer than what it lost.
func (mg *recordMerge) damagePlace(d Damage) int {
	if strings.HasPrefix(d.Kind, "bolt") {
		return 0
	}
	ls := mg.ds.log
	place := len(ls.frames) + 1
	for k := range ls.frames {
		f := &ls.frames[k]
		if ls.segs[f.seg].path == d.File && f.off > d.Offset && mg.rank[k] < place {
			place = mg.rank[k]
		}
	}
	for k := range ls.frames {
		f := &ls.frames[k]
		if d.LSNTo > 0 && f.version >= 2 && f.lsn == d.LSNTo+1 && mg.rank[k] < place {
			place = mg.rank[k]
		}
	}
	return place
}

// lostBoltRanges returns the ranges of Seqs, up to hw, in the parts of
// drover.db's jobs bucket that do not read.
func (ds *dirScan) lostBoltRanges(hw uint64) []IDRange {
	if ds.walk == nil {
		return nil
	}
	var ranges []IDRange
	for _, lr := range ds.walk.lost {
		if lr.bucket != string(jobsBucket) {
			continue
		}
		from, to := uint64(1), hw
		if len(lr.from) >= 8 {
			from = max(1, binary.BigEndian.Uint64(lr.from[:8]))
			if len(lr.from) > 8 {
				from++
			}
		}
		if len(lr.to) == 8 {
			to = min(to, binary.BigEndian.Uint64(lr.to)-1)
		}
		if to >= from {
			ranges = append(ranges, IDRange{from, to})
		}
	}
	return ranges
}

// subtractKept merges ranges and removes from them the IDs kept or listed
// as lost already.
func subtractKept(ranges []IDRange, kept map[uint64]keptRec, lost map[uint64]bool) []IDRange {
	slices.SortFunc(ranges, func(a, b IDRange) int { return cmp.Compare(a.From, b.From) })
	var merged []IDRange
	for _, r := range ranges {
		if n := len(merged); n > 0 && r.From <= merged[n-1].To+1 {
			merged[n-1].To = max(merged[n-1].To, r.To)
			continue
		}
		merged = append(merged, r)
	}
	skip := make([]uint64, 0, len(kept)+len(lost))
	for q := range kept {
		skip = append(skip, q)
	}
	for q := range lost {
		skip = append(skip, q)
	}
	slices.Sort(skip)
	var out []IDRange
	for _, r := range merged {
		from := r.From
		i, _ := slices.BinarySearch(skip, from)
		for ; i < len(skip) && skip[i] <= r.To; i++ {
			if skip[i] > from {
				out = append(out, IDRange{from, skip[i] - 1})
			}
			from = skip[i] + 1
		}
		if from <= r.To {
			out = append(out, IDRange{from, r.To})
		}
	}
	return out
}
