package master

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// History: jobs that left memory (retain.go) are read from the store, one
// record at a time, without the master's lock.

// fromHistory returns the job with the given ID as the store keeps it, or
// nil when the store has no such job (or cannot read single records). It
// must be called without mu: it reads the disk.
func (c *core) fromHistory(id string) (*jobs.Job, error) {
	hs, ok := c.store.(jobs.HistoryStore)
	if !ok {
		return nil, nil
	}
	seq, err := strconv.ParseUint(id, 10, 64)
	if err != nil || seq == 0 || strconv.FormatUint(seq, 10) != id {
		return nil, nil
	}
	data, err := hs.Get(seq)
	if err != nil {
		return nil, fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	if data == nil {
		return nil, nil
	}
	j, err := jobs.DecodeRecord(data)
	if err != nil {
		return nil, fmt.Errorf("%w: job %s: stored record: %v", rpcapi.ErrInternal, id, err)
	}
	return j, nil
}

// findJob returns a copy of the job with the given ID, from memory or
// from history, and whether it came from memory (only a job in memory can
// be waiting). It takes mu itself.
func (c *core) findJob(id string) (j *jobs.Job, live bool, err error) {
	c.mu.Lock()
	if mj := c.job(id); mj != nil {
		j = mj.Clone()
	}
	c.mu.Unlock()
	if j != nil {
		return j, true, nil
	}
	j, err = c.fromHistory(id)
	if err == nil && j == nil {
		err = c.notFound(id)
	}
	return j, false, err
}

// readmit brings the final job j, read from history, back into memory (a
// retry of a job that had left it). It returns the job now in memory:
// j, or the one another call brought back first. The caller holds mu.
func (c *core) readmit(j *jobs.Job) *jobs.Job {
	if cur := c.job(j.ID); cur != nil {
		return cur
	}
	c.insert(j)
	c.counts.add(j.State, -1) // counted already, as a job in the store
	c.ret.finished(j)
	// Its group left memory with it, after its on_done ran: insert
	// marked it so (groupBack), unless its entry was lost.
	if g := j.Spec.Group; g != "" && c.hooks != nil && len(c.groups[g]) == 1 && !c.hooks.fired[g] {
		c.hooks.fired[g] = true
		c.ret.groupClosed(g, j.Updated)
	}
	return j
}

// historyEvery is how often the master deletes finished jobs past
// history; historyCheck how often it looks whether the finished jobs are
// more than HistoryJobs by a tenth (at least historyBatch), and sweeps
// then without waiting: a fleet that finishes thousands of jobs a second
// would otherwise pile a minute of them onto the disk between sweeps.
var (
	historyEvery = time.Minute
	historyCheck = time.Second
)

var jobsFileKeyBytes = []byte(jobsFileKeyPrefix)

// historyBatch bounds the records one delete commits.
const historyBatch = 10000

// historyLoop deletes finished jobs from the store once they are older
// than History, or beyond HistoryJobs.
func (c *core) historyLoop() {
	select { // the counts it goes by are whole once the store is loaded
	case <-c.ready:
	case <-c.failed:
		return
	case <-c.ctx.Done():
		return
	}
	check, stop := c.clock.Ticker(historyCheck)
	defer stop()
	last := time.Time{}
	// early is false after a sweep for being over HistoryJobs deleted
	// nothing (the jobs over it are in memory or from a jobs file): the
	// next waits for historyEvery.
	early := true
	for {
		now := c.now()
		due := now.Sub(last) >= historyEvery
		if due || (early && c.historyOver()) {
			last = now
			n, err := c.sweepHistory(now)
			switch {
			case err != nil:
				c.log.WithError(err).Warn("history: finished jobs not deleted; will retry")
			case n > 0:
				c.log.WithField("jobs", n).Info("history: finished jobs deleted from the store")
			}
			early = due || n > 0
		}
		select {
		case <-c.ctx.Done():
			return
		case <-check:
		}
	}
}

// historyOver reports whether the finished jobs exceed HistoryJobs by
// enough to sweep before the next historyEvery.
func (c *core) historyOver() bool {
	if _, ok := c.store.(jobs.HistoryStore); !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	over := c.counts.of(jobs.Succeeded) + c.counts.of(jobs.Failed) + c.counts.of(jobs.Cancelled) - c.cfg.HistoryJobs
	return over >= max(c.cfg.HistoryJobs/10, historyBatch)
}

// sweepHistory deletes from the store the finished jobs that finished
// before now - History, and beyond HistoryJobs the ones that finished
// first (a job retried after it left memory counts from its last finish),
// in Seq order. Once under HistoryJobs it stops at the first finished job
// that must stay (so a young job with an old Seq holds back older ones
// after it until it is due itself). Jobs in memory, and jobs from a jobs
// file, stay. It returns how many jobs it deleted.
func (c *core) sweepHistory(now time.Time) (int, error) {
	hs, ok := c.store.(jobs.HistoryStore)
	if !ok {
		return 0, nil
	}
	cutoff := now.Add(-c.cfg.History)
	keep := c.lastFires()
	sweepable := func(h *jobs.RecordHead) bool {
		return h.State.Final() && !bytes.HasPrefix(h.Key, jobsFileKeyBytes) && !keep[string(h.Key)]
	}
	overNow := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.counts.of(jobs.Succeeded) + c.counts.of(jobs.Failed) + c.counts.of(jobs.Cancelled) - c.cfg.HistoryJobs
	}
	var first finishedFirst
	if over := overNow(); over > 0 {
		var err error
		if first, err = firstFinished(hs, over, sweepable); err != nil {
			return 0, err
		}
	}
	b := newStoredBatch()
	for after := uint64(0); ; {
		if c.ctx.Err() != nil { // the master stops: the next start goes on
			return b.deleted, nil
		}
		over := overNow()
		err := hs.Ascend(after, func(seq uint64, data []byte) bool {
			h, ok := jobs.PeekHead(data)
			if !ok || !sweepable(&h) {
				after = seq
				return true
			}
			switch {
			case over > 0 && first.take(h.Updated):
				over--
			case !h.Updated.Before(cutoff):
				after = seq
				return over > 0 && first.left > 0 // a young job: while some that finished first are ahead, the walk goes past it
			}
			after = seq
			b.add(seq, &h)
			return !b.full()
		})
		if err != nil {
			return b.deleted, err
		}
		if more, err := c.deleteBatch(hs, b); !more {
			return b.deleted, err
		}
		if b.deleted%(10*historyBatch) == 0 {
			c.log.WithField("jobs", b.deleted).Info("history: deleting finished jobs from the store")
		}
	}
}

