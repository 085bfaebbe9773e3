package jobs

// Where the log must start: the segment drover.db says the log goes on in
// must be there while the store is open. Without that check the loss of
// the oldest segments shows only as an LSN gap at the first frame left,
// and a log whose segments left hold no frame (the spare made ahead of
// need, after the deleted current segment) showed nothing at all.

import (
	"fmt"
	"path/filepath"
)

// stateOfLog is what drover.db's state st (if ok) and the reservation of
// wal/highwater (reserve; 0 if it does not read) say about the log.
func stateOfLog(st storeState, ok bool, reserve uint64) logState {
	return logState{known: ok, lsn: st.lsn, hw: st.hw, closed: st.closed,
		seg: st.seg, segKnown: ok && st.segKnown, made: st.made, madeKnown: ok && st.madeKnown, reserve: reserve}
}

// startGap returns the damage of the segments missing at the start of
// the log, and the index in ls.segs of the segment it comes before
// (len(ls.segs): after the last), or nil. While the store is open,
// segment st.seg exists: made before drover.db named it, removed only
// after drover.db named the next. Older segments may be left (a crash
// before a checkpoint removed its segment), and are replayed again. A gap
// between two segments left is found by the segments' numbers instead.
func (ls *logScan) startGap(st logState) (int, *Damage) {
	if !st.segKnown || st.closed || len(ls.segs) == 0 {
		return 0, nil // no segment at all is DamageLogMissing
	}
	at := len(ls.segs)
	for i, seg := range ls.segs {
		if seg.num >= st.seg {
			at = i
			break
		}
	}
	if at < len(ls.segs) && (ls.segs[at].num == st.seg || at > 0) {
		return 0, nil // there, or after a gap between two segments left
	}
	from, problem := st.seg, ""
	if at == len(ls.segs) {
		problem = fmt.Sprintf("log segment %s is missing: drover.db (checkpointed through LSN %d) says the log goes on in it, but no segment from it on is left",
			segmentName(from), st.lsn)
	} else {
		to := ls.segs[at].num - 1
		name, which := "log segment "+segmentName(from)+" is", "it"
		if to > from {
			name, which = fmt.Sprintf("log segments %s..%s are", segmentName(from), segmentName(to)), "the first"
		}
		problem = fmt.Sprintf("%s missing: drover.db (checkpointed through LSN %d) says the log goes on in %s, but the log starts at %s (the oldest segments deleted)",
			name, st.lsn, which, segmentName(to+1))
	}
	return at, &Damage{File: filepath.Join(ls.dir, segmentName(from)), Offset: -1, Kind: DamageMissingSegment, Problem: problem}
}

// boundNew bounds the IDs of the jobs first saved in the frames lost
// after the last one that reads, by wal/highwater's reservation, when
// nothing closer does.
func (c *logClassifier) boundNew(d *Damage) {
	if d.NewTo == 0 && c.reserve > c.prevHW {
		d.NewFrom, d.NewTo = c.prevHW+1, c.reserve
	}
}
