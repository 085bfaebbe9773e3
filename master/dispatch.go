package master

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// assignTimeout bounds one Assign or Cancel call to a worker.
const assignTimeout = 10 * time.Second

// dispatchLoop leases ready jobs to free slots whenever something changes
// (a submit, a result, a worker) and when a delayed job's time comes.
func (m *Master) dispatchLoop() {
	var due <-chan time.Time // nil: none until the first pass
	stop := func() bool { return false }
	defer func() { stop() }()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.kickc:
		case <-due:
		}
		stop()
		now := m.now()
		next := m.dispatch(now)
		if next.IsZero() {
			next = now.Add(time.Hour)
		}
		due, stop = m.clock.At(later(next, m.now().Add(time.Millisecond)))
	}
}

// candidate is a lane whose head job can be leased now, and the worker
// that would take it.
type candidate struct {
	lane     *lane
	w        *workerRec
	eligible int // live workers with a free slot that could take the lane's jobs
	prio     int
	seq      uint64
}

// dispatch leases as many ready jobs as there are free slots for them: the
// best job first (priority, then FIFO), to the capable worker with the most
// free slots. Jobs go out in runs: a worker gets the next jobs of a lane
// while they still come first, up to its free slots and its share of the
// lane (the lane's ready jobs over the workers that could take them), so
// Assign calls carry many jobs while a short queue still spreads out. It
// returns when the next delayed job becomes ready.
//
// The ready lanes are examined once a pass, into a heap of candidates by
// their head job; a candidate is checked again when it comes out (the
// leases before it may have filled its worker or reached its limits: a
// lease never makes a lane eligible that was not), and goes back in while
// its lane has ready jobs. A pass costs O(lanes + leases × log lanes), not
// a scan of every lane for every lease: thousands of one-job lanes (one
// limit key each) held the lock for seconds and got healthy workers reaped.
func (m *Master) dispatch(now time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writeHeld(now, false) // also run by the reaper, for an idle master
	if now.Before(m.graceUntil) {
		return m.graceUntil
	}
	p := &dispatchPass{m: m, now: now, next: m.queue.Promote(now)}
	cands := m.cands[:0]
	for _, name := range m.queue.ReadyTypes() {
		if c, ok := p.consider(name, m.lim.lanes[name]); ok {
			cands = append(cands, c)
		}
	}
	h := &candHeap{c: cands}
	heap.Init(h)
	woken := m.woken[:0]
	for h.Len() > 0 {
		best, ok := p.consider(h.c[0].lane.name, h.c[0].lane)
		if !ok {
			heap.Pop(h)
			continue
		}
		if best.prio != h.c[0].prio || best.seq != h.c[0].seq { // not reached: only a pop changes a head
			h.c[0] = best
			heap.Fix(h, 0)
			continue
		}
		heap.Pop(h)
		var second candidate
		if h.Len() > 0 {
			second = h.c[0]
		}
		l, w := best.lane, best.w
		m.leaseRun(best, second, now)
		if !slices.Contains(woken, w) {
			woken = append(woken, w)
		}
		if m.queue.Ready(l.name) > 0 {
			if c, ok := p.consider(l.name, l); ok {
				heap.Push(h, c)
			}
		}
	}
	clear(h.c)
	m.cands = h.c[:0]
	for i, w := range woken {
		w.poke()
		woken[i] = nil
	}
	m.woken = woken[:0]
	return p.next
}

// dispatchPass is one pass of dispatch: when it runs, and the soonest
// time a lane held back now may have a candidate.
type dispatchPass struct {
	m    *Master
	now  time.Time
	next time.Time // zero: nothing waits
}

// soonest brings p.next forward to t, if t is set and sooner.
func (p *dispatchPass) soonest(t time.Time) {
	if !t.IsZero() && (p.next.IsZero() || t.Before(p.next)) {
		p.next = t
	}
}

