package master

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/drover/drover/internal/buildinfo"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Status implements rpcapi.MasterAPI.
func (api *wire) Status(ctx context.Context, _ *rpcapi.Empty, r *rpcapi.StatusReply) error {
	c := api.core
	c.mu.Lock()
	defer c.mu.Unlock()
	r.Counts = make(map[jobs.State]int, len(jobs.States))
	for _, s := range jobs.States {
		r.Counts[s] = c.counts.of(s)
	}
	r.Workers = api.reg.workerInfos()
	for _, w := range r.Workers {
		if w.State != rpcapi.WorkerDead {
			r.Alive++
		}
	}
	// What needs a person comes first: it takes up to half the reply, the
	// workers the rest.
	budget := c.maxReplyBytes() - pageOverhead - len(jobs.States)*itemOverhead
	var att int
	r.Attention, r.AttentionMore, att = capAttention(c.attention(c.now()), budget/2)
	size := pageOverhead + len(jobs.States)*itemOverhead + att
	for i := range r.Workers {
		if size += workerReplyBytes(&r.Workers[i]); size > c.maxReplyBytes() && i > 0 {
			r.Workers, r.WorkersMore = r.Workers[:i], len(r.Workers)-i
			break
		}
	}
	r.Started = c.start
	r.Dropped = c.dropped.Load()
	r.Reaped = api.reg.reaped.Load()
	r.Version = buildinfo.Get()
	return nil
}

// ListWorkers implements rpcapi.MasterAPI: one page of workers, by
// registration (pageWorkers).
func (api *wire) ListWorkers(ctx context.Context, a *rpcapi.ListWorkersArgs, r *rpcapi.ListWorkersReply) error {
	if err := checkWorkerState(a.State); err != nil {
		return err
	}
	q := workerQuery{State: a.State, Cursor: a.Cursor}
	var err error
	if q.Limit, q.Asc, err = pageArgs(a.Limit, a.Order); err != nil {
		return err
	}
	r.Workers = []rpcapi.WorkerInfo{}
	r.NextCursor, err = api.core.pageWorkers(q, func(wi rpcapi.WorkerInfo) { r.Workers = append(r.Workers, wi) })
	return err
}

