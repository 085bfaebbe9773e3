package master

import (
	"fmt"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The core's state changes, as values.
//
// After its submission (admitSubmitted), every change of a job in memory
// is one change below, made by apply: the job's own transition (jobs.Job's
// Lease, Revoke, Finish, Cancel, Abandon, Adopt, Retry, Settle), then the
// books that hang on a job's state: counts, the dispatch queue, limits,
// waiters, groups, broadcasts, schedules, and the commit batch that writes
// it. A change names its job by ID and carries all it needs, the time
// included, so it can be logged, replayed or sent to another master as it
// is; apply is the only caller of those transitions in the master. What is
// not a job's state stays with the part that owns it: a worker's leases
// and outbox (registry and dispatcher), notes on a job's timeline, and a
// job leaving memory (retention), which changes nothing on disk.

// changeKind is what a change does.
type changeKind uint8

const (
	// changeLease leases a pending job to worker as its next attempt.
	changeLease changeKind = iota + 1
	// changeRevoke takes back a lease that never started (refused, or
	// its assign failed): the job is pending again at once.
	changeRevoke
	// changeFinish ends attempt with report: the worker's, or one the
	// master makes for an attempt lost or timed out. The job is final,
	// or pending again after its backoff.
	changeFinish
	// changeCancel cancels a pending or running job.
	changeCancel
	// changeAbandon fails a pending job that can never run (why).
	changeAbandon
	// changeAdopt moves the running attempt to worker, which holds it
	// after registering again (why is the note).
	changeAdopt
	// changeRetry makes a failed or cancelled job pending again.
	changeRetry
	// changeSettle ends a broadcast job: succeeded when ok of its n
	// copies are all of them.
	changeSettle
)

var changeNames = [...]string{changeLease: "lease", changeRevoke: "revoke", changeFinish: "finish",
	changeCancel: "cancel", changeAbandon: "abandon", changeAdopt: "adopt", changeRetry: "retry", changeSettle: "settle"}

func (k changeKind) String() string {
	if int(k) < len(changeNames) && changeNames[k] != "" {
		return changeNames[k]
	}
	return fmt.Sprintf("change(%d)", k)
}

// jobChange is one state change of one job.
type jobChange struct {
	kind    changeKind
	job     string      // the job's ID
	at      time.Time   // when, on the master's clock
	worker  string      // lease, adopt: the worker
	attempt int         // revoke, finish, adopt: the attempt it is about
	report  jobs.Report // finish: the outcome
	why     string      // revoke, abandon, adopt: the reason, on the job's timeline
	ok, n   int         // settle: the copies that succeeded, of n
}

// apply makes c and keeps the books. It returns the job and the batch
// that writes the change; an error (the job is not in memory, or its
// state does not allow c: a stale attempt, a job already final) changes
// nothing. A job pending after c (revoked, retried, to be retried) is
// queued for dispatch, and the dispatcher is woken for it. The caller
// holds mu.
func (c *core) apply(ch jobChange) (*jobs.Job, *batch, error) {
	j := c.job(ch.job)
	if j == nil {
		return nil, nil, fmt.Errorf("%w: job %q is not in memory", rpcapi.ErrNotFound, ch.job)
	}
	before := j.State
	if err := c.transition(j, ch); err != nil {
		return j, nil, err
	}
	if before == jobs.Pending && j.State != jobs.Pending {
		c.queue.Remove(j.ID) // leased, cancelled or abandoned: only pending jobs are queued
	}
	if ch.kind == changeFinish {
		c.metrics.observeFinish(j)
	}
	b := c.touch(j, before)
	if j.State == jobs.Pending && before != jobs.Pending {
		c.enqueue(j)
		c.kick()
	}
	return j, b, nil
}

// transition is c's own transition of the job j.
func (c *core) transition(j *jobs.Job, ch jobChange) error {
	switch ch.kind {
	case changeLease:
		_, err := j.Lease(ch.worker, ch.at)
		return err
	case changeRevoke:
		return j.Revoke(ch.attempt, ch.at, ch.why)
	case changeFinish:
		r := ch.report
		r.Attempt = ch.attempt
		return j.Finish(r, ch.at, c.backoff())
	case changeCancel:
		return j.Cancel(ch.at)
	case changeAbandon:
		return j.Abandon(ch.at, ch.why)
	case changeAdopt:
		return j.Adopt(ch.attempt, ch.worker, ch.at, ch.why)
	case changeRetry:
		return j.Retry(ch.at)
	case changeSettle:
		return j.Settle(ch.ok, ch.n, ch.at)
	}
	return fmt.Errorf("master: unknown change %s", ch.kind)
}
