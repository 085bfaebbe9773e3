package master

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// PurgeJobs implements rpcapi.MasterAPI (purge_jobs, POST /api/v1/purge):
// it deletes the finished jobs that a selects, from memory and from the
// store, now, and says how many in r. Live jobs are never touched.
func (api *wire) PurgeJobs(ctx context.Context, a *rpcapi.PurgeArgs, r *rpcapi.PurgeReply) error {
	f, err := purgeFilter(a, api.core.now())
	if err != nil {
		return err
	}
	n, err := api.core.purge(ctx, f)
	if err != nil {
		return err
	}
	r.Purged = n
	return nil
}

// purgeFilter checks a and turns it into a PurgeFilter: a purge needs a
// filter, or All alone; OlderThan keeps the jobs that finished after
// now - OlderThan.
func purgeFilter(a *rpcapi.PurgeArgs, now time.Time) (PurgeFilter, error) {
	filtered := a.State != "" || a.Type != "" || a.Group != "" || a.OlderThan != 0
	switch {
	case a.OlderThan < 0:
		return PurgeFilter{}, fmt.Errorf("%w: purge older_than %s: want 0 or more", rpcapi.ErrBadRequest, a.OlderThan)
	case a.All && filtered:
		return PurgeFilter{}, fmt.Errorf("%w: purge all takes no other filter (state, type, group, older_than)", rpcapi.ErrBadRequest)
	case !a.All && !filtered:
		return PurgeFilter{}, fmt.Errorf("%w: purge needs a filter: state, type, group or older_than (or all for every finished job)", rpcapi.ErrBadRequest)
	case a.State != "" && !a.State.Final():
		return PurgeFilter{}, fmt.Errorf("%w: purge state %q: want succeeded, failed or cancelled", rpcapi.ErrBadRequest, a.State)
	}
	f := PurgeFilter{State: a.State, Type: a.Type, Group: a.Group}
	if a.OlderThan > 0 {
		f.Before = now.Add(-a.OlderThan)
	}
	return f, nil
}

// PurgeFilter selects finished jobs for Purge: those that match every
// field set. Before, when set, keeps jobs that finished at or after it.
// A filter with no field set is refused, as purge_jobs refuses one, so
// that a forgotten field does not delete every finished job: All, alone,
// says that.
type PurgeFilter struct {
	State  jobs.State // succeeded, failed or cancelled
	Type   string
	Group  string
	Before time.Time
	// Worker, Error and Text match as the jobs listing's filters of
	// those names do (a worker of any attempt; a substring of the latest
	// attempt's error, of some key=value of the args).
	Worker, Error, Text string
	// All selects every finished job; with another field set, Purge
	// refuses the filter.
	All bool

	keep map[string]bool // keys that stay (lastFires)
}

// check refuses a filter with no field set but All, or All with
// another field.
func (f *PurgeFilter) check() error {
	filtered := f.State != "" || f.Type != "" || f.Group != "" || !f.Before.IsZero() || f.Worker != "" || f.Error != "" || f.Text != ""
	switch {
	case f.All && filtered:
		return fmt.Errorf("%w: purge: All takes no other field", rpcapi.ErrBadRequest)
	case !f.All && !filtered:
		return fmt.Errorf("%w: purge needs a filter: State, Type, Group, Before, Worker, Error or Text (or All for every finished job)", rpcapi.ErrBadRequest)
	}
	return nil
}

// match reports whether f selects j. A job from a jobs file never
// matches: its key must stay known, or the next start would submit it
// again.
func (f *PurgeFilter) match(j *jobs.Job) bool {
	return j.State.Final() && !strings.HasPrefix(j.Spec.Key, jobsFileKeyPrefix) && !f.keep[j.Spec.Key] && (f.State == "" || j.State == f.State) && (f.Type == "" || j.Spec.Type == f.Type) &&
		(f.Group == "" || j.Spec.Group == f.Group) && (f.Before.IsZero() || j.Updated.Before(f.Before)) && f.rest(j)
}

// matchHead is match for a stored record's head.
func (f *PurgeFilter) matchHead(h *jobs.RecordHead) bool {
	return h.State.Final() && !bytes.HasPrefix(h.Key, jobsFileKeyBytes) && !f.keep[string(h.Key)] && (f.State == "" || h.State == f.State) &&
		(f.Type == "" || string(h.Type) == f.Type) && (f.Group == "" || string(h.Group) == f.Group) &&
		(f.Before.IsZero() || h.Updated.Before(f.Before))
}

// purge deletes the finished jobs that f selects, from memory and from the
// store, now, and returns how many it deleted (Master.Purge, purge_jobs).
// Live jobs are never touched, nor jobs from a jobs file. A job of a
// group whose on_done has not finished yet stays.
func (c *core) purge(ctx context.Context, f PurgeFilter) (int, error) {
	if f.State != "" && !f.State.Final() {
		return 0, fmt.Errorf("%w: purge state %q: want succeeded, failed or cancelled", rpcapi.ErrBadRequest, f.State)
	}
	if err := c.awaitReady(ctx); err != nil {
		return 0, err
	}
	hs, _ := c.store.(jobs.HistoryStore)
	f.keep = c.lastFires()
	total, err := c.purgeMemory(hs, &f)
	if err != nil || hs == nil {
		return total, err
	}
	n, err := c.purgeStored(ctx, hs, &f)
	return total + n, err
}

