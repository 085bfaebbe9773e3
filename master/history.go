package master

import (
	"bytes"
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
func (m *Master) fromHistory(id string) (*jobs.Job, error) {
	hs, ok := m.store.(jobs.HistoryStore)
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
func (m *Master) findJob(id string) (j *jobs.Job, live bool, err error) {
	m.mu.Lock()
	if mj := m.job(id); mj != nil {
		j = mj.Clone()
	}
	m.mu.Unlock()
	if j != nil {
		return j, true, nil
	}
	j, err = m.fromHistory(id)
	if err == nil && j == nil {
		err = fmt.Errorf("%w: job %q", rpcapi.ErrNotFound, id)
	}
	return j, false, err
}

// readmit brings the final job j, read from history, back into memory (a
// retry of a job that had left it). It returns the job now in memory:
// j, or the one another call brought back first. The caller holds mu.
func (m *Master) readmit(j *jobs.Job) *jobs.Job {
	if cur := m.job(j.ID); cur != nil {
		return cur
	}
	m.insert(j)
	m.counts.add(j.State, -1) // counted already, as a job in the store
	m.ret.finished(j, j.Updated)
	// Its group left memory with it, after its on_done ran: insert
	// marked it so (groupBack), unless its entry was lost.
	if g := j.Spec.Group; g != "" && m.hooks != nil && len(m.groups[g]) == 1 && !m.hooks.fired[g] {
		m.hooks.fired[g] = true
		m.ret.groupClosed(g, j.Updated)
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
func (m *Master) historyLoop() {
	select { // the counts it goes by are whole once the store is loaded
	case <-m.ready:
	case <-m.failed:
		return
	case <-m.ctx.Done():
		return
	}
	check, stop := m.clock.Ticker(historyCheck)
	defer stop()
	last := time.Time{}
	// early is false after a sweep for being over HistoryJobs deleted
	// nothing (the jobs over it are in memory or from a jobs file): the
	// next waits for historyEvery.
	early := true
	for {
		now := m.now()
		due := now.Sub(last) >= historyEvery
		if due || (early && m.historyOver()) {
			last = now
			n, err := m.sweepHistory(now)
			switch {
			case err != nil:
				m.log.WithError(err).Warn("history: finished jobs not deleted; will retry")
			case n > 0:
				m.log.WithField("jobs", n).Info("history: finished jobs deleted from the store")
			}
			early = due || n > 0
		}
		select {
		case <-m.ctx.Done():
			return
		case <-check:
		}
	}
}

// historyOver reports whether the finished jobs exceed HistoryJobs by
// enough to sweep before the next historyEvery.
func (m *Master) historyOver() bool {
	if _, ok := m.store.(jobs.HistoryStore); !ok {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	over := m.counts.of(jobs.Succeeded) + m.counts.of(jobs.Failed) + m.counts.of(jobs.Cancelled) - m.cfg.HistoryJobs
	return over >= max(m.cfg.HistoryJobs/10, historyBatch)
}

// sweepHistory deletes from the store the finished jobs that finished
// before now - History, and the oldest ones beyond HistoryJobs, oldest Seq
// first, stopping at the first finished job that must stay (so a young job
// with an old Seq holds back older ones after it until it is due itself).
// Jobs in memory, and jobs from a jobs file, stay. It returns how many
// jobs it deleted.
func (m *Master) sweepHistory(now time.Time) (int, error) {
	hs, ok := m.store.(jobs.HistoryStore)
	if !ok {
		return 0, nil
	}
	cutoff := now.Add(-m.cfg.History)
	keep := m.lastFires()
	total := 0
	touched := make(map[string]bool) // groups of the jobs deleted, per batch
	for after := uint64(0); ; {
		if m.ctx.Err() != nil { // the master stops: the next start goes on
			return total, nil
		}
		m.mu.Lock()
		over := m.counts.of(jobs.Succeeded) + m.counts.of(jobs.Failed) + m.counts.of(jobs.Cancelled) - m.cfg.HistoryJobs
		m.mu.Unlock()
		var del []uint64
		var states []jobs.State
		err := hs.Ascend(after, func(seq uint64, data []byte) bool {
			h, ok := jobs.PeekHead(data)
			if !ok || !h.State.Final() || bytes.HasPrefix(h.Key, jobsFileKeyBytes) || keep[string(h.Key)] {
				after = seq
				return true
			}
			if over <= 0 && !h.Updated.Before(cutoff) {
				return false
			}
			after = seq
			del, states = append(del, seq), append(states, h.State)
			if len(h.Group) > 0 {
				touched[string(h.Group)] = true
			}
			over--
			return len(del) < historyBatch
		})
		if err != nil {
			return total, err
		}
		n, err := m.deleteStored(hs, del, states)
		total += n
		m.pruneGroups(touched)
		clear(touched)
		if err != nil || len(del) < historyBatch {
			return total, err
		}
		if total%(10*historyBatch) == 0 {
			m.log.WithField("jobs", total).Info("history: deleting finished jobs from the store")
		}
	}
}

// deleteStored deletes the records of seqs (whose jobs are in states)
// from the store, leaving out jobs that are in memory, and takes them off
// the counts.
func (m *Master) deleteStored(hs jobs.HistoryStore, seqs []uint64, states []jobs.State) (int, error) {
	m.mu.Lock()
	n := 0
	for i, q := range seqs {
		if m.byseq.get(q) == nil {
			seqs[n], states[n] = q, states[i]
			n++
		}
	}
	seqs, states = seqs[:n], states[:n]
	m.mu.Unlock()
	if len(seqs) == 0 {
		return 0, nil
	}
	if err := hs.Delete(seqs); err != nil {
		return 0, fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	m.mu.Lock()
	for _, s := range states {
		m.counts.add(s, -1)
	}
	m.bump()
	m.mu.Unlock()
	return len(seqs), nil
}

// lastFires returns the keys of the schedules' latest fire jobs. Those
// jobs stay in the store (history, purge): a restarted scheduler looks its
// last fire's job up by key, and would submit it again if it were gone. It
// must be called without mu.
func (m *Master) lastFires() map[string]bool {
	keys := make(map[string]bool)
	if s := m.sched; s != nil {
		s.do(func() {
			for _, e := range s.entries {
				if !e.LastFire.IsZero() {
					keys[fireKey(e.name, e.LastFire)] = true
				}
			}
		})
	}
	return keys
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
func (m *Master) pageStored(hs jobs.HistoryStore, q *jobQuery, size func(*jobs.Job) int, budget int,
	take func(*jobs.Job)) (string, error) {
	after, err := storedCursor(q)
	if err != nil {
		return "", err
	}
	if err := m.gateReads(); err != nil {
		return "", err
	}
	defer m.ungateReads()
	if q.Asc {
		if q.lo != 0 {
			after = max(after, q.lo-1)
		}
	} else if q.hi != 0 && (after == 0 || after > q.hi+1) {
		after = q.hi + 1
	}
	w := storedWalk{m: m, q: q, pg: pager{q: q, size: size, take: take}, budget: budget}
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
	m            *Master
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
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	for _, r := range w.chunk {
		j := r.j
		if mj := w.m.byseq.get(r.seq); mj != nil {
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
			w.m.mu.Lock()
			inMem := w.m.byseq.get(seq) != nil
			w.m.mu.Unlock()
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
// committed yet is missed, as it would be by a read a moment earlier.
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
func (m *Master) historyStore() jobs.HistoryStore {
	if !m.ret.outside {
		return nil
	}
	hs, _ := m.store.(jobs.HistoryStore)
	return hs
}