// consider returns the lane's candidate, if it has one now. The caller
// holds mu.
func (p *dispatchPass) consider(name string, l *lane) (candidate, bool) {
	m := p.m
	if l == nil { // swept while its jobs waited out a delay
		id, _, _, _ := m.queue.Head(name)
		l = m.lim.laneOf(m.job(id))
	}
	w, eligible, held := m.pickWorker(l, p.now)
	if w == nil {
		// A worker held back after a failed or refused Assign gets
		// the lane's jobs when its hold ends, not when something
		// unrelated wakes dispatch.
		p.soonest(held)
		return candidate{}, false
	}
	if why, wake := m.lim.blocked(l, p.now); why != "" {
		p.soonest(wake)
		return candidate{}, false
	}
	_, prio, seq, ok := m.queue.Head(name)
	return candidate{lane: l, w: w, eligible: eligible, prio: prio, seq: seq}, ok
}

// leaseRun leases the next jobs of best's lane to its worker while they
// come before second's head job, up to the worker's free slots and its
// share of the lane, and while the lane's limits allow. The caller holds mu.
func (m *Master) leaseRun(best, second candidate, now time.Time) {
	l, w := best.lane, best.w
	run := min(w.free(), (m.queue.Ready(l.name)+best.eligible-1)/best.eligible)
	for i := range run {
		if i > 0 {
			if why, _ := m.lim.blocked(l, now); why != "" {
				break
			}
			_, p, seq, ok := m.queue.Head(l.name)
			if !ok || (second.w != nil && jobs.Before(second.prio, second.seq, p, seq)) {
				break
			}
		}
		m.lim.took(l)
		if j, _ := m.queue.Pop(l.name); j != nil && j.State == jobs.Pending {
			m.lease(j, w, now)
		}
	}
}

// candHeap orders candidates by their lane's head job, the best first.
type candHeap struct{ c []candidate }

func (h *candHeap) Len() int { return len(h.c) }
func (h *candHeap) Less(a, b int) bool {
	return jobs.Before(h.c[a].prio, h.c[a].seq, h.c[b].prio, h.c[b].seq)
}
func (h *candHeap) Swap(a, b int) { h.c[a], h.c[b] = h.c[b], h.c[a] }
func (h *candHeap) Push(x any)    { h.c = append(h.c, x.(candidate)) }
func (h *candHeap) Pop() any {
	c := h.c[len(h.c)-1]
	h.c[len(h.c)-1] = candidate{}
	h.c = h.c[:len(h.c)-1]
	return c
}

// lease leases the pending job j to w and puts it in w's outbox. The
// caller holds mu.
func (m *Master) lease(j *jobs.Job, w *workerRec, now time.Time) {
	ready := j.Updated
	if j.NotBefore.After(ready) {
		ready = j.NotBefore
	}
	if _, _, err := m.apply(jobChange{kind: changeLease, job: j.ID, worker: w.id, at: now}); err != nil {
		return
	}
	att := j.Attempt
	m.metrics.dispatch.Observe(now.Sub(ready).Seconds())
	w.leases[j.ID] = &lease{job: j, attempt: att, deadline: m.deadline(j, now)}
	w.outbox = append(w.outbox, rpcapi.Task{
		JobID: j.ID, Attempt: att, Type: j.Spec.Type, Args: j.Spec.Args, Timeout: j.Spec.Timeout, Input: j.Spec.Input,
		Group: j.Spec.Group,
	})
	if m.debug {
		m.jobLog(j).Debug("job dispatched")
	}
}

// pickWorker returns the live worker with the lane's type and tags and the
// most free slots, or nil, and how many such workers have a free slot. When
// it returns nil because every such worker is held back (backoffUntil), held
// is the earliest end of those holds. The caller holds mu.
func (m *Master) pickWorker(l *lane, now time.Time) (best *workerRec, n int, held time.Time) {
	for _, w := range m.reg.byType[l.typ] {
		if w.state != rpcapi.WorkerAlive || w.free() <= 0 || !w.hasTags(l.tags) || (l.pin != "" && w.name != l.pin) {
			continue
		}
		if now.Before(w.backoffUntil) {
			if held.IsZero() || w.backoffUntil.Before(held) {
				held = w.backoffUntil
			}
			continue
		}
		n++
		if best == nil || w.free() > best.free() || (w.free() == best.free() && w.id < best.id) {
			best = w
		}
	}
	if best != nil {
		held = time.Time{}
	}
	return best, n, held
}

