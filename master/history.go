package master

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	if g := j.Spec.Group; g != "" && m.hooks != nil && len(m.groups[g]) == 1 {
		m.hooks.fired[g] = true // its on_done ran before it left memory
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
	check := time.NewTicker(historyCheck)
	defer check.Stop()
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
		case <-check.C:
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

// PurgeFilter selects finished jobs for Purge. Empty fields match every
// finished job; Before, when set, keeps jobs that finished at or after it.
type PurgeFilter struct {
	State  jobs.State // succeeded, failed or cancelled
	Type   string
	Group  string
	Before time.Time

	keep map[string]bool // keys that stay (lastFires)
}

// match reports whether f selects j. A job from a jobs file never
// matches: its key must stay known, or the next start would submit it
// again.
func (f *PurgeFilter) match(j *jobs.Job) bool {
	return j.State.Final() && !strings.HasPrefix(j.Spec.Key, jobsFileKeyPrefix) && !f.keep[j.Spec.Key] && (f.State == "" || j.State == f.State) && (f.Type == "" || j.Spec.Type == f.Type) &&
		(f.Group == "" || j.Spec.Group == f.Group) && (f.Before.IsZero() || j.Updated.Before(f.Before))
}

// matchHead is match for a stored record's head.
func (f *PurgeFilter) matchHead(h *jobs.RecordHead) bool {
	return h.State.Final() && !bytes.HasPrefix(h.Key, jobsFileKeyBytes) && !f.keep[string(h.Key)] && (f.State == "" || h.State == f.State) &&
		(f.Type == "" || string(h.Type) == f.Type) && (f.Group == "" || string(h.Group) == f.Group) &&
		(f.Before.IsZero() || h.Updated.Before(f.Before))
}

// Purge deletes the finished jobs that f selects, from memory and from the
// store, now, and returns how many it deleted. Live jobs are never
// touched, nor jobs from a jobs file. A job of a group whose on_done has
// not finished yet stays.
func (m *Master) Purge(ctx context.Context, f PurgeFilter) (int, error) {
	if f.State != "" && !f.State.Final() {
		return 0, fmt.Errorf("%w: purge state %q: want succeeded, failed or cancelled", rpcapi.ErrBadRequest, f.State)
	}
	if err := m.awaitReady(ctx); err != nil {
		return 0, err
	}
	hs, _ := m.store.(jobs.HistoryStore)
	f.keep = m.lastFires()
	// Jobs in memory first: out of memory, then (once their last commit
	// is on disk) out of the store.
	var seqs []uint64
	var states []jobs.State
	touched := make(map[string]bool) // groups of the jobs deleted, per batch
	m.mu.Lock()
	m.byseq.ascend(0, func(j *jobs.Job) bool {
		if f.match(j) && m.purgeable(j) {
			seqs, states = append(seqs, j.Seq), append(states, j.State)
			if g := j.Spec.Group; g != "" {
				touched[g] = true
			}
		}
		return true
	})
	for _, q := range seqs {
		m.unlink(m.byseq.get(q))
	}
	b := m.commit.settled()
	m.mu.Unlock()
	if err := b.wait(); err != nil {
		return 0, fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	total := 0
	if hs == nil {
		m.mu.Lock()
		for _, s := range states {
			m.counts.add(s, -1)
		}
		m.mu.Unlock()
		return len(seqs), nil
	}
	for len(seqs) > 0 {
		k := min(len(seqs), historyBatch)
		n, err := m.deleteStored(hs, seqs[:k], states[:k])
		total += n
		if err != nil {
			return total, err
		}
		seqs, states = seqs[k:], states[k:]
	}
	m.pruneGroups(touched)
	clear(touched)
	// Then the store, for jobs that had left memory, over its index of
	// the filter's most selective field where it has one.
	sel := &jobQuery{State: f.State, Type: f.Type, Group: f.Group, Asc: true}
	for after := uint64(0); ; {
		var del []uint64
		var dstates []jobs.State
		err := walkStored(hs, sel, after, func(seq uint64, data []byte) bool {
			after = seq
			if h, ok := jobs.PeekHead(data); ok && f.matchHead(&h) {
				del, dstates = append(del, seq), append(dstates, h.State)
				if len(h.Group) > 0 {
					touched[string(h.Group)] = true
				}
			}
			return len(del) < historyBatch && ctx.Err() == nil
		})
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return total, err
		}
		n, err := m.deleteStored(hs, del, dstates)
		total += n
		m.pruneGroups(touched)
		clear(touched)
		if err != nil || len(del) < historyBatch {
			return total, err
		}
	}
}

// purgeable reports whether the final job j may leave memory now: not
// while its group's on_done runs, nor while its job_failed notice waits.
// The caller holds mu.
func (m *Master) purgeable(j *jobs.Job) bool {
	h := m.hooks
	if h == nil {
		return true
	}
	if h.busy[j.ID] {
		return false
	}
	if g := j.Spec.Group; g != "" {
		if r := h.recs[g]; !h.fired[g] || (r != nil && r.State != onDoneDone) {
			return false
		}
	}
	return true
}

// unlink drops the final job j from memory and from its group's list
// (the group goes when its list is empty). The caller holds mu.
func (m *Master) unlink(j *jobs.Job) {
	if g := j.Spec.Group; g != "" {
		ids := slices.DeleteFunc(m.groups[g], func(id string) bool { return id == j.ID })
		if len(ids) == 0 {
			delete(m.groups, g)
			if h := m.hooks; h != nil {
				delete(h.fired, g)
				delete(h.cursor, g)
				delete(h.recs, g)
			}
		} else {
			m.groups[g] = ids
			if h := m.hooks; h != nil {
				delete(h.cursor, g) // positions moved
			}
		}
	}
	m.drop(j)
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
	var after uint64
	if q.Cursor != "" {
		seq, err := decodeCursor(cursorJobs, q.Cursor)
		if err != nil && q.Group != "" {
			// A group's walk in memory stopped there, and the group
			// has left memory since: go on from the same job.
			if v, gerr := decodeCursor(cursorGroupJobs, q.Cursor); gerr == nil && v[1] > 0 {
				seq, err = v[1:], nil
			}
		}
		if err != nil {
			return "", err
		}
		after = seq[0]
	}
	var (
		pg      = pager{q: q, size: size, take: take}
		seen    int
		more    bool
		lastSeq uint64
		derr    error
	)
	// The walk goes in chunks: decode a chunk's records without mu, then
	// visit them under mu taken once, each as its copy in memory (the
	// fresher) where there is one.
	type rec struct {
		seq uint64
		j   *jobs.Job
	}
	var chunk []rec
	flush := func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, r := range chunk {
			j := r.j
			if mj := m.byseq.get(r.seq); mj != nil {
				j = mj
			}
			// j is nil for a record that cannot match, or that did not
			// decode whose job has left memory since.
			if j != nil && !pg.offer(j) {
				more = true
				return false
			}
			lastSeq = r.seq
		}
		chunk = chunk[:0]
		return true
	}
	fn := func(seq uint64, data []byte) bool {
		if (q.lo != 0 && seq < q.lo) || (q.hi != 0 && seq > q.hi) {
			return false // past the group's spans: the end
		}
		if seen == budget {
			flush()
			more = true
			return false
		}
		seen++
		if !q.mayMatch(data) {
			chunk = append(chunk, rec{seq, nil})
			if len(chunk) == storedChunk {
				return flush()
			}
			return true
		}
		j, err := jobs.DecodeRecord(data)
		if err != nil {
			m.mu.Lock()
			inMem := m.byseq.get(seq) != nil
			m.mu.Unlock()
			if !inMem {
				derr = fmt.Errorf("%w: stored job seq %d: %v", rpcapi.ErrInternal, seq, err)
				return false
			}
			j = nil
		}
		chunk = append(chunk, rec{seq, j})
		if len(chunk) == storedChunk {
			return flush()
		}
		return true
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
	err := walkStored(hs, q, after, fn)
	if err == nil && derr == nil && !more {
		flush()
	}
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	case derr != nil:
		return "", derr
	case !more:
		return "", nil
	}
	return encodeCursor(cursorJobs, lastSeq), nil
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
