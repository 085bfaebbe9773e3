package jobs

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"
)

// Errors returned by the state transitions.
var (
	// ErrStale is returned for a report whose attempt is not the job's live
	// lease: it comes from a worker that was reaped, or the job has moved on.
	ErrStale = errors.New("jobs: stale report")
	// ErrState is returned for a transition the job's state does not allow.
	ErrState = errors.New("jobs: wrong state")
)

// Lease moves a pending job to running under worker, as a new attempt, and
// returns the attempt number.
func (j *Job) Lease(worker string, now time.Time) (int, error) {
	if j.State != Pending {
		return 0, fmt.Errorf("%w: lease of %s job %s", ErrState, j.State, j.ID)
	}
	j.State = Running
	j.Attempt++
	j.Worker = worker
	j.NotBefore = time.Time{}
	j.Updated = now
	j.Attempts = append(j.Attempts, Attempt{N: j.Attempt, Worker: worker, Started: now})
	// Room for this attempt's events (dispatched, started, ended) in one
	// allocation.
	j.Events = slices.Grow(j.Events, 3)
	j.Note(now, notes.text(noteDispatched, worker, j.Attempt))
	return j.Attempt, nil
}

// Revoke takes back a lease that never started (the worker refused it or
// could not be reached): the job is pending again and the attempt record is
// removed. The attempt number stays used, so a late report for it is stale.
func (j *Job) Revoke(attempt int, now time.Time, why string) error {
	if j.State != Running || j.Attempt != attempt {
		return ErrStale
	}
	if a := j.Current(); a != nil {
		j.Attempts = j.Attempts[:len(j.Attempts)-1]
	}
	j.State = Pending
	j.Worker = ""
	j.Updated = now
	j.Log(now, "requeued: %s", why)
	return nil
}

// Report is a finished attempt as the master records it.
type Report struct {
	Attempt int
	Outcome Outcome
	Result  Result
	Error   string
	// Permanent marks a failure that retrying cannot fix (a missing arg, an
	// unknown type): the job fails at once whatever its retries.
	Permanent bool
	// Timeout is the bound the worker applied to the attempt, and
	// TimeoutFrom where it came from ("job" or "template"); zero: none.
	Timeout     time.Duration
	TimeoutFrom string
}

// Backoff computes the retry delay after n failures: base doubled per failure
// up to max, with equal jitter (half fixed, half random).
type Backoff struct {
	Base time.Duration
	Max  time.Duration
	// Rand returns a number in [0,1). Nil means math/rand/v2.
	Rand func() float64
}

// Delay returns the wait before the retry that follows the n-th failure.
func (b Backoff) Delay(n int) time.Duration {
	if n < 1 || b.Base <= 0 {
		return 0
	}
	d := b.Base
	for i := 1; i < n && (b.Max <= 0 || d < b.Max) && d < time.Hour*24*365; i++ {
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	half := d / 2
	return half + time.Duration(r()*float64(d-half))
}

// Finish records the end of a running attempt and moves the job on:
// succeeded on ok; failed when the failure is permanent or the retries are
// used up; otherwise pending again after the backoff delay. A report for any
// attempt but the live one returns ErrStale and changes nothing.
func (j *Job) Finish(r Report, now time.Time, b Backoff) error {
	if j.State != Running || r.Attempt != j.Attempt {
		return ErrStale
	}
	if !r.Outcome.Valid() {
		return fmt.Errorf("jobs: unknown outcome %q", r.Outcome)
	}
	a := j.Current()
	if a == nil {
		return ErrStale
	}
	a.Ended = now
	a.Outcome = r.Outcome
	a.ExitCode = r.Result.ExitCode
	a.Error = r.Error
	a.Output = r.Result.Output
	a.Data = r.Result.Data
	a.Stats = maps.Clone(r.Result.Stats)
	a.Timeout, a.TimeoutFrom = "", r.TimeoutFrom
	if r.Timeout > 0 {
		a.Timeout = r.Timeout.String()
	}
	worker := j.Worker
	j.Worker = ""
	j.Updated = now
	switch {
	case r.Outcome == OK:
		j.State = Succeeded
		j.Note(now, notes.text(noteSucceeded, worker, r.Attempt))
	case r.Outcome == OutcomeCanceled:
		j.State = Cancelled
		j.Log(now, "attempt %d on %s: cancelled", r.Attempt, worker)
	case r.Permanent:
		j.State = Failed
		j.Log(now, "attempt %d on %s: %s: %s; failed without retry", r.Attempt, worker, r.Outcome, r.Error)
	case j.Failures() > j.Spec.Retries:
		j.State = Failed
		j.Log(now, "attempt %d on %s: %s: %s; failed after %d attempts", r.Attempt, worker, r.Outcome, r.Error, len(j.Attempts))
	default:
		j.State = Pending
		d := b.Delay(j.Failures())
		j.NotBefore = now.Add(d)
		j.Log(now, "attempt %d on %s: %s: %s; retry in %s", r.Attempt, worker, r.Outcome, r.Error, d.Round(time.Millisecond))
	}
	return nil
}

// Cancel ends a live job as cancelled. A running attempt is closed as
// cancelled; the worker's later report for it is stale.
func (j *Job) Cancel(now time.Time) error {
	switch j.State {
	case Pending:
	case Running:
		if a := j.Current(); a != nil {
			a.Ended = now
			a.Outcome = OutcomeCanceled
			a.Error = "cancelled by request"
		}
		j.Worker = ""
	default:
		return fmt.Errorf("%w: job %s is already %s", ErrState, j.ID, j.State)
	}
	j.State = Cancelled
	j.Updated = now
	j.Log(now, "cancelled by request")
	return nil
}

// AbandonedNote begins the timeline event of a job Abandon failed; the
// rest says why.
const AbandonedNote = "failed without running: "

// Abandon fails a pending job that can never run (its pinned worker is
// gone).
func (j *Job) Abandon(now time.Time, why string) error {
	if j.State != Pending {
		return fmt.Errorf("%w: abandon of %s job %s", ErrState, j.State, j.ID)
	}
	j.State = Failed
	j.Updated = now
	j.Note(now, AbandonedNote+why)
	return nil
}

// Retry makes a failed or cancelled job pending again, at once, by
// request. Its attempts stay; the next is numbered after them.
func (j *Job) Retry(now time.Time) error {
	if j.State != Failed && j.State != Cancelled {
		return fmt.Errorf("%w: job %s is %s; only a failed or cancelled job can be retried", ErrState, j.ID, j.State)
	}
	j.State = Pending
	j.Worker = ""
	j.NotBefore = time.Time{}
	j.Updated = now
	j.Log(now, "retried by request")
	return nil
}

// Adopt moves the running attempt to worker (the worker that holds it
// registered again under a new ID), noting why. Any other attempt returns
// ErrStale.
func (j *Job) Adopt(attempt int, worker string, now time.Time, why string) error {
	if j.State != Running || j.Attempt != attempt {
		return ErrStale
	}
	j.Worker = worker
	if a := j.Current(); a != nil {
		a.Worker = worker
	}
	j.Note(now, why)
	return nil
}

// Settle ends a running job that is not run itself (a broadcast job, once
// every copy is final): succeeded when ok of its n copies are all of them,
// failed otherwise.
func (j *Job) Settle(ok, n int, now time.Time) error {
	if j.State != Running {
		return fmt.Errorf("%w: settle of %s job %s", ErrState, j.State, j.ID)
	}
	j.State = Succeeded
	if ok < n {
		j.State = Failed
	}
	j.Updated = now
	j.Log(now, "%d of %d copies succeeded; %s", ok, n, j.State)
	return nil
}
