package master

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/sirupsen/logrus"
)

// This file holds the dispatcher's send loops: one per push worker, which
// delivers the worker's outbox (Assign calls) and cancel box (Cancel
// calls), and takes back the leases a worker refused or never got. Pull
// workers take their outbox themselves (Fetch, pull.go). Like the rest of
// the dispatcher, they reach the core through dispatchCore.

// assignTimeout bounds one Assign or Cancel call to a worker.
const assignTimeout = 10 * time.Second

// maxAssigning bounds the Assign (and Cancel) calls in flight to one
// worker. With two, jobs leased while one call is on the wire go out
// without waiting for its answer.
const maxAssigning = 2

// attach starts the send loop of a newly registered push worker and sets
// w.stop, which ends it (the registry calls it when w is retired). A pull
// worker has none. The caller holds the core's lock.
func (d *dispatcher) attach(w *workerRec) {
	if w.pull {
		return
	}
	ctx, cancel := context.WithCancel(d.ctx)
	w.stop = cancel
	d.wg.Go(func() { d.sendLoop(ctx, w) })
}

// sendLoop delivers one worker's outbox (Assign) and cancel box (Cancel)
// with maxAssigning senders. It runs until the worker is retired or the
// dispatcher stops.
func (d *dispatcher) sendLoop(ctx context.Context, w *workerRec) {
	wc := rpcapi.WorkerClient{C: w.client}
	var senders sync.WaitGroup
	for range maxAssigning {
		senders.Go(func() { d.sender(ctx, w, wc) })
	}
	senders.Wait()
}