// GetJob implements rpcapi.MasterAPI.
func (api *wire) GetJob(ctx context.Context, a *rpcapi.GetJobArgs, r *rpcapi.JobInfo) error {
	c := api.core
	c.mu.Lock()
	if j := c.job(a.ID); j != nil {
		r.Job = *j.Clone()
		r.Waiting = c.whyWaiting(j, c.now(), nil)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	j, _, err := c.findJob(a.ID) // a job that left memory is final: nothing to explain
	if err != nil {
		return err
	}
	r.Job = *j
	return nil
}

// whyWaiting explains why a pending job has not been dispatched: the
// crash grace, its own not_before time, or else why its lane's ready jobs
// wait (laneWaiting, which the queues view counts by lane). memo (may be
// nil) keeps the live capacity of each type across the jobs of a page.
// The caller holds mu.
func (c *core) whyWaiting(j *jobs.Job, now time.Time, memo capacityMemo) string {
	if j.State != jobs.Pending {
		return ""
	}
	if now.Before(c.graceUntil) {
		return c.graceReason()
	}
	if j.NotBefore.After(now) {
		what := "retry backoff"
		if len(j.Attempts) == 0 {
			what = "held by run_at/delay"
		}
		return fmt.Sprintf("%s: eligible in %s (at %s)", what,
			j.NotBefore.Sub(now).Round(time.Millisecond), j.NotBefore.Format(time.RFC3339))
	}
	return c.laneWaiting(c.lim.laneOf(j), now, memo).text
}

// ListJobs implements rpcapi.MasterAPI: one page of jobs (pageJobs),
// bounded by max_reply_bytes.
func (api *wire) ListJobs(ctx context.Context, a *rpcapi.ListJobsArgs, r *rpcapi.ListJobsReply) error {
	if a.State != "" && !a.State.Valid() {
		return fmt.Errorf("%w: unknown state %q (want one of %v)", rpcapi.ErrBadRequest, a.State, jobs.States)
	}
	q := jobQuery{State: a.State, Type: a.Type, Group: a.Group, Cursor: a.Cursor, MaxBytes: api.core.maxReplyBytes()}
	var err error
	if q.Limit, q.Asc, err = pageArgs(a.Limit, a.Order); err != nil {
		return err
	}
	r.Jobs = []jobs.Job{}
	r.NextCursor, err = api.core.pageJobs(&q, func(j *jobs.Job) { r.Jobs = append(r.Jobs, *j.Clone()) })
	return err
}

// Cancel implements rpcapi.MasterAPI. A pending job is cancelled at once; a
// running one is cancelled and its worker told to stop it.
func (api *wire) Cancel(ctx context.Context, a *rpcapi.CancelArgs, r *rpcapi.CancelReply) error {
	if len(a.IDs) == 0 && a.Group == "" {
		return fmt.Errorf("%w: cancel needs job IDs or a group", rpcapi.ErrBadRequest)
	}
	now := api.core.now()
	var last *batch
	if a.Group != "" {
		if err := api.core.knownGroup(a.Group); err != nil {
			return err
		}
	}
	owner, err := api.core.cancelOwnerOf(ctx)
	if err != nil {
		return err
	}
	if err := api.core.lockOpen(); err != nil {
		return err
	}
	ids, err := api.core.cancelIDs(a, owner, r)
	if err != nil {
		api.core.mu.Unlock()
		return err
	}
	var gone []int // r.Errors of the IDs not in memory: looked up in history after
	for n := 0; n < len(ids); n++ {
		id := ids[n]
		j := api.core.job(id)
		if j == nil {
			gone = append(gone, len(r.Errors))
			r.Errors = append(r.Errors, id)
			continue
		}
		before, worker, attempt := j.State, j.Worker, j.Attempt
		_, b, err := api.core.apply(jobChange{kind: changeCancel, job: id, at: now})
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("%s: already %s", id, j.State))
			continue
		}
		last = b
		if w := api.reg.workers[worker]; before == jobs.Running && w != nil {
			if l := w.leases[id]; l != nil && l.attempt == attempt {
				if w.unqueue(id, attempt) {
					// Never sent (or fetched): the worker never had it,
					// and its slot is free now.
					delete(w.leases, id)
					api.core.kick()
				} else {
					l.cancelled = true
					w.cancelbox = append(w.cancelbox, rpcapi.JobRef{JobID: id, Attempt: attempt})
					w.poke()
				}
			}
		}
		r.Cancelled = append(r.Cancelled, id)
		api.core.jobLog(j).Info("job cancelled")
		for _, c := range j.Children { // a broadcast's copies go with it
			if k := api.core.job(c); k != nil && !k.State.Final() {
				ids = append(ids, c)
			}
		}
	}
	api.core.mu.Unlock()
	if last != nil {
		if err := last.wait(); err != nil {
			return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
		}
	}
	if err := api.core.cancelGone(r.Errors, gone); err != nil {
		return err
	}
	half := (api.core.maxReplyBytes() - pageOverhead) / 2
	r.Cancelled, r.CancelledMore = capIDs(r.Cancelled, half)
	r.Errors, r.ErrorsMore = capIDs(r.Errors, half)
	return nil
}

// cancelIDs returns the jobs a cancels: its IDs, then the live jobs of
// its group. For an owner bound to its own jobs, a named live job of
// another submitter refuses the whole cancel, and the group's jobs of
// others are left out and counted in r.Skipped. The caller holds mu.
func (c *core) cancelIDs(a *rpcapi.CancelArgs, owner *cancelOwner, r *rpcapi.CancelReply) ([]string, error) {
	if owner != nil {
		if err := owner.refuseForeign(c, a.IDs); err != nil {
			return nil, err
		}
	}
	ids := slices.Clone(a.IDs)
	if a.Group == "" {
		return ids, nil
	}
	var live []string
	for _, id := range c.groups[a.Group] {
		if !c.job(id).State.Final() {
			live = append(live, id)
		}
	}
	if owner != nil {
		var err error
		if live, r.Skipped, err = owner.filterGroup(c, a.Group, live); err != nil {
			return nil, err
		}
	}
	return append(ids, live...), nil
}