// finishedFirst selects the n jobs that finished first: those that
// finished before bound, and at bound the first atBound met. left counts
// the ones not met yet.
type finishedFirst struct {
	bound         int64 // Unix nanoseconds
	atBound, left int
}

// take reports whether a job that finished at updated is among them.
func (f *finishedFirst) take(updated time.Time) bool {
	t := updated.UnixNano()
	switch {
	case f.left == 0:
		return false
	case t < f.bound:
	case t == f.bound && f.atBound > 0:
		f.atBound--
	default:
		return false
	}
	f.left--
	return true
}

// firstFinished walks the stored jobs that sweepable passes and returns
// what selects the n of them that finished first. It keeps the least n
// finish times met so far in a max-heap, so its memory goes by n, not by
// the size of the history.
func firstFinished(hs jobs.HistoryStore, n int, sweepable func(*jobs.RecordHead) bool) (finishedFirst, error) {
	ends := make(latestFirst, 0, min(n, historyBatch))
	err := hs.Ascend(0, func(_ uint64, data []byte) bool {
		h, ok := jobs.PeekHead(data)
		if !ok || !sweepable(&h) {
			return true
		}
		switch t := h.Updated.UnixNano(); {
		case len(ends) < n:
			heap.Push(&ends, t)
		case t < ends[0]:
			ends[0] = t
			heap.Fix(&ends, 0)
		}
		return true
	})
	if err != nil || len(ends) == 0 {
		return finishedFirst{}, err
	}
	f := finishedFirst{bound: ends[0], left: len(ends)}
	for _, t := range ends {
		if t == f.bound {
			f.atBound++
		}
	}
	return f, nil
}

