package master

import (
	"context"
	"fmt"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Serving before the history is read. With a store that reads its live
// jobs apart (jobs.LiveLoader), Start loads those, opens the listener and
// serves the workers at once: registration, heartbeats, reports, fetches,
// dispatch and the reaper. The rest of the store (finished jobs, their
// keys, groups, counts) is read meanwhile (finishLoad); every other call
// (submits, listings, status, cancels, the JSON API) waits for it, as do
// the scheduler, the group callbacks, the jobs file and the history
// sweep. Restart readiness for the fleet so does not grow with history.

// awaitReady blocks until the whole store is loaded, ctx ends, the load
// failed, or the master stopped before it was loaded (its Start failed,
// or it was closed unstarted).
func (c *core) awaitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	default:
	}
	select {
	case <-c.ready:
		return nil
	case <-c.failed:
		return fmt.Errorf("%w: the master failed to load its store: %v", rpcapi.ErrUnavailable, c.loadErr)
	case <-c.ctx.Done():
		return fmt.Errorf("%w: master closed", rpcapi.ErrUnavailable)
	case <-ctx.Done():
		return fmt.Errorf("%w: the master is still loading its store: %v", rpcapi.ErrUnavailable, ctx.Err())
	}
}

// Ready is closed once the master has loaded its whole store and serves
// every call.
func (m *Master) Ready() <-chan struct{} { return m.core.ready }

// Failed is closed when loading the store failed after Start returned;
// Err then says why. The master serves nothing more: Close it.
func (m *Master) Failed() <-chan struct{} { return m.core.failed }

// Err returns why loading the store failed, after Failed is closed.
func (m *Master) Err() error {
	select {
	case <-m.core.failed:
		return m.core.loadErr
	default:
		return nil
	}
}

// finishLoad reads the rest of the store while the master serves, then
// starts what needs it and opens every call (ready).
func (m *Master) finishLoad(l *loader) {
	c := m.core
	defer close(c.loadDone)
	err := c.loadRest(l)
	if err == nil {
		err = m.startServices()
	}
	if err != nil {
		if c.ctx.Err() == nil {
			m.log.WithError(err).Error("loading the store failed: the master serves nothing more")
		}
		c.loadErr = err
		close(c.failed)
		return
	}
	close(c.ready)
	m.log.Info("master ready: the whole store is loaded")
}

// The meta record a master writes at a clean stop and removes at start.
const (
	masterBucket = "master"
	cleanStopKey = "clean_stop"
)

// recoveryGrace is how long a master that comes back from a crash holds
// dispatch, in heartbeat intervals. A lease younger than leaseWriteDelay
// was not on disk, so its job looks pending; the worker running it
// re-registers at its next beat (answered "unknown") and the master adopts
// the attempt. Dispatching before that would run the job a second time.
const recoveryGrace = 2

// checkCleanStop arms the recovery grace unless the last master stopped
// cleanly (or the store is empty), and removes the mark, so that a crash
// from now on is seen at the next start.
func (c *core) checkCleanStop() error {
	ms, ok := c.store.(jobs.MetaStore)
	if !ok {
		return nil
	}
	clean := false
	err := ms.LoadMeta(masterBucket, func(key string, _ []byte) error {
		clean = clean || key == cleanStopKey
		return nil
	})
	if err != nil {
		return fmt.Errorf("master: load: %w", err)
	}
	if clean {
		return ms.SaveMeta(masterBucket, cleanStopKey, nil)
	}
	if c.byseq.len() > 0 {
		// A worker that holds an attempt from before the crash is back
		// within dead_after of the master, or its job is lost anyway.
		c.recovery.until = c.now().Add(max(c.cfg.DeadAfter, recoveryGrace*c.cfg.HeartbeatInterval))
		c.recovery.seq = c.seq
	}
	if c.counts.of(jobs.Pending) > 0 {
		c.graceUntil = c.now().Add(recoveryGrace * c.cfg.HeartbeatInterval)
		c.log.WithField("until", c.graceUntil.Format(time.RFC3339Nano)).
			Warn("the last master did not stop cleanly: holding dispatch so that workers reclaim the jobs they run")
	}
	return nil
}