// cancelGone words the errors of a cancel's IDs that were not in memory
// (errs[i] for i in gone holds the ID): a job in history is final
// already, any other is no such job. It reads the store without mu.
func (c *core) cancelGone(errs []string, gone []int) error {
	for _, i := range gone {
		id := errs[i]
		j, err := c.fromHistory(id)
		switch {
		case err != nil:
			return err
		case j != nil:
			errs[i] = fmt.Sprintf("%s: already %s", id, j.State)
		default:
			errs[i] = id + ": no such job"
		}
	}
	return nil
}

// Wait implements rpcapi.MasterAPI: it blocks until every named job (and
// every job of the group) is final, or the timeout (at most
// rpcapi.MaxWait) passes.
func (api *wire) Wait(ctx context.Context, a *rpcapi.WaitArgs, r *rpcapi.WaitReply) error {
	c := api.core
	if len(a.IDs) == 0 && a.Group == "" {
		return fmt.Errorf("%w: wait needs job IDs or a group", rpcapi.ErrBadRequest)
	}
	d := a.Timeout
	if d <= 0 || d > rpcapi.MaxWait {
		d = rpcapi.MaxWait
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	past := make(map[string]jobs.State) // final jobs that left memory: read once from history
	for {
		// The channel first: a change after it wakes the wait.
		c.mu.Lock()
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch := c.changed
		c.mu.Unlock()
		*r = rpcapi.WaitReply{Done: true, Counts: make(map[jobs.State]int)}
		if a.Group != "" {
			if err := c.countWaitGroup(a.Group, r); err != nil {
				return err
			}
		}
		c.mu.Lock()
		if missing := c.countWaitJobs(a.IDs, past, r); len(missing) > 0 {
			c.mu.Unlock()
			if err := c.readPast(missing, past); err != nil {
				return err
			}
			continue
		}
		closed := c.closed
		c.mu.Unlock()
		if !r.Done && !closed {
			select {
			case <-ch:
				continue
			case <-timer.C:
			case <-ctx.Done():
			case <-c.ctx.Done():
			}
		}
		slices.SortFunc(r.Failed, cmpIDs)
		r.Failed, r.FailedMore = capIDs(r.Failed, c.maxReplyBytes()-pageOverhead)
		return nil
	}
}

// countWaitGroup counts the states of a group's jobs into r, those in
// memory and, if the group left memory before, on disk (groupdisk.go),
// and sets r.Failed and r.Done from them.
func (c *core) countWaitGroup(group string, r *rpcapi.WaitReply) error {
	g, bad, ok, err := c.readGroup(group, 0)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: group %q has no jobs", rpcapi.ErrNotFound, group)
	}
	for s, n := range g.Counts {
		if n > 0 {
			r.Counts[s] = n
		}
	}
	r.Failed, r.Done = bad, g.Final
	c.waitThen(group, &g, r)
	return nil
}

// countWaitJobs counts the states of the named jobs into r, from memory
// or from past (jobs already read from history), clears r.Done if one is
// not final, and returns the IDs found in neither. The caller holds mu.
func (c *core) countWaitJobs(ids []string, past map[string]jobs.State, r *rpcapi.WaitReply) (missing []string) {
	for _, id := range ids {
		j := c.job(id)
		if j == nil {
			if s, ok := past[id]; ok {
				r.Counts[s]++
				if s != jobs.Succeeded {
					r.Failed = append(r.Failed, id)
				}
			} else {
				missing = append(missing, id)
			}
			continue
		}
		r.Counts[j.State]++
		if !j.State.Final() {
			r.Done = false
		} else if j.State != jobs.Succeeded {
			r.Failed = append(r.Failed, id)
		}
	}
	return missing
}

// readPast looks up jobs that are not in memory and adds the final state
// of those in history to past; an unknown job fails with its error.
func (c *core) readPast(ids []string, past map[string]jobs.State) error {
	for _, id := range ids {
		j, live, err := c.findJob(id)
		if err != nil {
			return err
		}
		if !live { // in history, so final for good
			past[id] = j.State
		}
	}
	return nil
}
