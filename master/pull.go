package master

import (
	"context"
	"fmt"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Fetch implements rpcapi.MasterAPI for pull-mode workers: it long-polls
// until jobs are leased to the worker (the same dispatch, leases and
// fencing as push), or attempts it runs are cancelled, or the timeout
// passes. A Fetch counts as a heartbeat for liveness, and it never blocks
// longer than half of dead_after, so a worker waiting in Fetch is never
// reaped.
func (api *wire) Fetch(ctx context.Context, a *rpcapi.FetchArgs, r *rpcapi.FetchReply) error {
	c := api.core
	r.Term = api.cfg.Term
	if a.Max < 0 || a.Timeout < 0 {
		return fmt.Errorf("%w: negative max or timeout", rpcapi.ErrBadRequest)
	}
	d := a.Timeout
	if d == 0 || d > rpcapi.MaxWait {
		d = rpcapi.MaxWait
	}
	d = min(d, api.cfg.DeadAfter/2)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		now := c.now()
		heard := api.reg.hear(a.WorkerID, a.Secret, now)
		c.mu.Lock()
		w := api.reg.registered(a.WorkerID)
		if w == nil || w.state == rpcapi.WorkerDead || c.closed {
			c.mu.Unlock()
			return fmt.Errorf("%w: %q", rpcapi.ErrUnknownWorker, a.WorkerID)
		}
		if err := api.reg.checkHeard(ctx, w, heard, a.Secret, "fetch_tasks"); err != nil {
			c.mu.Unlock()
			return err
		}
		if !w.pull {
			c.mu.Unlock()
			return fmt.Errorf("%w: worker %s registered in push mode", rpcapi.ErrBadRequest, a.WorkerID)
		}
		w.lastBeat, w.fetched = now, now
		if w.unfetched {
			w.unfetched = false
			c.kick()
		}
		// The worker calls Fetch again only after taking what the last
		// Fetch handed out, so those tasks are accepted now. (Marking them
		// at hand-out would let a heartbeat built before the reply arrived
		// requeue them.)
		for _, l := range w.leases {
			if l.acked.IsZero() && l.handedOut {
				l.acked = now
			}
		}
		n := len(w.outbox)
		if a.Max > 0 {
			n = min(n, a.Max)
		}
		out := w.takeOutbox(n)
		r.Cancel = append(r.Cancel[:0], w.cancelbox...)
		w.cancelbox = nil
		if n > 0 || len(r.Cancel) > 0 {
			r.Tasks = c.handOut(w, out, "fetched by", now)
			c.mu.Unlock()
			return nil
		}
		if w.notify == nil {
			w.notify = make(chan struct{})
		}
		ch := w.notify
		c.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			c.mu.Lock()
			if w := api.reg.workers[a.WorkerID]; w != nil && w.state != rpcapi.WorkerDead {
				w.lastBeat = c.now()
				w.fetched = w.lastBeat
			}
			c.mu.Unlock()
			return nil
		case <-ctx.Done():
			return nil
		case <-c.ctx.Done():
			return fmt.Errorf("%w: master shutting down", rpcapi.ErrUnavailable)
		}
	}
}

// handOut returns the tasks of out whose leases still stand (none was
// cancelled or reaped while queued), marked as handed out to w in a reply
// (a Fetch, or a Complete's Want) and noted on their jobs with how ("sent
// to", "fetched by"). The caller holds mu.
func (c *core) handOut(w *workerRec, out []rpcapi.Task, how string, now time.Time) []rpcapi.Task {
	if !c.cfg.leads() {
		return nil // deposed: the leases stay for the new leader to adopt or lose
	}
	tasks := make([]rpcapi.Task, 0, len(out))
	for _, t := range out {
		l := w.leases[t.JobID]
		j := c.job(t.JobID)
		if l == nil || l.attempt != t.Attempt || j == nil || j.State != jobs.Running || j.Attempt != t.Attempt {
			continue // cancelled or reaped while queued
		}
		l.handedOut = true
		j.Note(now, how+" "+w.id+" ("+w.name+")")
		tasks = append(tasks, t)
	}
	return tasks
}

// handOutReply is handOut for tasks a parked task_complete's reply
// carries (parkedReport). The caller holds mu.
func (c *core) handOutReply(w *workerRec, out []rpcapi.Task) []rpcapi.Task {
	return c.handOut(w, out, "sent to", c.now())
}
