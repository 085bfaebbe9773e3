package master

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"net/http"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Master is the composition of the core and its parts, and their
// lifecycle. It holds the queue and the truth about every job through its
// core (core.go); around it, the registry and reaper, the dispatcher, the
// scheduler, the group callbacks, the wire service and the HTTP side each
// own one concern. Create it with New, then Start; stop it with Close.
type Master struct {
	core *core // the jobs, leases and workers under one lock (core.go)

	cfg Config
	log logrus.FieldLogger

	// The parts, each declared in the file of its concern.
	reg   *registry   // the workers, their lifecycle and the reaper (workers.go, registry.go)
	disp  *dispatcher // leases jobs to workers and sends them (dispatch.go, send.go)
	sched *scheduler  // set in Start before its goroutines, then read-only (cron.go)

	auth  *rpcapi.Auth // the tokens every request is checked against (auth.go)
	ln    *listen.TrackingListener
	srv   *http.Server
	wg    sync.WaitGroup
	stopc chan struct{}
	once  sync.Once
}

// leaseWriteDelay is how long a fresh lease waits before its record is
// written (dispatch and the reaper write the due ones). A job that ends
// sooner costs two writes (submitted, final) instead of three. Nothing
// durable depends on the lease record: a master that restarts without it
// finds the job pending, and the worker running it re-registers with the
// attempt, which the master adopts; if that worker is gone, or the job is
// dispatched again before it re-registers, the job runs again (its outcome
// is still recorded once). Short, so that a crash leaves few such leases.
const leaseWriteDelay = 100 * time.Millisecond

// heldLease is a fresh lease whose record waits for leaseWriteDelay.
type heldLease struct {
	j       *jobs.Job
	attempt int
	due     time.Time
}

// New validates cfg and returns a master that is not yet started.
func New(cfg Config) (*Master, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	k, err := cfg.keyring(cfg.Tokens)
	if err != nil {
		return nil, err // Validate checked it
	}
	var b [2]byte
	rand.Read(b[:])
	m := &Master{cfg: cfg, log: cfg.Logger, stopc: make(chan struct{}), auth: rpcapi.NewAuth(k)}
	c := newCore(&m.cfg, m.log)
	m.core = c
	c.metrics = newMetrics(c)
	m.reg = newRegistry(c, c.clock, m.log, c.metrics, &m.cfg, hex.EncodeToString(b[:]))
	m.disp = newDispatcher(c, c.clock, m.log, c.metrics.dispatch, &m.cfg)
	c.reg, c.wake = m.reg, m.disp.kick
	c.submitSpec = func(ctx context.Context, spec jobs.Spec) (string, error) {
		var r rpcapi.SubmitReply
		if err := m.rpc().Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{spec}}, &r); err != nil {
			return "", err
		}
		return r.IDs[0], nil
	}
	return m, nil
}

// Addr returns the listener's address (the real port when Listen used port
// 0), or "" before Start.
func (m *Master) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Close stops the master: the listener and every connection first, then the
// loops, then a last commit and the store. It is safe to call more than once.
func (m *Master) Close() error {
	c := m.core
	var err error
	m.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		if m.srv != nil {
			m.srv.Close()
		}
		if m.ln != nil {
			m.ln.CloseAll()
		}
		err = m.shutdown()
		m.log.Info("master stopped")
	})
	return err
}

// startServices starts what needs the whole store loaded: the scheduler,
// the group callbacks, and the jobs file's submit.
func (m *Master) startServices() error {
	if err := m.startScheduler(); err != nil {
		return fmt.Errorf("master: schedules: %w", err)
	}
	if err := m.startHooks(); err != nil {
		return fmt.Errorf("master: on_done: %w", err)
	}
	if len(m.cfg.Jobs) > 0 {
		var reply rpcapi.SubmitReply
		if err := m.rpc().Submit(context.Background(), &rpcapi.SubmitArgs{Specs: m.cfg.Jobs}, &reply); err != nil {
			return fmt.Errorf("master: initial jobs: %w", err)
		}
		n := 0
		for _, e := range reply.Existing {
			if !e {
				n++
			}
		}
		m.log.WithFields(logrus.Fields{"new": n, "known": len(reply.IDs) - n}).Info("initial jobs loaded")
	}
	return nil
}

func (m *Master) shutdown() error {
	c := m.core
	if c.loadDone != nil {
		<-c.loadDone // the load reads the store: it ends first
	}
	m.stopHooks()
	m.stopScheduler()
	c.cancel()
	m.disp.stop()
	m.reg.stop()
	c.mu.Lock()
	c.writeHeld(time.Time{}, true)
	c.mu.Unlock()
	close(m.stopc)
	m.wg.Wait()
	c.mu.Lock()
	m.reg.closeClients()
	c.mu.Unlock()
	if err := c.writeLeft(); err != nil { // else they come back into memory at the next start
		m.log.WithError(err).Warn("groups that left memory: not written")
	}
	// Every change is committed: the next start need not wait for the
	// workers (a failure here only costs that wait).
	if ms, ok := c.store.(jobs.MetaStore); ok {
		if err := ms.SaveMeta(masterBucket, cleanStopKey, []byte("1")); err != nil {
			m.log.WithError(err).Warn("could not mark the store as stopped cleanly")
		}
	}
	return c.store.Close()
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
	c.recovered = c.byseq.len() > 0
	if c.counts.of(jobs.Pending) > 0 {
		c.graceUntil = c.now().Add(recoveryGrace * c.cfg.HeartbeatInterval)
		c.log.WithField("until", c.graceUntil.Format(time.RFC3339Nano)).
			Warn("the last master did not stop cleanly: holding dispatch so that workers reclaim the jobs they run")
	}
	return nil
}

