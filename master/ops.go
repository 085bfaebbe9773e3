package master

import (
	"context"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// ErrConflict is returned by Retry and Drain when the job or worker is in
// a state that does not allow the operation: a retry of a job that is not
// failed or cancelled, a drain of a dead worker.
var ErrConflict = errors.New("master: conflict")

// Retry puts a failed or cancelled job back to pending, to run again as a
// new attempt; its earlier attempts stay in its history. The job's spec is
// unchanged, so its retry budget is not renewed: a job that had used up its
// retries gets one more attempt, and fails again if that attempt fails. It
// returns once the change is durable. Errors: rpcapi.ErrNotFound for an
// unknown job, ErrConflict for a job in any other state, and
// rpcapi.ErrUnavailable when the master is closing or the store fails.
func (m *Master) Retry(ctx context.Context, id string) error {
	c := m.core
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
		c.mu.Unlock()
		return fmt.Errorf("%w: job %q", rpcapi.ErrNotFound, id)
	}
	before := j.State
	if before != jobs.Failed && before != jobs.Cancelled {
		c.mu.Unlock()
		return fmt.Errorf("%w: job %s is %s; only a failed or cancelled job can be retried", ErrConflict, id, before)
	}
	_, b, err := c.apply(jobChange{kind: changeRetry, job: id, at: now})
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	c.jobLog(j).WithField("was", before).Info("job retried by request")
	c.mu.Unlock()
	c.kick()
	if err := b.wait(); err != nil {
		return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	return nil
}

// Drain stops dispatch to a live worker: it is listed as draining, gets no
// new jobs, and its next heartbeat reply tells it to drain (finish what it
// runs, take nothing new). A worker already draining is left as it is.
// Errors: rpcapi.ErrUnknownWorker for an unknown worker, ErrConflict for a
// dead one.
func (m *Master) Drain(ctx context.Context, workerID string) error {
	c := m.core
	c.mu.Lock()
	defer c.mu.Unlock()
	w := m.reg.workers[workerID]
	if w == nil || w.restored {
		return fmt.Errorf("%w: %q", rpcapi.ErrUnknownWorker, workerID)
	}
	switch w.state {
	case rpcapi.WorkerDead:
		return fmt.Errorf("%w: worker %s is dead; only a live worker can be drained", ErrConflict, workerID)
	case rpcapi.WorkerDraining:
		return nil
	}
	w.state = rpcapi.WorkerDraining
	c.bump()
	m.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "running": len(w.leases)}).Info("worker draining by request")
	return nil
}
