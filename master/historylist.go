package master

import (
	"errors"
	"fmt"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Listings of a master some of whose jobs have left memory (retain): a
// walk of the store's records, over its index where it has one, with the
// copy in memory of each job that has one.

// mayMatch reports whether the stored record data may match q, by its
// head alone (jobs.PeekHead: a twentieth of a decode's cost): false only
// when it cannot.
func (q *jobQuery) mayMatch(data []byte) bool {
	if q.State == "" && q.Type == "" && q.Group == "" {
		return true
	}
	h, ok := jobs.PeekHead(data)
	if !ok {
		return true // the decode says what is wrong
	}
	return (q.State == "" || h.State == q.State) && (q.Type == "" || string(h.Type) == q.Type) &&
		(q.Group == "" || string(h.Group) == q.Group)
}

// pageStored is pageJobs over the store, for a master some of whose
// jobs have left memory (retain): it walks the store's records by Seq
// from q's cursor, without mu, and takes a job's copy in memory (under mu,
// fresher) where there is one, else the stored record. A group filter
// matches there like any other, with a Seq cursor.
func (c *core) pageStored(hs jobs.HistoryStore, q *jobQuery, size func(*jobs.Job) int, budget int,
	take func(*jobs.Job)) (string, error) {
	after, err := storedCursor(q)
	if err != nil {
		return "", err
	}
	if _, ok := q.indexKey(); ok {
		// The store's index is of written records: wait for the changes
		// made so far, or a job that matches in memory (wait_jobs saw it
		// final) would be missing from the walk.
		if err := c.commit.settled().wait(); err != nil {
			return "", fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
		}
	}
	if err := c.gateReads(); err != nil {
		return "", err
	}
	defer c.ungateReads()
	if q.Asc {
		if q.lo != 0 {
			after = max(after, q.lo-1)
		}
	} else if q.hi != 0 && (after == 0 || after > q.hi+1) {
		after = q.hi + 1
	}
	w := storedWalk{core: c, q: q, pg: pager{q: q, size: size, take: take}, budget: budget}
	err = walkStored(hs, q, after, w.record)
	if err == nil && w.derr == nil && !w.more {
		w.flush()
	}
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	case w.derr != nil:
		return "", w.derr
	case !w.more:
		return "", nil
	}
	if q.Group != "" {
		return encodeCursor(cursorStoredGroupJobs, w.lastSeq, groupTag(q.Group)), nil
	}
	return encodeCursor(cursorJobs, w.lastSeq), nil
}

// storedCursor returns the Seq that q's cursor stands at in a walk of the
// store (0: none). A group's listing takes its own cursors only: those
// of its pages read from the store, and those of its walk in memory (the
// group has left memory since: the walk goes on from the same job).
func storedCursor(q *jobQuery) (uint64, error) {
	if q.Cursor == "" {
		return 0, nil
	}
	if q.Group == "" {
		v, err := decodeCursor(cursorJobs, q.Cursor)
		if err != nil {
			return 0, err
		}
		return v[0], nil
	}
	if v, err := decodeCursor(cursorGroupJobs, q.Cursor); err == nil && v[1] > 0 && v[2] == groupTag(q.Group) {
		return v[1], nil
	}
	v, err := decodeCursor(cursorStoredGroupJobs, q.Cursor)
	if err != nil {
		return 0, err
	}
	if v[0] == 0 || v[1] != groupTag(q.Group) {
		return 0, fmt.Errorf("%w: cursor %q does not belong to this group's listing: start again without it", rpcapi.ErrBadRequest, q.Cursor)
	}
	return v[0], nil
}

// storedWalk is pageStored's walk of the store. It goes in chunks: it
// decodes a chunk's records without mu, then visits them under mu taken
// once, each as its copy in memory (the fresher) where there is one.
type storedWalk struct {
	core         *core
	q            *jobQuery
	pg           pager
	budget, seen int
	more         bool   // stopped before the end
	lastSeq      uint64 // the last record visited
	derr         error  // a record that does not decode, of a job not in memory
	chunk        []storedRec
}

// storedRec is a record of a chunk: its job, or nil for one that cannot
// match q.
type storedRec struct {
	seq uint64
	j   *jobs.Job
}

// flush visits the chunk's records under mu; false ends the walk.
func (w *storedWalk) flush() bool {
	w.core.mu.Lock()
	defer w.core.mu.Unlock()
	for _, r := range w.chunk {
		j := r.j
		if mj := w.core.byseq.get(r.seq); mj != nil {
			j = mj
		}
		// j is nil for a record that cannot match, or that did not
		// decode whose job has left memory since.
		if j != nil && !w.pg.offer(j) {
			w.more = true
			return false
		}
		w.lastSeq = r.seq
	}
	w.chunk = w.chunk[:0]
	return true
}

// record takes one record of the walk; false ends it.
func (w *storedWalk) record(seq uint64, data []byte) bool {
	q := w.q
	if (q.lo != 0 && seq < q.lo) || (q.hi != 0 && seq > q.hi) {
		return false // past the group's spans: the end
	}
	if w.seen == w.budget {
		w.flush()
		w.more = true
		return false
	}
	w.seen++
	var j *jobs.Job
	if q.mayMatch(data) {
		var err error
		if j, err = jobs.DecodeRecord(data); err != nil {
			w.core.mu.Lock()
			inMem := w.core.byseq.get(seq) != nil
			w.core.mu.Unlock()
			if !inMem {
				w.derr = fmt.Errorf("%w: stored job seq %d: %v", rpcapi.ErrInternal, seq, err)
				return false
			}
			j = nil
		}
	}
	w.chunk = append(w.chunk, storedRec{seq, j})
	if len(w.chunk) == storedChunk {
		return w.flush()
	}
	return true
}

// walkStored walks the store's records for q from after (exclusive), in
// q's order: over the store's index of q's most selective field where it
// has one (jobs.IndexedHistory), else over every record. The index is of
// stored records: a job in memory whose change to match q is not
// committed yet is missed (pageStored waits for the commit first).
func walkStored(hs jobs.HistoryStore, q *jobQuery, after uint64, fn func(uint64, []byte) bool) error {
	if ix, ok := hs.(jobs.IndexedHistory); ok {
		if k, ok := q.indexKey(); ok {
			if err := ix.WalkIndex(k, after, !q.Asc, fn); !errors.Is(err, jobs.ErrNoIndex) {
				return err
			}
		}
	}
	if q.Asc {
		return hs.Ascend(after, fn)
	}
	return hs.Descend(after, fn)
}

// indexKey returns the store index key of q's most selective field, if
// q has a field the store indexes.
func (q *jobQuery) indexKey() (jobs.IndexKey, bool) {
	switch {
	case q.Group != "":
		return jobs.ByGroup(q.Group), true
	case q.Worker != "":
		return jobs.ByWorker(q.Worker), true
	case q.State.Final() && q.Type != "":
		return jobs.ByStateType(q.State, q.Type), true
	case q.Type != "":
		return jobs.ByType(q.Type), true
	case q.State.Final():
		return jobs.ByState(q.State), true
	}
	return jobs.IndexKey{}, false
}
