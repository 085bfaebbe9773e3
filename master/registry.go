package master

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// This file holds the registry's worker lifecycle and the reaper: a
// worker's record made at registration, the attempts it holds adopted,
// a lease lost, a worker retired (logged out or reaped), and the reap loop
// that declares silent workers dead and ends attempts past the master's
// timeout backstop. The registry owns the worker records (workers.go) and
// the reap loop; it reaches the jobs through registryCore, which the core
// implements (core.go), under the core's one lock, which also guards the
// registry's books. The wire's worker calls (register.go, report.go,
// pull.go) drive it; the dispatcher picks workers from it through
// dispatchCore.

// registryCore is what the registry and the reaper need of the core. lock
// and unlock take and release the core's lock; the methods marked
// "locked" need it held.
type registryCore interface {
	lock()
	unlock()
	job(id string) *jobs.Job                      // locked: the job in memory, or nil
	apply(c jobChange) (*jobs.Job, *batch, error) // locked: make a lease, adopt or finish change
	deadline(j *jobs.Job, started time.Time) time.Time
	unwrittenLease(j *jobs.Job, now time.Time) bool // locked: j may have had a lease lost in a crash
	bump()                                          // locked: wake the watchers of a change (a worker came, left or drains)
	abandonPinned(name string, now time.Time)       // locked: fail the broadcast copies pinned to a worker name no live worker has
	writeHeld(now time.Time, all bool)              // locked: write the fresh leases due by now
	kick()                                          // wake the dispatcher: slots are free
}

// start starts the reap loop. Its ticker is armed here, before start
// returns, so that its ticks fall at fixed times from the start on the
// master's clock, whenever the loop's goroutine first runs.
func (reg *registry) start() {
	tick, stop := reg.clock.Ticker(max(reg.beat/4, 10*time.Millisecond))
	reg.wg.Go(func() { reg.reapLoop(tick, stop) })
}

// stop ends the reap loop and waits for it. It is safe to call more than
// once, and before start.
func (reg *registry) stop() {
	reg.cancel()
	reg.wg.Wait()
}

// closeClients closes the clients the master calls push workers through.
// The caller holds the core's lock.
func (reg *registry) closeClients() {
	for _, w := range reg.workers {
		if w.client != nil {
			w.client.Close()
		}
	}
}

// workerCaller makes the client the master sends a push worker's jobs
// through, to addr (workerEndpoint's), with the token the worker
// registered with (ctx's; the master's own when the call came through no
// listener) and, for https, its client TLS.
func (reg *registry) workerCaller(ctx context.Context, addr, transport string) (rpcapi.Caller, error) {
	tok, ok := rpcapi.TokenFrom(ctx)
	if !ok {
		tok = reg.token
	}
	opts := []rpcapi.Option{rpcapi.WithToken(tok)}
	if strings.HasPrefix(addr, "https://") && reg.clientTLS != nil {
		opts = append(opts, rpcapi.WithTLS(reg.clientTLS))
	}
	c, err := rpcapi.NewCaller(addr, transport, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", rpcapi.ErrBadRequest, err)
	}
	return c, nil
}

// addWorker records a newly registered worker under a fresh ID and secret
// and indexes it by the job types it runs; addr is where the master calls
// it ("" in pull mode). The caller holds the core's lock.
func (reg *registry) addWorker(a *rpcapi.RegisterArgs, addr string, client rpcapi.Caller, now time.Time) *workerRec {
	w := &workerRec{
		id: reg.nextID(), name: a.Name, addr: addr, slots: a.Slots,
		types: slices.Compact(slices.Sorted(slices.Values(a.Types))),
		state: rpcapi.WorkerAlive, registered: now, lastBeat: now, beatAt: now, fenceGrace: a.FenceGrace,
		leases: make(map[string]*lease), wake: make(chan struct{}, 1),
		client: client, pull: a.Mode == rpcapi.ModePull,
		tags: slices.Compact(slices.Sorted(slices.Values(a.Tags))), tagSet: make(map[string]bool),
	}
	w.setSecret(newSecret())
	if a.Instance != "" {
		w.instanceSum = sha256.Sum256([]byte(a.Instance))
	}
	for _, t := range w.tags {
		w.tagSet[t] = true
	}
	reg.add(w)
	reg.flaps.registered(w.name, now)
	reg.metrics.registered.Inc()
	reg.core.bump()
	return w
}