// sender takes a batch from w's boxes and sends it, again until they are
// empty, then waits for w.wake. The senders of a worker share its boxes;
// one that leaves tasks in the outbox wakes another, so that with a call
// on the wire the next batch goes without waiting for its answer. They
// live as long as the worker: a goroutine per call would start with a
// small stack and grow it again for every call (a sixth of the master's
// CPU at one slot per worker).
func (d *dispatcher) sender(ctx context.Context, w *workerRec, wc rpcapi.WorkerClient) {
	for {
		d.core.lock()
		out := w.takeOutbox(d.batch)
		cancels := w.cancelbox
		w.cancelbox = nil
		if len(w.outbox) > 0 {
			w.poke()
		}
		d.core.unlock()
		if (len(out) > 0 || len(cancels) > 0) && !d.leads() {
			// Deposed: nothing more goes to the worker. Its leases stay
			// for the new leader to adopt or lose.
			select {
			case <-ctx.Done():
				return
			case <-time.After(notLeadingRetry):
				continue
			}
		}
		if len(out) == 0 && len(cancels) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
				continue
			}
		}
		if len(cancels) > 0 {
			cctx, cancel := context.WithTimeout(ctx, assignTimeout)
			if err := wc.Cancel(cctx, &rpcapi.WorkerCancelArgs{Secret: w.secret, Jobs: cancels, Term: d.term}); err != nil {
				d.log.WithError(err).WithField("worker", w.id).Warn("cancel call failed; the next heartbeat repeats it")
			}
			cancel()
		}
		if len(out) > 0 {
			d.assign(ctx, w, wc, out)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// assign sends one Assign call.
func (d *dispatcher) assign(ctx context.Context, w *workerRec, wc rpcapi.WorkerClient, out []rpcapi.Task) {
	// Leases are not awaited on disk: a master that stops before they get
	// there adopts the attempts from the workers' re-registration.
	args := &rpcapi.AssignArgs{WorkerID: w.id, Secret: w.secret, Tasks: out, Term: d.term}
	actx, cancel := context.WithTimeout(ctx, assignTimeout)
	reply, err := wc.Assign(actx, args)
	cancel()
	now := d.clock.Now()
	d.core.lock()
	defer d.core.unlock()
	if err != nil {
		if ctx.Err() != nil {
			// The master is stopping (or the worker was retired, which
			// requeued its leases already). The call may have reached the
			// worker, so the leases stay: a restarted master adopts them
			// when the worker registers again, or loses them after
			// dead_after.
			return
		}
		d.log.WithError(err).WithField("worker", w.id).Warn("assign failed; jobs requeued")
		w.backoffUntil = now.Add(d.beat)
		for _, t := range args.Tasks {
			d.revoke(w, t.JobID, t.Attempt, now, fmt.Sprintf("assign to %s failed: %v", w.id, err))
		}
		d.kick()
		return
	}
	// The reply speaks only of the tasks of this call: one it names
	// besides (an earlier task of the worker's, another worker's) is
	// left as it is.
	sent := make(map[rpcapi.JobRef]bool, len(args.Tasks))
	for _, t := range args.Tasks {
		sent[rpcapi.JobRef{JobID: t.JobID, Attempt: t.Attempt}] = true
	}
	for _, ref := range reply.Accepted {
		if !sent[ref] {
			continue
		}
		if l := w.leases[ref.JobID]; l != nil && l.attempt == ref.Attempt && l.acked.IsZero() {
			l.acked = now
			if j := l.job; j.State == jobs.Running && j.Attempt == ref.Attempt {
				j.Note(now, "started on "+w.id+" ("+w.name+")")
			}
		}
	}
	refused := ""
	for _, rej := range reply.Rejected {
		if sent[rej.JobRef] {
			refused = rej.Reason
			d.revoke(w, rej.JobID, rej.Attempt, now, fmt.Sprintf("%s refused it: %s", w.id, rej.Reason))
		}
	}
	// A task the reply names in neither list (or under another attempt)
	// may have reached the worker or not: it is one handed out in a
	// reply, which two heartbeats that do not list it free.
	unlisted := 0
	for _, t := range args.Tasks {
		if l := w.leases[t.JobID]; l != nil && l.attempt == t.Attempt && l.acked.IsZero() && !l.handedOut {
			l.handedOut = true
			unlisted++
		}
	}
	if unlisted > 0 {
		d.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "tasks": unlisted}).
			Warn("assign_task reply named tasks in neither accepted nor rejected; each is freed unless a heartbeat lists it")
	}
	switch {
	case refused != "":
		// Give the worker a moment (a run still stopping holds its slot)
		// instead of a tight assign-and-refuse loop; a longer one each
		// time it refuses again (a handler that ignores its ctx holds its
		// slot until it returns, if ever).
		w.refusals++
		w.refusal = refused
		w.backoffUntil = now.Add(refusalBackoff(d.beat, w.refusals))
		d.kick()
	case len(reply.Accepted) > 0:
		w.refusals, w.refusal = 0, ""
	}
}

// refusalBackoff is how long dispatch leaves a worker alone after its
// n-th assign_task reply in a row that refused a task: a quarter of the
// heartbeat interval (at most 250ms), doubling, up to four intervals.
func refusalBackoff(beat time.Duration, n int) time.Duration {
	base := min(beat/4, 250*time.Millisecond)
	return min(base<<min(n-1, 16), max(base, 4*beat))
}

// revoke takes back w's lease of attempt of job jobID, which never
// started (revokeLease). The caller holds the core's lock.
func (d *dispatcher) revoke(w *workerRec, jobID string, attempt int, now time.Time, why string) {
	revokeLease(d.core, d.log, w, jobID, attempt, now, why)
}

// revokeLease takes back w's lease of attempt of job jobID, which never
// started: the job is pending again, without an attempt. A lease w does
// not hold is not w's to give back: it is left as it is (a reply may name
// another worker's task). The caller holds the core's lock.
func revokeLease(c interface {
	apply(jobChange) (*jobs.Job, *batch, error)
}, log logrus.FieldLogger, w *workerRec, jobID string, attempt int, now time.Time, why string) {
	l := w.leases[jobID]
	if l == nil || l.attempt != attempt {
		return
	}
	delete(w.leases, jobID)
	j, _, err := c.apply(jobChange{kind: changeRevoke, job: jobID, attempt: attempt, at: now, why: why})
	if err != nil {
		return
	}
	jobEntry(log, j).Info("lease revoked: " + why)
}
