package master

import (
	"container/heap"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/logx"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// This file holds the dispatcher: the loop that leases ready jobs to free
// slots (a pass over the lanes' candidates, in a heap by their head job),
// and the leases it makes. The per-worker send loops that deliver them are
// in send.go. The dispatcher owns its loop, the send loops and its scratch
// heap; it reaches the jobs, the queue, the lanes and the workers through
// dispatchCore, which the core implements (core.go), under the core's one
// lock, which also guards a worker's leases and outbox.

// dispatchCore is what the dispatcher needs of the core. lock and unlock
// take and release the core's lock; the methods marked "locked" need it
// held.
type dispatchCore interface {
	lock()
	unlock()
	job(id string) *jobs.Job                      // locked: the job in memory, or nil
	apply(c jobChange) (*jobs.Job, *batch, error) // locked: make a lease or revoke change
	deadline(j *jobs.Job, started time.Time) time.Time
	writeHeld(now time.Time, all bool) // locked: write the fresh leases due by now
	graceEnd() time.Time               // locked: until when dispatch is held after a crash
	pendingQueue() *jobs.Queue         // locked: the pending jobs by lane, ready and delayed
	laneLimits() *limits               // locked: the lanes, running counts and rate buckets
	// pickWorker is the registry's choice of a worker for lane l (locked).
	pickWorker(l *lane, now time.Time) (w *workerRec, eligible int, held time.Time)
	// handOutReply marks w's tasks out as sent in a reply and returns those
	// still leased (locked).
	handOutReply(w *workerRec, out []rpcapi.Task) []rpcapi.Task
}

// notLeadingRetry is when a dispatch pass that found the master no longer
// leading its group looks again.
const notLeadingRetry = 100 * time.Millisecond

// dispatcher leases ready jobs to free slots and sends them to the
// workers. Create it with newDispatcher; Master.Start starts it and
// Master.shutdown stops it.
type dispatcher struct {
	core    dispatchCore
	clock   clock
	log     logrus.FieldLogger
	latency prometheus.Observer // from ready to leased
	batch   int                 // the most jobs in one Assign call
	beat    time.Duration       // the heartbeat interval: a failed Assign's hold
	leads   func() bool         // Config.leads: no lease, assign or cancel without it
	term    int64               // Config.Term, sent with every assign and cancel

	kickc chan struct{}
	woken []*workerRec // a pass's scratch list, reused; guarded by the core's lock
	cands []candidate  // a pass's scratch heap, reused; guarded by the core's lock
	// Guarded by the core's lock: when the loop's next pass is due (zero:
	// only when kicked), and the worker whose report runs a pass (fill),
	// whose sender that pass does not wake.
	due    time.Time
	inline *workerRec

	ctx    context.Context // cancelled by stop: the loop and every send loop end
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newDispatcher(core dispatchCore, c clock, log logrus.FieldLogger, latency prometheus.Observer, cfg *Config) *dispatcher {
	d := &dispatcher{core: core, clock: c, log: log, latency: latency,
		batch: cfg.AssignBatch, beat: cfg.HeartbeatInterval, leads: cfg.leads, term: cfg.Term, kickc: make(chan struct{}, 1)}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// start starts the dispatch loop.
func (d *dispatcher) start() { d.wg.Go(d.loop) }

// stop ends the dispatch loop and the send loops and waits for them. It
// is safe to call more than once, and before start.
func (d *dispatcher) stop() {
	d.cancel()
	d.wg.Wait()
}

// kick wakes the dispatch loop for a pass. It never blocks.
func (d *dispatcher) kick() {
	select {
	case d.kickc <- struct{}{}:
	default:
	}
}

// loop leases ready jobs to free slots whenever something changes (a
// submit, a result, a worker) and when a delayed job's time comes.
func (d *dispatcher) loop() {
	var due <-chan time.Time // nil: none until the first pass
	stop := func() bool { return false }
	defer func() { stop() }()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.kickc:
		case <-due:
		}
		stop()
		now := d.clock.Now()
		d.core.lock()
		next := d.pass(now)
		d.due = next
		d.core.unlock()
		if next.IsZero() {
			next = now.Add(time.Hour)
		}
		due, stop = d.clock.At(later(next, d.clock.Now().Add(time.Millisecond)))
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

// pass leases as many ready jobs as there are free slots for them: the
// best job first (priority, then FIFO), to the capable worker with the most
// free slots. Jobs go out in runs: a worker gets the next jobs of a lane
// while they still come first, up to its free slots and its share of the
// lane (the lane's ready jobs over the workers that could take them), so
// Assign calls carry many jobs while a short queue still spreads out. It
// returns when the next delayed job becomes ready. The caller holds the
// core's lock.
//
// The ready lanes are examined once a pass, into a heap of candidates by
// their head job; a candidate is checked again when it comes out (the
// leases before it may have filled its worker or reached its limits: a
// lease never makes a lane eligible that was not), and goes back in while
// its lane has ready jobs. A pass costs O(lanes + leases × log lanes), not
// a scan of every lane for every lease: thousands of one-job lanes (one
// limit key each) held the lock for seconds and got healthy workers reaped.
func (d *dispatcher) pass(now time.Time) time.Time {
	d.core.writeHeld(now, false) // also run by the reaper, for an idle master
	if grace := d.core.graceEnd(); now.Before(grace) {
		return grace
	}
	if !d.leads() {
		return now.Add(notLeadingRetry) // deposed: the master is being stopped
	}
	q, lim := d.core.pendingQueue(), d.core.laneLimits()
	p := &dispatchPass{d: d, q: q, lim: lim, now: now, next: q.Promote(now)}
	cands := d.cands[:0]
	for _, name := range q.ReadyTypes() {
		if c, ok := p.consider(name, lim.lanes[name]); ok {
			cands = append(cands, c)
		}
	}
	h := &candHeap{c: cands}
	heap.Init(h)
	woken := d.woken[:0]
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
		p.leaseRun(best, second)
		if !slices.Contains(woken, w) {
			woken = append(woken, w)
		}
		if q.Ready(l.name) > 0 {
			if c, ok := p.consider(l.name, l); ok {
				heap.Push(h, c)
			}
		}
	}
	clear(h.c)
	d.cands = h.c[:0]
	for i, w := range woken {
		if w != d.inline && (!w.unpark(d.core.handOutReply) || len(w.outbox) > 0) {
			w.poke()
		}
		woken[i] = nil
	}
	d.woken = woken[:0]
	return p.next
}

// fillPassLanes is the most ready lanes for which a change runs a
// dispatch pass in its own goroutine (passHere).
const fillPassLanes = 64

// fill runs a pass for a report from w that asked for its next tasks
// (CompleteArgs.Want) and returns up to want of w's leased tasks, which
// the reply carries instead of an Assign call. w's sender is not woken
// for them, and the loop only when the pass found a delayed job due
// before its next pass. With over fillPassLanes ready lanes it runs no
// pass and wakes the loop instead. The caller holds the core's lock.
func (d *dispatcher) fill(w *workerRec, want int, now time.Time) []rpcapi.Task {
	d.inline = w
	d.passHere(now)
	d.inline = nil
	out := w.takeOutbox(want)
	if len(w.outbox) > 0 {
		w.poke()
	}
	return out
}

// passHere runs a pass in the caller's goroutine, for a change that made
// jobs ready (a submit, or a report that asks for tasks): on an idle
// master, waking the loop for it costs a goroutine hand-off and, on an
// idle machine, a thread's wake-up. It wakes the loop instead when over
// fillPassLanes lanes are ready (a pass costs O(ready lanes), and the
// loop's passes coalesce), and also when the pass found a delayed job
// due before the loop's next pass. After stop it does nothing. The caller
// holds the core's lock.
func (d *dispatcher) passHere(now time.Time) {
	switch {
	case d.ctx.Err() != nil:
	case d.core.pendingQueue().ReadyLanes() > fillPassLanes:
		d.kick()
	default:
		next := d.pass(now)
		if !next.IsZero() && (d.due.IsZero() || next.Before(d.due)) {
			d.kick()
		}
	}
}

// dispatchPass is one pass of dispatch: when it runs, and the soonest
// time a lane held back now may have a candidate.
type dispatchPass struct {
	d    *dispatcher
	q    *jobs.Queue
	lim  *limits
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
// holds the core's lock.
func (p *dispatchPass) consider(name string, l *lane) (candidate, bool) {
	core := p.d.core
	if l == nil { // swept while its jobs waited out a delay
		id, _, _, _ := p.q.Head(name)
		l = p.lim.laneOf(core.job(id))
	}
	w, eligible, held := core.pickWorker(l, p.now)
	if w == nil {
		// A worker held back after a failed or refused Assign gets
		// the lane's jobs when its hold ends, not when something
		// unrelated wakes dispatch.
		p.soonest(held)
		return candidate{}, false
	}
	if why, wake := p.lim.blocked(l, p.now); why != "" {
		p.soonest(wake)
		return candidate{}, false
	}
	_, prio, seq, ok := p.q.Head(name)
	return candidate{lane: l, w: w, eligible: eligible, prio: prio, seq: seq}, ok
}

// leaseRun leases the next jobs of best's lane to its worker while they
// come before second's head job, up to the worker's free slots and its
// share of the lane, and while the lane's limits allow. The caller holds
// the core's lock.
func (p *dispatchPass) leaseRun(best, second candidate) {
	l, w := best.lane, best.w
	run := min(w.free(), (p.q.Ready(l.name)+best.eligible-1)/best.eligible)
	for i := range run {
		if i > 0 {
			if why, _ := p.lim.blocked(l, p.now); why != "" {
				break
			}
			_, prio, seq, ok := p.q.Head(l.name)
			if !ok || (second.w != nil && jobs.Before(second.prio, second.seq, prio, seq)) {
				break
			}
		}
		p.lim.took(l)
		if j, _ := p.q.Pop(l.name); j != nil && j.State == jobs.Pending {
			p.d.lease(j, w, p.now)
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
// caller holds the core's lock.
func (d *dispatcher) lease(j *jobs.Job, w *workerRec, now time.Time) {
	ready := j.Updated
	if j.NotBefore.After(ready) {
		ready = j.NotBefore
	}
	if _, _, err := d.core.apply(jobChange{kind: changeLease, job: j.ID, worker: w.id, at: now}); err != nil {
		return
	}
	att := j.Attempt
	d.latency.Observe(now.Sub(ready).Seconds())
	w.leases[j.ID] = &lease{job: j, attempt: att, deadline: d.core.deadline(j, now)}
	if len(w.outbox) == 0 {
		w.outboxSince = now
	}
	w.outbox = append(w.outbox, rpcapi.Task{
		JobID: j.ID, Attempt: att, Type: j.Spec.Type, Args: j.Spec.Args, Timeout: j.Spec.Timeout, Input: j.Spec.Input,
		Group: j.Spec.Group,
	})
	if logx.DebugOn(d.log) { // read each time: SIGHUP may change the level
		jobEntry(d.log, j).Debug("job dispatched")
	}
}