// adoptRunning gives w the leases of the jobs it says it is running, when
// the master agrees they are that worker's current attempts (held by a
// registration of the same process, one found dead, or one restored from
// the store), and adds the others to r.Cancel. It returns the batch that writes the last adoption
// (nil if none) and the number of stale results dropped, which the caller
// counts. The caller holds the core's lock.
func (reg *registry) adoptRunning(w *workerRec, running []rpcapi.JobRef, r *rpcapi.RegisterReply, now time.Time) (last *batch, stale int) {
	for _, ref := range running {
		j := reg.core.job(ref.JobID)
		if b, ok := reg.adoptUnwritten(j, ref.Attempt, w, w.id+" ("+w.name+")", now); ok {
			w.leases[j.ID] = &lease{job: j, attempt: j.Attempt, acked: now, deadline: reg.core.deadline(j, now)}
			last = b
			jobEntry(reg.log, j).Info("job adopted")
			continue
		}
		if j == nil || j.State != jobs.Running || j.Attempt != ref.Attempt {
			r.Cancel = append(r.Cancel, ref)
			if staleRef(j, ref) {
				// A reaped worker is back with an attempt the master has
				// moved on from: its late result is dropped here, unsent,
				// so count it as Complete would have.
				stale++
			}
			continue
		}
		old := reg.workers[j.Worker]
		if old != nil && old != w && !old.restored && old.state != rpcapi.WorkerDead && !w.sameProcess(old) {
			// Another live worker's attempt: not this one's to take.
			r.Cancel = append(r.Cancel, ref)
			continue
		}
		if old != nil {
			delete(old.leases, j.ID)
		}
		_, b, err := reg.core.apply(jobChange{kind: changeAdopt, job: j.ID, attempt: ref.Attempt, worker: w.id, at: now,
			why: "adopted by " + w.id + " (" + w.name + ") after it re-registered"})
		if err != nil {
			continue
		}
		w.leases[j.ID] = &lease{job: j, attempt: j.Attempt, acked: now, deadline: reg.core.deadline(j, now)}
		last = b
		jobEntry(reg.log, j).Info("job adopted")
	}
	return last, stale
}

// adoptUnwritten leases the pending job j to w as attempt when that is the
// attempt the master would lease next, and reports whether it did.
// Leases reach the disk after leaseWriteDelay: a master that crashed in
// between comes back with the job pending, and the worker that holds the
// attempt (who names it) is the only one that can: no other worker was
// given that number. Only then: within dead_after of a master back from a
// crash, for a job of that master's, that w could have been leased (its
// type, its tags); else a worker naming a pending job would take it out
// of the queue and report any outcome for it. The caller holds the core's
// lock and touches j.
func (reg *registry) adoptUnwritten(j *jobs.Job, attempt int, w *workerRec, who string, now time.Time) (*batch, bool) {
	if j == nil || j.State != jobs.Pending || j.Attempt+1 != attempt || !reg.core.unwrittenLease(j, now) ||
		!slices.Contains(w.types, j.Spec.Type) || !w.hasTags(j.Spec.Tags) {
		return nil, false
	}
	j.Note(now, "adopted by "+who+": its lease had not reached the disk before the master stopped")
	_, b, err := reg.core.apply(jobChange{kind: changeLease, job: j.ID, worker: w.id, at: now})
	return b, err == nil
}

// staleRef reports whether an attempt a worker holds is one the master has
// moved on from (lost, timed out, superseded, or of an unknown job), rather
// than the repeat of an outcome it already recorded. j may be nil.
func staleRef(j *jobs.Job, ref rpcapi.JobRef) bool {
	if j == nil || j.Attempt != ref.Attempt {
		return true
	}
	c := j.Current()
	return c == nil || c.Outcome == jobs.Lost || c.Outcome == jobs.Timeout
}

// lose ends a running attempt as lost (requeue or fail). The caller holds
// the core's lock and has removed the lease.
func (reg *registry) lose(jobID string, attempt int, now time.Time, why string) {
	j, _, err := reg.core.apply(jobChange{kind: changeFinish, job: jobID, attempt: attempt, at: now,
		report: jobs.Report{Outcome: jobs.Lost, Error: why}})
	if err != nil {
		return
	}
	jobEntry(reg.log, j).WithField("state", j.State).Warn("attempt lost: " + why)
}

// retire marks w dead, requeues its leases and stops its sender. The caller
// holds the core's lock.
func (reg *registry) retire(w *workerRec, now time.Time, why string) {
	reg.core.bump()
	if !w.restored {
		reg.flaps.died(w.name)
	}
	w.state = rpcapi.WorkerDead
	w.died = now
	// A task still in the outbox never left the master: it goes back
	// without an attempt, as a refused one does.
	reg.takeBack(w, now, fmt.Sprintf("worker %s %s before it was sent", w.id, why))
	for id, l := range w.leases {
		reg.lose(id, l.attempt, now, fmt.Sprintf("worker %s %s", w.id, why))
	}
	clear(w.leases)
	w.cancelbox = nil
	reg.unindex(w)
	if w.stop != nil {
		w.stop()
	}
	w.poke()
	if w.restored {
		delete(reg.workers, w.id)
	} else {
		reg.core.abandonPinned(w.name, now)
	}
	reg.pruneDead()
}

