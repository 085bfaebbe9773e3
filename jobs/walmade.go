package jobs

// Where the log must end: drover.db names the highest segment made
// (storeState.made) before any frame goes in it, so a log that ends
// before that segment lost its newest segments, even when the segments
// left end cleanly. No write on the path of a commit: a segment is
// recorded once, when it is made (by the checkpointer, ahead of need), in
// a transaction of a few bytes.

import (
	"fmt"
	"path/filepath"
)

// recordMade raises the highest segment made that drover.db names to
// num, once segment num is made (durably) and before any frame is written
// in it. A failure is not returned: drover.db then fails the checkpoints
// too, which Save reports when they fall behind; until it takes writes
// again, a deleted segment made meanwhile is not found by its number.
func (s *BoltStore) recordMade(num uint64) {
	s.db.save(nil, &storeState{made: num, madeKnown: true})
}

// endGap returns the damage of the segments missing at the end of the
// log, or nil: while the store is open, every segment from the one the
// log goes on in (st.seg) to the highest made (st.made) exists. Missing
// segments before st.seg, or no segment at all, are startGap's and
// DamageLogMissing's.
func (ls *logScan) endGap(st logState) *Damage {
	if !st.segKnown || !st.madeKnown || st.closed || len(ls.segs) == 0 {
		return nil
	}
	last := ls.segs[len(ls.segs)-1].num
	if last < st.seg || last >= st.made {
		return nil
	}
	from, to := last+1, st.made
	name := "log segment " + segmentName(from) + " is"
	if to > from {
		name = fmt.Sprintf("log segments %s..%s are", segmentName(from), segmentName(to))
	}
	problem := fmt.Sprintf("%s missing: drover.db says segments up to %s were made, but the log ends at %s (the newest segments deleted)",
		name, segmentName(to), segmentName(last))
	return &Damage{File: filepath.Join(ls.dir, segmentName(from)), Offset: -1, Kind: DamageMissingSegment,
		Problem: problem, ifAny: true}
}