// maxAssigning bounds the Assign (and Cancel) calls in flight to one
// worker. With two, jobs leased while one call is on the wire go out
// without waiting for its answer.
const maxAssigning = 2

// sendLoop delivers one worker's outbox (Assign) and cancel box (Cancel). It
// runs until the worker is retired or the master stops.
func (m *Master) sendLoop(ctx context.Context, w *workerRec) {
	wc := rpcapi.WorkerClient{C: w.client}
	var calls sync.WaitGroup
	defer calls.Wait()
	sem := make(chan struct{}, maxAssigning)
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		for {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			m.mu.Lock()
			out := w.takeOutbox(m.cfg.AssignBatch)
			cancels := w.cancelbox
			w.cancelbox = nil
			m.mu.Unlock()
			if len(out) == 0 && len(cancels) == 0 {
				<-sem
				break
			}
			calls.Go(func() {
				defer func() { <-sem }()
				if len(cancels) > 0 {
					cctx, cancel := context.WithTimeout(ctx, assignTimeout)
					if err := wc.Cancel(cctx, &rpcapi.WorkerCancelArgs{Secret: w.secret, Jobs: cancels}); err != nil {
						m.log.WithError(err).WithField("worker", w.id).Warn("cancel call failed; the next heartbeat repeats it")
					}
					cancel()
				}
				if len(out) > 0 {
					m.assign(ctx, w, wc, out)
				}
			})
		}
	}
}

// assign sends one Assign call.
func (m *Master) assign(ctx context.Context, w *workerRec, wc rpcapi.WorkerClient, out []rpcapi.Task) {
	// Leases are not awaited on disk: a master that stops before they get
	// there adopts the attempts from the workers' re-registration.
	args := &rpcapi.AssignArgs{WorkerID: w.id, Secret: w.secret, Tasks: out}
	actx, cancel := context.WithTimeout(ctx, assignTimeout)
	reply, err := wc.Assign(actx, args)
	cancel()
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			// The master is stopping (or the worker was retired, which
			// requeued its leases already). The call may have reached the
			// worker, so the leases stay: a restarted master adopts them
			// when the worker registers again, or loses them after
			// dead_after.
			return
		}
		m.log.WithError(err).WithField("worker", w.id).Warn("assign failed; jobs requeued")
		w.backoffUntil = now.Add(m.cfg.HeartbeatInterval)
		for _, t := range args.Tasks {
			m.revoke(w, t.JobID, t.Attempt, now, fmt.Sprintf("assign to %s failed: %v", w.id, err))
		}
		m.kick()
		return
	}
	for _, ref := range reply.Accepted {
		if l := w.leases[ref.JobID]; l != nil && l.attempt == ref.Attempt && l.acked.IsZero() {
			l.acked = now
			if j := l.job; j.State == jobs.Running && j.Attempt == ref.Attempt {
				j.Note(now, "started on "+w.id+" ("+w.name+")")
			}
		}
	}
	for _, rej := range reply.Rejected {
		m.revoke(w, rej.JobID, rej.Attempt, now, fmt.Sprintf("%s refused it: %s", w.id, rej.Reason))
	}
	if len(reply.Rejected) > 0 {
		// Give the worker a moment (a run still stopping holds its slot)
		// instead of a tight assign-and-refuse loop.
		w.backoffUntil = now.Add(min(m.cfg.HeartbeatInterval/4, 250*time.Millisecond))
		m.kick()
	}
}

// revoke takes back a lease that never started. The caller holds mu.
func (m *Master) revoke(w *workerRec, jobID string, attempt int, now time.Time, why string) {
	if l := w.leases[jobID]; l != nil && l.attempt == attempt {
		delete(w.leases, jobID)
	}
	j, _, err := m.apply(jobChange{kind: changeRevoke, job: jobID, attempt: attempt, at: now, why: why})
	if err != nil {
		return
	}
	m.jobLog(j).Info("lease revoked: " + why)
}
