package master

import (
	"time"

	"github.com/drover/drover/jobs"
)

// Retention: a finished job leaves the master's memory Retain after it
// finished, or sooner when more than RetainJobs finished jobs are in
// memory (the oldest-finished leave first), and never before its last
// record is written (committer.unwritten, retirePass). Its record stays on disk
// (until History). What only that job needed leaves with it: its unique
// key, its idempotency key, its group once the whole group has left, lanes
// and rate buckets nobody uses, per-type metric series.
//
// A job of a group leaves with its group, once every job of the group is
// final and the group's on_done has finished (on_done reads the members'
// outputs). A succeeded job with a unique_key stays while unique_for
// holds. A job whose job_failed notice is not sent yet stays until it is.
// Jobs loaded from a jobs file keep their key known (the file is read at
// every start).
//
// A restart keeps in memory what would be there had the master run on:
// the same holds, and of the other finished jobs younger than Retain the
// RetainJobs that finished last (load, stays). The key of a schedule's
// newest fire job stays known across a restart even when the job stays
// on disk only, so that the scheduler does not take the fire for one
// never submitted.

// retireEntry is a finished job, or a group whose jobs are all finished,
// waiting out Retain.
type retireEntry struct {
	seq   uint64 // the job's Seq; 0 for a group
	group string
	// at is when it finished, or when it is due less Retain when held,
	// in Unix nanoseconds: the queue holds an entry for every finished
	// job in memory, and 8 bytes cost less than a time.Time's 24.
	at int64
	// fin is the job's Updated (Unix nanoseconds) when the entry was
	// made: a job retried since has a different one, and an entry of its
	// own if it finished again.
	fin int64
}

// retireQueue is a FIFO of retireEntry in the order jobs finished.
type retireQueue = fifo[retireEntry]

// jobsFileKeyPrefix starts the key of every job loaded from a jobs file
// (conf.KeyPrefix): those keys stay known for as long as the master runs.
const jobsFileKeyPrefix = "file:"

// retireBudget bounds the entries one retire pass looks at, so that the
// lock is held for a few milliseconds at most; the reaper runs a pass
// every quarter heartbeat interval, and repeats while there is work.
const retireBudget = 20000

// retention keeps what decides when finished jobs leave memory: how many
// are in memory, and the queue they (and closed groups) wait in. Guarded
// by Master.mu.
type retention struct {
	// finishedMem counts the final jobs in Master.byseq; retiring lists
	// them (and closed groups) in the order they finished.
	finishedMem int
	retiring    retireQueue
	retired     int64 // jobs that left memory
	outside     bool  // some stored job is not in memory: listings read the store
}

// finished notes that j has just become final (or was brought back
// final from history).
func (rt *retention) finished(j *jobs.Job) {
	rt.finishedMem++
	if j.Spec.Group == "" {
		at := j.Updated.UnixNano()
		rt.retiring.push(retireEntry{seq: j.Seq, at: at, fin: at})
	}
}

// groupClosed notes that every job of group g is final.
func (rt *retention) groupClosed(g string, at time.Time) {
	rt.retiring.push(retireEntry{group: g, at: at.UnixNano()})
}

// unfinished notes that a final job became live again (a retry). Its
// retire entry is skipped when it comes up.
func (rt *retention) unfinished() { rt.finishedMem-- }

// left notes that a final job left memory (its record stays on disk).
func (rt *retention) left() {
	rt.finishedMem--
	rt.retired++
	rt.outside = true
}

// stays reports whether the job whose record head is h, loaded at start,
// stays in memory whatever its age and the count of finished jobs: it is
// live, or of a group (it leaves with its group), or a succeeded job
// whose unique_key still holds, or a failed job whose job_failed notice
// is not sent yet (notice). Any other finished job stays only if it
// finished less than Retain ago and is among the RetainJobs that finished
// last (load); the rest stay on disk. The caller owns c.
func (c *core) stays(h *jobs.RecordHead, now time.Time, notice bool) bool {
	switch {
	case !h.State.Final() || len(h.Group) > 0:
		return true
	case len(h.UniqueKey) > 0 && h.State == jobs.Succeeded && now.Before(h.Updated.Add(h.UniqueFor)):
		return true
	}
	return notice && h.State == jobs.Failed
}

// retainLoop takes finished jobs out of memory once they are due
// (retireJobs), at every tick of tick, which Start arms on the master's
// clock at the reaper's pace (a quarter of the heartbeat interval); it
// stops the ticker when the master stops.
func (c *core) retainLoop(tick <-chan time.Time, stop func()) {
	defer stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick:
			select {
			case <-c.ready:
				c.retireJobs(c.now())
			default:
				// Which jobs must stay for their on_done or notice is
				// known once the hooks run (startServices): nothing
				// leaves memory before.
			}
		}
	}
}