// job returns the job in memory with the given ID, or nil. The caller
// holds mu.
func (c *core) job(id string) *jobs.Job { return c.byseq.byID(id) }

// index puts j in byseq. The caller holds mu (or owns m).
func (c *core) index(j *jobs.Job) { c.byseq.put(j) }

// insert adds a job to the indexes. The caller holds mu (or owns m).
func (c *core) insert(j *jobs.Job) {
	c.index(j)
	if j.Spec.Key != "" {
		c.keys.byKey[j.Spec.Key] = j.ID
	}
	if g := j.Spec.Group; g != "" {
		if len(c.groups[g]) == 0 {
			c.groupBack(g)
		}
		c.groups[g] = append(c.groups[g], j.ID)
	}
	if u := j.Spec.UniqueKey; u != "" {
		if old := c.job(c.keys.unique[u]); old == nil || old.Seq <= j.Seq {
			c.keys.unique[u] = j.ID
		}
	}
	c.counts.add(j.State, 1)
	c.lim.account(j, jobs.Pending)
}

// stateCounts counts jobs by state.
type stateCounts [5]int

func stateIndex(s jobs.State) int {
	switch s {
	case jobs.Pending:
		return 0
	case jobs.Running:
		return 1
	case jobs.Succeeded:
		return 2
	case jobs.Failed:
		return 3
	}
	return 4
}

func (c *stateCounts) add(s jobs.State, d int) { c[stateIndex(s)] += d }

// of returns the number of jobs in state s.
func (c *stateCounts) of(s jobs.State) int { return c[stateIndex(s)] }

// allJobs yields every job in memory in Seq order. The caller holds mu.
func (c *core) allJobs() iter.Seq[*jobs.Job] {
	return func(yield func(*jobs.Job) bool) { c.byseq.ascend(0, yield) }
}

// touch records that j changed from state before: counts, waiters, and a
// snapshot for the store. It returns the commit batch. The caller holds mu.
func (c *core) touch(j *jobs.Job, before jobs.State) *batch {
	c.bump()
	c.live.note(j, before)
	c.lim.account(j, before)
	if before != j.State {
		c.counts.add(before, -1)
		c.counts.add(j.State, 1)
		if before.Final() && !j.State.Final() {
			c.ret.unfinished()
		}
		if j.State.Final() && !before.Final() {
			c.ret.finished(j, j.Updated)
		}
		if j.State.Final() {
			if j.Parent != "" {
				c.childFinal(j)
			}
			c.groupFinal(j)
			c.scheduleFinal(j)
			c.metrics.finished.WithLabelValues(string(j.State)).Inc()
			if c.changed != nil {
				close(c.changed)
				c.changed = nil
			}
		}
	}
	if before == jobs.Pending && j.State == jobs.Running {
		c.held = append(c.held, heldLease{j: j, attempt: j.Attempt, due: j.Updated.Add(leaseWriteDelay)})
		return c.commit.pending()
	}
	return c.commit.add(j)
}

// writeHeld writes the held leases that are due (all of them when all is
// set) and still running. The caller holds mu.
func (c *core) writeHeld(now time.Time, all bool) {
	n := 0
	for _, h := range c.held {
		if !all && h.due.After(now) {
			break
		}
		if h.j.State == jobs.Running && h.j.Attempt == h.attempt {
			c.commit.add(h.j)
		}
		n++
	}
	left := copy(c.held, c.held[n:])
	clear(c.held[left:])
	c.held = c.held[:left]
}

// bump wakes everyone waiting on Changed. The caller holds mu.
func (c *core) bump() {
	if c.anyChange != nil {
		close(c.anyChange)
		c.anyChange = nil
	}
}

// Changed returns a channel that is closed at the next change to any job
// or worker (for live views: take it, read the state, wait on it, repeat).
func (m *Master) Changed() <-chan struct{} { return m.core.Changed() }

// Changed implements readView (see Master.Changed).
func (c *core) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.anyChange == nil {
		c.anyChange = make(chan struct{})
	}
	return c.anyChange
}

func (c *core) backoff() jobs.Backoff {
	return jobs.Backoff{Base: c.cfg.RetryBackoff, Max: c.cfg.MaxBackoff}
}

// deadline is when the master gives up on a running attempt that has a
// timeout: the worker enforces the timeout itself; this is the backstop.
func (c *core) deadline(j *jobs.Job, started time.Time) time.Time {
	if j.Spec.Timeout <= 0 {
		return time.Time{}
	}
	return started.Add(j.Spec.Timeout + c.cfg.DeadAfter + 10*time.Second)
}

// kick wakes the dispatcher for a pass. It never blocks.
func (c *core) kick() { c.wake() }

func (c *core) jobLog(j *jobs.Job) *logrus.Entry { return jobEntry(c.log, j) }

// jobEntry is log with the fields that name j's current attempt.
func jobEntry(log logrus.FieldLogger, j *jobs.Job) *logrus.Entry {
	return log.WithFields(logrus.Fields{"job": j.ID, "attempt": j.Attempt, "worker": j.Worker, "type": j.Spec.Type})
}

// now is the master's time (clock).
func (c *core) now() time.Time { return c.clock.Now() }
