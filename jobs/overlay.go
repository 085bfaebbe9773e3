package jobs

import (
	"cmp"
	"container/heap"
	"slices"
)

// The log's records in Seq order, for reads while the store runs. A read
// must merge the records not yet checkpointed (the overlay) with the
// bbolt file's; sorting the whole overlay for each read cost a map and a
// sort of up to a few million records per page. Instead each log source
// (a sealed generation, the current segment) keeps an index made lazily:
// sorted runs of positions in its records, merged as a binary counter
// merges (a run is merged into the one before it when that one is at most
// twice its size), so a record is sorted O(log n) times in all and a read
// merges O(log n) runs.

// run is positions in a source's records, sorted by Seq, one per Seq: the
// newest of the records it was made from.
type run []int32

// logIndex indexes the first n records of one source as runs, oldest
// first: of two runs, the later one's records are the newer.
type logIndex struct {
	runs []run
	n    int
}

// extend returns the index of recs, whose first ix.n records ix indexes.
// ix is not changed (readers share its runs).
func (ix logIndex) extend(recs recList) logIndex {
	if recs.len() <= ix.n {
		return ix
	}
	runs := append(slices.Clip(ix.runs), sortRun(recs, ix.n))
	for k := len(runs); k >= 2 && len(runs[k-2]) <= 2*len(runs[k-1]); k = len(runs) {
		merged := mergeRuns(recs, runs[k-2], runs[k-1])
		runs = append(runs[:k-2:k-2], merged)
	}
	return logIndex{runs: runs, n: recs.len()}
}

// sortRun returns a run of recs[from:].
func sortRun(recs recList, from int) run {
	r := make(run, 0, recs.len()-from)
	for i := from; i < recs.len(); i++ {
		r = append(r, int32(i))
	}
	// Stable, so that of two records of one Seq the later one is last.
	slices.SortStableFunc(r, func(a, b int32) int { return cmp.Compare(recs.at(int(a)).Seq, recs.at(int(b)).Seq) })
	out := r[:0]
	for i, p := range r {
		if i+1 < len(r) && recs.at(int(r[i+1])).Seq == recs.at(int(p)).Seq {
			continue
		}
		out = append(out, p)
	}
	return slices.Clip(out)
}

// mergeRuns merges two runs of recs; newer's record wins a Seq both hold.
func mergeRuns(recs recList, older, newer run) run {
	out := make(run, 0, len(older)+len(newer))
	i, k := 0, 0
	for i < len(older) && k < len(newer) {
		a, b := recs.at(int(older[i])).Seq, recs.at(int(newer[k])).Seq
		switch {
		case a < b:
			out = append(out, older[i])
			i++
		case a > b:
			out = append(out, newer[k])
			k++
		default:
			out = append(out, newer[k])
			i++
			k++
		}
	}
	out = append(out, older[i:]...)
	return append(out, newer[k:]...)
}

// sortedRun is a run with the records it points into.
type sortedRun struct {
	recs recList
	pos  run
}

func (r sortedRun) seq(i int) uint64 { return r.recs.at(int(r.pos[i])).Seq }

// find returns the record of seq in r, if r has one.
func (r sortedRun) find(seq uint64) ([]byte, bool) {
	i, ok := slices.BinarySearchFunc(r.pos, seq, func(p int32, q uint64) int { return cmp.Compare(r.recs.at(int(p)).Seq, q) })
	if !ok {
		return nil, false
	}
	return r.recs.at(int(r.pos[i])).Data, true
}

// logRuns returns the log's records as sorted runs, oldest first, bringing
// the sources' indexes up to date. The sorting happens outside mu; an
// index is kept unless another read kept a fuller one first, or the
// segment was sealed meanwhile (seal hands the index to its generation).
func (s *BoltStore) logRuns() ([]sortedRun, error) {
	type source struct {
		g    *generation // nil: the current segment
		recs recList
		ix   logIndex
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	srcs := make([]source, 0, len(s.frozen)+1)
	for _, g := range s.frozen {
		srcs = append(srcs, source{g, g.recs, g.ix})
	}
	srcs = append(srcs, source{nil, s.mem, s.memIx})
	seg := s.seg
	s.mu.Unlock()

	var runs []sortedRun
	grew := false
	for i := range srcs {
		src := &srcs[i]
		if src.recs.len() > src.ix.n {
			src.ix, grew = src.ix.extend(src.recs), true
		}
		for _, r := range src.ix.runs {
			runs = append(runs, sortedRun{src.recs, r})
		}
	}
	if grew {
		s.mu.Lock()
		for _, src := range srcs {
			switch {
			case src.g != nil:
				if src.g.ix.n < src.ix.n {
					src.g.ix = src.ix
				}
			case s.seg == seg && s.memIx.n < src.ix.n:
				s.memIx = src.ix
			}
		}
		s.mu.Unlock()
	}
	return runs, nil
}

// runMerge walks sorted runs (oldest first) in Seq order, ascending or
// descending, yielding each Seq once with its newest record.
type runMerge struct {
	desc bool
	cur  []runCursor
}

type runCursor struct {
	r    sortedRun
	i    int // the next position, within bounds while in the heap
	rank int // the run's age: the higher, the newer
}

// newRunMerge starts a merge of runs after bound (exclusive) in the walk's
// direction; with desc, bound 0 means from the top.
func newRunMerge(runs []sortedRun, bound uint64, desc bool) *runMerge {
	m := &runMerge{desc: desc}
	for rank, r := range runs {
		i, found := slices.BinarySearchFunc(r.pos, bound, func(p int32, q uint64) int { return cmp.Compare(r.recs.at(int(p)).Seq, q) })
		switch {
		case !desc && found:
			i++
		case desc && bound == 0:
			i = len(r.pos) - 1
		case desc:
			i-- // the last one below bound
		}
		if i >= 0 && i < len(r.pos) {
			m.cur = append(m.cur, runCursor{r, i, rank})
		}
	}
	heap.Init(m)
	return m
}

// peek returns the next Seq, if any.
func (m *runMerge) peek() (uint64, bool) {
	if len(m.cur) == 0 {
		return 0, false
	}
	return m.cur[0].r.seq(m.cur[0].i), true
}

// next returns the next Seq and its newest record and moves past it.
func (m *runMerge) next() (uint64, []byte) {
	top := m.cur[0]
	q := top.r.seq(top.i)
	data := top.r.recs.at(int(top.r.pos[top.i])).Data
	for len(m.cur) > 0 && m.cur[0].r.seq(m.cur[0].i) == q {
		c := &m.cur[0]
		if m.desc {
			c.i--
		} else {
			c.i++
		}
		if c.i < 0 || c.i >= len(c.r.pos) {
			heap.Pop(m)
		} else {
			heap.Fix(m, 0)
		}
	}
	return q, data
}

// heap.Interface: the next Seq in the walk's order first, and of equal
// Seqs the newest run's.
func (m *runMerge) Len() int { return len(m.cur) }
func (m *runMerge) Less(a, b int) bool {
	qa, qb := m.cur[a].r.seq(m.cur[a].i), m.cur[b].r.seq(m.cur[b].i)
	if qa != qb {
		return (qa < qb) != m.desc
	}
	return m.cur[a].rank > m.cur[b].rank
}
func (m *runMerge) Swap(a, b int) { m.cur[a], m.cur[b] = m.cur[b], m.cur[a] }
func (m *runMerge) Push(x any)    { m.cur = append(m.cur, x.(runCursor)) }
func (m *runMerge) Pop() any {
	c := m.cur[len(m.cur)-1]
	m.cur = m.cur[:len(m.cur)-1]
	return c
}