// retireJobs runs retire passes until nothing is due, releasing the lock
// between passes. It returns the number of jobs that left memory.
func (c *core) retireJobs(now time.Time) int {
	total := 0
	for {
		c.mu.Lock()
		n, more := c.retirePass(now)
		if n > 0 || more {
			c.lim.release(c.queue, now)
			c.metrics.release(now.Add(-c.cfg.Retain))
		}
		c.mu.Unlock()
		total += n
		if !more {
			if err := c.writeLeft(); err != nil {
				c.log.WithError(err).Warn("groups that left memory: not written; will retry")
			}
			return total
		}
	}
}

// retirePass takes due entries off the retire queue, at most retireBudget
// of them, and drops their jobs from memory. more says the budget ran out
// with entries still due. The caller holds mu.
func (c *core) retirePass(now time.Time) (n int, more bool) {
	var again []retireEntry
	defer func() {
		for _, e := range again {
			c.ret.retiring.push(e)
		}
	}()
	for seen := 0; c.ret.retiring.len() > 0; seen++ {
		if seen == retireBudget {
			return n, true
		}
		e := c.ret.retiring.front()
		if c.ret.finishedMem <= c.cfg.RetainJobs && now.UnixNano() < e.at+int64(c.cfg.Retain) {
			return n, false
		}
		// A job whose record is not written yet waits for its commit
		// (the entries after it finished later): a read of the store
		// would find its older record, or none.
		if e.group != "" {
			if c.groupUnwritten(e.group) {
				return n, false
			}
			ent := c.ret.retiring.pop()
			k, wait := c.retireGroup(ent.group, now)
			n += k
			if wait {
				again = append(again, retireEntry{group: ent.group, at: now.UnixNano()})
			}
			continue
		}
		j := c.entryJob(e)
		if j != nil && c.commit.unwritten(j.Seq) {
			return n, false
		}
		ent := c.ret.retiring.pop()
		if j == nil {
			continue
		}
		if until := c.retireHold(j, now); !until.IsZero() {
			again = append(again, retireEntry{seq: j.Seq, at: until.Add(-c.cfg.Retain).UnixNano(), fin: ent.fin})
			continue
		}
		c.drop(j)
		n++
	}
	return n, false
}

// entryJob returns the job that entry e (of a job, not a group) retires,
// or nil when the entry is stale: the job is gone already, or retires with
// its group, or it was retried since (live again, or final again with an
// entry of its own). The caller holds mu.
func (c *core) entryJob(e *retireEntry) *jobs.Job {
	j := c.byseq.get(e.seq)
	if j == nil || !j.State.Final() || j.Spec.Group != "" || j.Updated.UnixNano() != e.fin {
		return nil
	}
	return j
}

// groupUnwritten reports whether a job of group g has a record not yet
// written. The caller holds mu.
func (c *core) groupUnwritten(g string) bool {
	return c.commit.unwrittenAny(func(yield func(uint64) bool) {
		for _, id := range c.groups[g] {
			if j := c.job(id); j != nil && !yield(j.Seq) {
				return
			}
		}
	})
}

// retireHold returns until when j must stay in memory though it is due to
// leave (zero: it may leave now). The caller holds mu.
func (c *core) retireHold(j *jobs.Job, now time.Time) time.Time {
	if u := j.Spec.UniqueKey; u != "" && j.State == jobs.Succeeded && c.keys.unique[u] == j.ID {
		if until := j.Updated.Add(j.Spec.UniqueFor); now.Before(until) {
			return until
		}
	}
	if h := c.hooks; h != nil && h.busy[j.ID] {
		return now.Add(time.Second)
	}
	return time.Time{}
}

// retireGroup drops group g's jobs from memory if the group is still
// closed and its on_done has finished. wait says the group must be looked
// at again later (on_done still runs, or a member is held). The caller
// holds mu.
func (c *core) retireGroup(g string, now time.Time) (n int, wait bool) {
	ids := c.groups[g]
	if len(ids) == 0 {
		return 0, false
	}
	if h := c.hooks; h != nil {
		if !h.fired[g] {
			return 0, false // a member was retried: the group closes again later
		}
		if r := h.recs[g]; r != nil && r.State != onDoneDone {
			return 0, true
		}
	}
	for _, id := range ids {
		j := c.job(id)
		if j == nil {
			continue
		}
		if !j.State.Final() {
			// A member retried after the group closed (its on_done
			// does not run again): looked at again once it is final.
			return 0, true
		}
		if !c.retireHold(j, now).IsZero() {
			return 0, true
		}
	}
	lo, hi := uint64(0), uint64(0)
	for _, id := range ids {
		if j := c.job(id); j != nil {
			if lo == 0 || j.Seq < lo {
				lo = j.Seq
			}
			hi = max(hi, j.Seq)
			c.drop(j)
			n++
		}
	}
	if n > 0 {
		c.groupLeft(g, lo, hi, c.onDoneStatus(g))
	}
	delete(c.groups, g)
	if h := c.hooks; h != nil {
		h.forget(g)
	}
	return n, false
}

// drop removes the final job j from memory, with what only it needed.
// The caller holds mu.
func (c *core) drop(j *jobs.Job) {
	c.byseq.remove(j.Seq)
	c.ret.left()
	c.keys.forget(j)
}