// purgeMemory deletes the jobs in memory that f selects: out of memory,
// then (once their last commit is on disk) out of the store, when there
// is one (hs).
func (c *core) purgeMemory(hs jobs.HistoryStore, f *PurgeFilter) (int, error) {
	var seqs []uint64
	var states []jobs.State
	touched := make(map[string]bool) // groups of the jobs deleted
	live := make(map[string]bool)    // groups looked at: whether they have a live job
	if err := c.lockOpen(); err != nil {
		return 0, err
	}
	c.byseq.ascend(0, func(j *jobs.Job) bool {
		g := j.Spec.Group
		if g != "" {
			if _, seen := live[g]; !seen {
				live[g] = c.groupLive(g)
			}
		}
		if f.match(j) && c.purgeable(j) && !live[g] {
			seqs, states = append(seqs, j.Seq), append(states, j.State)
			if g := j.Spec.Group; g != "" {
				touched[g] = true
			}
		}
		return true
	})
	for _, q := range seqs {
		c.unlink(c.byseq.get(q))
	}
	b := c.commit.settled()
	c.mu.Unlock()
	if err := b.wait(); err != nil {
		c.dropGoneRecords(touched, false)
		return 0, fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	if hs == nil {
		c.mu.Lock()
		for _, s := range states {
			c.counts.add(s, -1)
		}
		c.mu.Unlock()
		c.dropGoneRecords(touched, false) // the store keeps the jobs
		return len(seqs), nil
	}
	total := 0
	for len(seqs) > 0 {
		k := min(len(seqs), historyBatch)
		n, err := c.deleteStored(hs, seqs[:k], states[:k])
		total += n
		if err != nil {
			c.dropGoneRecords(touched, false)
			return total, err
		}
		seqs, states = seqs[k:], states[k:]
	}
	c.dropGoneRecords(touched, true)
	c.pruneGroups(touched)
	return total, nil
}

// dropGoneRecords deletes from the store the on_done records of the groups
// among touched that the purge emptied (hooks.gone), now that their jobs
// are deleted (del; false: they may still be in the store, and so are
// their records). A group gone is gone with its record: jobs submitted
// later with its name are a new group, whose on_done runs once it is
// final; that run waits for this deletion. A record left by a failed
// deletion is dropped at the next start if the group is still gone.
func (c *core) dropGoneRecords(touched map[string]bool, del bool) {
	h := c.hooks
	if h == nil || h.meta == nil {
		return
	}
	var recs []jobs.MetaRecord
	c.mu.Lock()
	for g := range touched {
		if h.gone[g] {
			recs = append(recs, jobs.MetaRecord{Bucket: metaGroups, Key: g})
		}
	}
	c.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	if del {
		if err := h.meta.SaveMetas(recs); err != nil {
			c.log.WithError(err).Warn("on_done records of purged groups not deleted")
		}
	}
	c.mu.Lock()
	for _, r := range recs {
		delete(h.gone, r.Key)
	}
	c.mu.Unlock()
}

// purgeStored deletes the jobs that f selects among those that had left
// memory, a batch at a time, over the store's index of the filter's most
// selective field where it has one.
func (c *core) purgeStored(ctx context.Context, hs jobs.HistoryStore, f *PurgeFilter) (int, error) {
	sel := &jobQuery{State: f.State, Type: f.Type, Group: f.Group, Worker: f.Worker, Asc: true}
	b := newStoredBatch()
	for after := uint64(0); ; {
		err := walkStored(hs, sel, after, func(seq uint64, data []byte) bool {
			after = seq
			if h, ok := jobs.PeekHead(data); ok && f.matchHead(&h) && f.matchRecord(data) {
				b.add(seq, &h)
			}
			return !b.full() && ctx.Err() == nil
		})
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return b.deleted, err
		}
		full := b.full()
		c.mu.Lock()
		b.keep(c.groupLive) // a job submitted to its group meanwhile
		c.mu.Unlock()
		if _, err := c.deleteBatch(hs, b); !full || err != nil {
			return b.deleted, err
		}
	}
}

// groupLive reports whether group g has a pending or running job (they
// are all in memory). The caller holds mu.
func (c *core) groupLive(g string) bool {
	for _, id := range c.groups[g] {
		if j := c.job(id); j != nil && !j.State.Final() {
			return true
		}
	}
	return false
}

// purgeable reports whether the final job j may leave memory now: not
// while its group's on_done runs, nor while its job_failed notice waits
// (nor while its group has a live job: purge looks at that itself).
// The caller holds mu.
func (c *core) purgeable(j *jobs.Job) bool {
	h := c.hooks
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
func (c *core) unlink(j *jobs.Job) {
	if g := j.Spec.Group; g != "" {
		ids := slices.DeleteFunc(c.groups[g], func(id string) bool { return id == j.ID })
		if len(ids) == 0 {
			delete(c.groups, g)
			if h := c.hooks; h != nil {
				h.forget(g)
				if h.meta != nil {
					h.gone[g] = true // its record goes after its jobs (dropGoneRecords)
				}
			}
		} else {
			c.groups[g] = ids
			if h := c.hooks; h != nil {
				delete(h.cursor, g) // positions moved
			}
		}
	}
	c.drop(j)
}
