package master

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// ErrConflict is returned by Retry and Drain when the job or worker is in
// a state that does not allow the operation: a retry of a job that is not
// failed or cancelled, a drain of a dead worker.
var ErrConflict = errors.New("master: conflict")

// opsCore is what the operator needs of the core. unlock releases the
// core's lock that lockOpen took; the methods marked "locked" need it
// held, the others must be called without it (they take it themselves,
// or read the store). The core implements it (core.go).
type opsCore interface {
	lockOpen() error // take the core's lock, unless the master is closing (ErrUnavailable, not locked)
	unlock()
	job(id string) *jobs.Job                      // locked: the job in memory, or nil
	readmit(j *jobs.Job) *jobs.Job                // locked: bring a final job read from history back into memory
	apply(c jobChange) (*jobs.Job, *batch, error) // locked: a retry change
	kick()                                        // wake the dispatcher: jobs are pending again
	now() time.Time
	awaitReady(ctx context.Context) error
	findJob(id string) (j *jobs.Job, live bool, err error)
	fromHistory(id string) (*jobs.Job, error)
	// pageJobs calls take, locked, with each job of one page of q.
	pageJobs(q *jobQuery, take func(*jobs.Job)) (next string, err error)
	cancelOwnerOf(ctx context.Context) (*cancelOwner, error)
	lastFires() map[string]bool
	purge(ctx context.Context, f PurgeFilter) (int, error)
}

// operator is what an admin does beyond the wire's calls, for the JSON
// API and for programs that embed a master (Master.Retry, Drain,
// Undrain, Purge): the retry of a job, the bulk retry, cancel and purge
// of the jobs a filter selects (bulk.go), a worker's drain and undrain
// (the registry's, drain.go), and a schedule's run now and deletion (the
// scheduler's, schedops.go). It keeps no state of its own. Create it with
// newOperator; Master.Start gives it the scheduler (setScheduler) before
// anything is served.
type operator struct {
	core opsCore
	reg  *registry
	// cancel is the wire service's cancel (wire.Cancel), which the bulk
	// cancel makes a page at a time.
	cancel func(ctx context.Context, a *rpcapi.CancelArgs, r *rpcapi.CancelReply) error
	sched  *scheduler // set by setScheduler, before the listener opens; nil before Start
	log    logrus.FieldLogger
}

// newOperator returns the operator of core c and registry reg; cancel is
// the wire service's cancel.
func newOperator(c opsCore, reg *registry, cancel func(context.Context, *rpcapi.CancelArgs, *rpcapi.CancelReply) error,
	log logrus.FieldLogger) *operator {
	return &operator{core: c, reg: reg, cancel: cancel, log: log}
}

// setScheduler gives the operator the master's scheduler. Start calls it
// before any call is served.
func (o *operator) setScheduler(s *scheduler) { o.sched = s }

// Retry is Master.Retry.
func (o *operator) Retry(ctx context.Context, id string) error {
	c := o.core
	if err := c.awaitReady(ctx); err != nil {
		return err
	}
	old, live, err := c.findJob(id)
	if err != nil {
		return err
	}
	now := c.now()
	if err := c.lockOpen(); err != nil {
		return err
	}
	j := c.job(id)
	if j == nil && !live {
		j = c.readmit(old) // it had left memory: it comes back to run again
	}
	if j == nil {
		c.unlock()
		return fmt.Errorf("%w: job %q", rpcapi.ErrNotFound, id)
	}
	before := j.State
	if before != jobs.Failed && before != jobs.Cancelled {
		c.unlock()
		return fmt.Errorf("%w: job %s is %s; only a failed or cancelled job can be retried", ErrConflict, id, before)
	}
	_, b, err := c.apply(jobChange{kind: changeRetry, job: id, at: now})
	if err != nil {
		c.unlock()
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	jobEntry(o.log, j).WithField("was", before).Info("job retried by request")
	c.unlock()
	c.kick()
	if err := b.wait(); err != nil {
		return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	return nil
}

// Drain is Master.Drain: the registry's drain.
func (o *operator) Drain(ctx context.Context, workerID string) error { return o.reg.drain(workerID) }

// Undrain is Master.Undrain: the registry's undrain.
func (o *operator) Undrain(ctx context.Context, workerID string) error {
	return o.reg.undrain(workerID)
}

// Purge is Master.Purge: the core's purge.
func (o *operator) Purge(ctx context.Context, f PurgeFilter) (int, error) {
	return o.core.purge(ctx, f)
}

// runSchedule fires schedule name once, now (scheduler.runNow).
func (o *operator) runSchedule(name string) (runResult, error) {
	if o.sched == nil {
		return runResult{}, errNoSchedule(name)
	}
	return o.sched.runNow(name)
}

// removeSchedule deletes schedule name (scheduler.remove).
func (o *operator) removeSchedule(name string) error {
	if o.sched == nil {
		return errNoSchedule(name)
	}
	return o.sched.remove(name)
}
