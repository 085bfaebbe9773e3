package worker

import (
	"context"
	"sync"
	"time"
)

// A worker fences itself: the master reaps a worker whose heartbeats it
// has not heard for dead_after, and then leases its jobs elsewhere, so a
// worker that has not had a heartbeat answered for dead_after stops its
// running jobs first. The fence deadline is the time the last answered
// heartbeat (or registration) was sent plus dead_after: the master heard
// that beat after it was sent, so it cannot reap the worker before the
// deadline (clock-rate drift aside). At the deadline the worker cancels
// its runs (SIGTERM, kill_grace, SIGKILL for a subprocess) and does not
// report them, and refuses assignments until a heartbeat is answered
// again. Its watchdog (internal/watchdog) keeps the deadline too, so that
// it holds while the worker itself is stopped (SIGSTOP, a paused
// process). The master holds a reaped worker's jobs for the fence grace
// the worker announced at registration (kill_grace plus fenceSlack)
// before it requeues them.

// fenceSlack is what the worker adds to kill_grace in the fence grace it
// announces: the time to deliver the SIGKILLs and see the processes gone
// (the watchdog scans every ScanGap).
const fenceSlack = time.Second

// fence is the worker's fence deadline.
type fence struct {
	mu       sync.Mutex    // guards the fields below
	deadline time.Time     // zero: none (not registered yet, or no dead_after)
	lapsed   time.Time     // the latest deadline that passed without renewal
	changed  chan struct{} // wakes loop
}

func newFence() *fence { return &fence{changed: make(chan struct{}, 1)} }

// expired reports whether the deadline has passed (as of now).
func (f *fence) expired(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.deadline.IsZero() && !now.Before(f.deadline)
}

// lapsedSince reports whether a deadline passed without renewal after
// since and by now: a run that started at since was fenced.
func (f *fence) lapsedSince(since, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	last := f.lapsed
	if !f.deadline.IsZero() && !now.Before(f.deadline) {
		last = f.deadline
	}
	return !last.IsZero() && last.After(since)
}

// renew moves the deadline to deadline, at now, and reports whether it
// moved. A deadline earlier than the current one is ignored: it comes
// from a beat sent earlier whose answer arrived later.
func (f *fence) renew(deadline, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.deadline.IsZero() && !deadline.After(f.deadline) {
		return false
	}
	live := !f.deadline.IsZero() && now.Before(f.deadline)
	if !f.deadline.IsZero() && !live {
		f.lapsed = f.deadline
	}
	f.deadline = deadline
	if !live {
		// The loop waits for no deadline (none yet, or the last one
		// passed): wake it. A live one it wakes for, and finds moved.
		select {
		case f.changed <- struct{}{}:
		default:
		}
	}
	return true
}

// current returns the deadline.
func (f *fence) current() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deadline
}

// loop calls expire each time the deadline passes without a renewal,
// until ctx is done.
func (f *fence) loop(ctx context.Context, expire func()) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	fired := time.Time{} // the deadline expire was called for
	for {
		d := f.current()
		wait := time.Hour
		if !d.IsZero() && !d.Equal(fired) {
			wait = max(time.Until(d), 0)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-f.changed:
		case <-t.C:
			if !d.IsZero() && !d.Equal(fired) && f.expired(time.Now()) {
				fired = d
				expire()
			}
		}
	}
}

// renewFence moves the fence deadline to sent + dead_after: a heartbeat
// (or registration, or a report the master took as a beat) sent at sent
// has been answered. The watchdog learns the new deadline too, when it
// has moved by watchdogStep since the watchdog was last told: reports
// renew the fence at every job's end, and each telling wakes the
// watchdog's process.
func (w *Worker) renewFence(sent time.Time) {
	w.mu.Lock()
	deadAfter := w.deadAfter
	w.mu.Unlock()
	if w.cfg.NoFence || deadAfter <= 0 {
		return
	}
	deadline := sent.Add(deadAfter)
	if !w.fence.renew(deadline, time.Now()) || w.wd == nil {
		return
	}
	w.mu.Lock()
	if !w.wdTold.IsZero() && !time.Now().Before(w.wdTold) {
		w.wdLapsed = w.wdTold // the watchdog stopped the jobs then
	}
	tell := deadline.Sub(w.wdTold) >= min(deadAfter/8, watchdogStep)
	if tell {
		w.wdTold = deadline
	}
	w.mu.Unlock()
	if tell {
		if err := w.wd.Deadline(deadline); err != nil {
			w.log.WithError(err).Warn("cannot tell the watchdog the fence deadline")
		}
	}
}

// fencedRun reports whether a run that started at since and failed at
// now may have been stopped by a fence: the worker's deadline, or the
// watchdog's, which can be up to watchdogStep earlier, passed between the
// two (so the watchdog's SIGTERM can end a job before the worker's own
// deadline, and before a renewal the watchdog has not heard of). The
// caller holds mu.
func (w *Worker) fencedRun(since, now time.Time) bool {
	if w.cfg.NoFence {
		return false
	}
	last := w.wdLapsed
	if !w.wdTold.IsZero() && !now.Before(w.wdTold) {
		last = w.wdTold
	}
	return w.fence.lapsedSince(since, now) || (!last.IsZero() && last.After(since))
}

// watchdogStep is how far the fence deadline moves before the watchdog is
// told again (an eighth of dead_after when that is less): the watchdog's
// deadline is never later than the worker's, and at most that much
// earlier.
const watchdogStep = 100 * time.Millisecond

// fenced reports whether the worker is past its fence deadline: it takes
// no job then.
func (w *Worker) fenced() bool { return !w.cfg.NoFence && w.fence.expired(time.Now()) }

// fenceRuns stops every running job, unreported, when the fence deadline
// passes: the master may reap the worker from now on and lease them
// elsewhere.
func (w *Worker) fenceRuns() {
	w.mu.Lock()
	n := 0
	for _, r := range w.running {
		if !r.drop {
			r.drop = true
			r.cancel()
			n++
		}
	}
	w.mu.Unlock()
	if n > 0 {
		w.log.WithField("jobs", n).Warn("no heartbeat answered within the master's dead_after: stopping the running jobs unreported (fence)")
	}
}
