package master

import (
	"fmt"
	"time"

	"github.com/drover/drover/jobs"
)

// A worker that fences itself (rpcapi.RegisterArgs.FenceGrace) stops its
// running jobs once it has had no heartbeat answered for dead_after: the
// last beat answered was sent before the master heard it, so the worker
// starts stopping no later than the master reaps it, and its jobs are
// gone within FenceGrace after that. When the master reaps such a worker
// it holds the worker's leases until lastBeat + dead_after +
// fenceHold(FenceGrace) before it requeues them as lost: until then the
// jobs stay running in the books, so no other worker gets them and their
// limit keys stay taken. The margin assumes the master's and the worker's
// clocks run at rates within driftBound of each other.

// driftBound is the assumed bound on the difference between the rates of
// the master's and a worker's clocks (1%: NTP-disciplined clocks are
// within 0.05%).
const driftBound = 0.01

// fenceHold is how long past dead_after the master holds a reaped
// fencing worker's leases: the worker's grace, plus twice driftBound of
// the whole interval from its last beat, so that a worker clock slow by
// driftBound and a master clock fast by as much still agree.
func fenceHold(grace, deadAfter time.Duration) time.Duration {
	return grace + time.Duration(2*driftBound*float64(deadAfter+grace))
}

// fencedLease is a lease of a reaped worker held until its fence ends.
type fencedLease struct {
	job     string
	attempt int
	worker  string
	until   time.Time
}

// holdFenced moves the leases of w, a fencing worker being reaped, to
// the held list, and returns how many. The caller holds the core's lock.
func (reg *registry) holdFenced(w *workerRec) int {
	if w.fenceGrace <= 0 || w.restored {
		return 0
	}
	n := len(w.leases)
	until := w.lastBeat.Add(reg.deadAfter + fenceHold(w.fenceGrace, reg.deadAfter))
	for id, l := range w.leases {
		reg.fenced = append(reg.fenced, fencedLease{job: id, attempt: l.attempt, worker: w.id, until: until})
	}
	clear(w.leases)
	return n
}

// releaseFenced requeues, as lost, the held leases whose fence has ended
// and whose job still runs that attempt on that worker, and reports
// whether it did any. The caller holds the core's lock.
func (reg *registry) releaseFenced(now time.Time) bool {
	released := false
	kept := reg.fenced[:0]
	for _, f := range reg.fenced {
		if now.Before(f.until) {
			kept = append(kept, f)
			continue
		}
		if j := reg.core.job(f.job); j != nil && j.State == jobs.Running && j.Attempt == f.attempt && j.Worker == f.worker {
			reg.lose(f.job, f.attempt, now, fmt.Sprintf("worker %s reaped; its fence ended", f.worker))
			released = true
		}
	}
	clear(reg.fenced[len(kept):])
	reg.fenced = kept
	return released
}