// latestFirst is a max-heap of finish times (container/heap).
type latestFirst []int64

func (h latestFirst) Len() int           { return len(h) }
func (h latestFirst) Less(i, j int) bool { return h[i] > h[j] }
func (h latestFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *latestFirst) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *latestFirst) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// storedBatch is a batch of stored jobs to delete (history, purge): their
// Seqs, their states and the groups they were in; deleted counts the jobs
// that the batches before deleted.
type storedBatch struct {
	seqs    []uint64
	states  []jobs.State
	grps    []string // each job's group, beside seqs
	groups  map[string]bool
	deleted int
}

func newStoredBatch() *storedBatch {
	return &storedBatch{groups: make(map[string]bool)}
}

// add puts the stored job of seq, whose record's head is h, in b.
func (b *storedBatch) add(seq uint64, h *jobs.RecordHead) {
	b.seqs, b.states, b.grps = append(b.seqs, seq), append(b.states, h.State), append(b.grps, string(h.Group))
	if len(h.Group) > 0 {
		b.groups[string(h.Group)] = true
	}
}

// keep leaves out of b the jobs of the groups live reports true for; it
// asks once per group (live walks the group's jobs in memory).
func (b *storedBatch) keep(live func(g string) bool) {
	held := make(map[string]bool)
	for g := range b.groups {
		if live(g) {
			held[g] = true
			delete(b.groups, g)
		}
	}
	if len(held) == 0 {
		return
	}
	n := 0
	for i, g := range b.grps {
		if held[g] {
			continue
		}
		b.seqs[n], b.states[n], b.grps[n] = b.seqs[i], b.states[i], g
		n++
	}
	b.seqs, b.states, b.grps = b.seqs[:n], b.states[:n], b.grps[:n]
}

// full reports whether b holds historyBatch jobs, as many as one delete
// commits.
func (b *storedBatch) full() bool { return len(b.seqs) >= historyBatch }

// deleteBatch deletes b's jobs from the store (deleteStored), counts them
// in b.deleted, drops the entries of their groups left without jobs
// (pruneGroups) and empties b. more reports whether b was full and
// deleted without error: the caller reads on for the next batch.
func (c *core) deleteBatch(hs jobs.HistoryStore, b *storedBatch) (more bool, err error) {
	more = b.full()
	n, err := c.deleteStored(hs, b.seqs, b.states)
	b.deleted += n
	c.pruneGroups(b.groups)
	b.seqs, b.states, b.grps = nil, nil, nil
	clear(b.groups)
	return more && err == nil, err
}

// deleteStored deletes the records of seqs (whose jobs are in states)
// from the store, leaving out jobs that are in memory, and takes them off
// the counts.
func (c *core) deleteStored(hs jobs.HistoryStore, seqs []uint64, states []jobs.State) (int, error) {
	c.mu.Lock()
	n := 0
	for i, q := range seqs {
		if c.byseq.get(q) == nil {
			seqs[n], states[n] = q, states[i]
			n++
		}
	}
	seqs, states = seqs[:n], states[:n]
	c.mu.Unlock()
	if len(seqs) == 0 {
		return 0, nil
	}
	if err := hs.Delete(seqs); err != nil {
		return 0, fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	c.mu.Lock()
	for _, s := range states {
		c.counts.add(s, -1)
	}
	c.bump()
	c.mu.Unlock()
	return len(seqs), nil
}

// lastFires returns the keys of the schedules' latest fire jobs. Those
// jobs stay in the store (history, purge): a restarted scheduler looks its
// last fire's job up by key, and would submit it again if it were gone. It
// must be called without mu.
func (c *core) lastFires() map[string]bool {
	c.mu.Lock()
	f := c.fires
	c.mu.Unlock()
	if f == nil {
		return make(map[string]bool)
	}
	return f.lastFireKeys()
}

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

// historyStore returns the store to read jobs that left memory from, or
// nil when every job is in memory (or the store cannot read records one
// by one). The caller holds mu.
func (c *core) historyStore() jobs.HistoryStore {
	if !c.ret.outside {
		return nil
	}
	hs, _ := c.store.(jobs.HistoryStore)
	return hs
}