// takeBack revokes the leases of the tasks in w's outbox, which never
// left the master, and empties it. The caller holds the core's lock.
func (reg *registry) takeBack(w *workerRec, now time.Time, why string) {
	for _, t := range w.outbox {
		revokeLease(reg.core, reg.log, w, t.JobID, t.Attempt, now, why) // a lease cancelled or ended while queued is left
	}
	clear(w.outbox)
	w.outbox = w.outbox[:0]
}

// unfetched takes back the tasks of a live pull worker that waited
// dead_after for a Fetch, and leases it nothing until its next one; it
// reports whether it took any. The caller holds the core's lock.
func (reg *registry) unfetched(w *workerRec, now time.Time) bool {
	if !w.pull || len(w.outbox) == 0 || w.notify != nil || now.Sub(later(w.fetched, w.outboxSince)) <= reg.deadAfter {
		return false
	}
	n := len(w.outbox)
	reg.takeBack(w, now, fmt.Sprintf("worker %s did not fetch it within dead_after (%s)", w.id, reg.deadAfter))
	w.unfetched = true
	reg.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "requeued": n}).
		Warn("pull worker fetched no task within dead_after: its tasks are requeued, and it gets none until it calls fetch_tasks")
	return true
}

// maxDead bounds how many dead workers are kept for listing.
const maxDead = 100

// pruneDead forgets the dead workers last heard from longest ago, beyond
// maxDead of them.
func (reg *registry) pruneDead() {
	var dead []*workerRec
	for _, w := range reg.workers {
		if w.state == rpcapi.WorkerDead {
			dead = append(dead, w)
		}
	}
	if len(dead) <= maxDead {
		return
	}
	slices.SortFunc(dead, func(a, b *workerRec) int { return a.lastBeat.Compare(b.lastBeat) })
	for _, w := range dead[:len(dead)-maxDead] {
		delete(reg.workers, w.id)
	}
}

// reapLoop declares silent workers dead and enforces the master-side job
// timeout backstop at every tick (start's ticker, which it stops).
func (reg *registry) reapLoop(tick <-chan time.Time, stop func()) {
	defer stop()
	for {
		select {
		case <-reg.ctx.Done():
			return
		case <-tick:
			reg.reap(reg.clock.Now())
		}
	}
}

// reap retires the workers silent for longer than dead_after, and ends
// as timed out the attempts past their deadline (the master's backstop).
func (reg *registry) reap(now time.Time) {
	if !reg.leads() {
		// Deposed (a leader continued after a pause, say): the workers
		// are the new leader's to judge; its writes would fail anyway.
		return
	}
	reg.core.lock()
	defer reg.core.unlock()
	reg.reapHeld(now)
}

// reapHeld is reap with the core's lock held.
func (reg *registry) reapHeld(now time.Time) {
	reg.core.writeHeld(now, false)
	kicked := reg.releaseFenced(now)
	for _, w := range reg.workers {
		if w.state == rpcapi.WorkerDead {
			continue
		}
		if h := time.Unix(0, w.heard.Load()); h.After(w.lastBeat) {
			w.lastBeat = h // heard; its call waits for the lock
		}
		if now.Sub(w.lastBeat) > reg.deadAfter {
			why := fmt.Sprintf("silent for %s", now.Sub(w.lastBeat).Round(time.Millisecond))
			// Tasks not yet sent are not the fence's to hold.
			reg.takeBack(w, now, fmt.Sprintf("worker %s %s before it was sent", w.id, why))
			held := reg.holdFenced(w) // until the worker's fence ends
			n := len(w.leases)
			reg.retire(w, now, why)
			if !w.restored {
				reg.reaped.Add(1)
				reg.metrics.reaped.Inc()
			}
			kicked = true
			if !w.restored {
				reg.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "requeued": n, "held_for_fence": held,
					"last_heartbeat": w.lastBeat.Format(time.RFC3339Nano)}).Warn("worker reaped")
			} else if n > 0 {
				reg.log.WithField("requeued", n).Warn("jobs running before the restart were not reclaimed by any worker")
			}
			continue
		}
		if reg.unfetched(w, now) {
			kicked = true
		}
		for id, l := range w.leases {
			if l.deadline.IsZero() || now.Before(l.deadline) || l.cancelled {
				continue
			}
			j := reg.core.job(id)
			delete(w.leases, id)
			if j == nil || j.State != jobs.Running || j.Attempt != l.attempt {
				continue
			}
			w.cancelbox = append(w.cancelbox, rpcapi.JobRef{JobID: id, Attempt: l.attempt})
			w.poke()
			reg.core.apply(jobChange{kind: changeFinish, job: id, attempt: l.attempt, at: now, report: jobs.Report{Outcome: jobs.Timeout,
				Error: fmt.Sprintf("no report within timeout %s (master backstop)", j.Spec.Timeout)}})
			jobEntry(reg.log, j).Warn("attempt timed out at the master")
		}
	}
	if kicked {
		reg.core.kick()
	}
}
