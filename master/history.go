package master

import (
	"bytes"
	"container/heap"
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
