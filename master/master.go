package master

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// This file holds Master, the composition: New makes the core (core.go)
// and the parts around it and wires them together (the core reaches the
// dispatcher, the scheduler and the wire's submit through fields set
// here, never through a *Master; no part holds one); Start (start.go)
// loads the store into the core, starts the parts and binds the
// listener; Close stops them in order: the listener first, then the
// store's load, the hooks, the scheduler, the core's loops, the
// dispatcher and the reaper, a last write of the held leases and the
// groups that left memory, and the store. Master keeps only that
// lifecycle and the typed calls of embed.go, which hand each call to the
// part that owns it: the wire service or the operator.

// Master is the composition of the core and its parts, and their
// lifecycle. It holds the queue and the truth about every job through its
// core (core.go); around it, the registry and reaper, the dispatcher, the
// scheduler, the group callbacks, the wire service, the operator and the
// HTTP side each own one concern. Create it with New, then Start; stop it with Close.
type Master struct {
	core *core // the jobs, leases and workers under one lock (core.go)

	cfg Config
	log logrus.FieldLogger

	// The parts, each declared in the file of its concern.
	reg   *registry   // the workers, their lifecycle and the reaper (workers.go, registry.go)
	disp  *dispatcher // leases jobs to workers and sends them (dispatch.go, send.go)
	sched *scheduler  // set in Start before its goroutines, then read-only (cron.go)
	wire  *wire       // the wire contract: workers' and clients' calls (wire.go)
	ops   *operator   // what an admin does beyond the wire's calls (ops.go, bulk.go)
	api   httpAPI     // the JSON API, SSE and the dashboard (http.go, routes.go)

	auth  *rpcapi.Auth // the tokens every request is checked against (auth.go)
	ln    *listen.TrackingListener
	srv   *http.Server
	wg    sync.WaitGroup
	stopc chan struct{}

	lifeMu sync.Mutex // guards life; held through Start and Close
	life   lifeState
}

// lifeState is where a Master is in its lifecycle. A Master starts once:
// New makes it lifeNew; Start takes it to lifeStarted, or to lifeFailed
// (what Start had started is stopped); Close takes any state to
// lifeClosed.
type lifeState int

const (
	lifeNew lifeState = iota
	lifeStarted
	lifeFailed
	lifeClosed
)

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
	// Made here, not in Start, so that a call made before or during
	// Start waits on them (awaitReady, Ready) without a race.
	c.ready, c.failed, c.loadDone = make(chan struct{}), make(chan struct{}), make(chan struct{})
	m.core = c
	c.metrics = newMetrics(c)
	m.reg = newRegistry(c, c.clock, m.log, c.metrics, &m.cfg, hex.EncodeToString(b[:]))
	m.disp = newDispatcher(c, c.clock, m.log, c.metrics.dispatch, &m.cfg)
	c.reg, c.wake = m.reg, m.disp.kick
	c.dispatch = func() { m.disp.passHere(c.clock.Now()) }
	m.wire = newWire(c, m.reg, m.disp, &m.cfg, m.log)
	m.ops = newOperator(c, m.reg, m.wire.Cancel, m.log)
	m.api = newHTTPAPI(c, m.wire, m.ops, m.auth, &m.cfg, m.log, c.ctx.Done())
	w := m.wire
	c.submitSpec = func(ctx context.Context, spec jobs.Spec) (string, error) {
		var r rpcapi.SubmitReply
		if err := w.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{spec}}, &r); err != nil {
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
// loops, then a last commit and the store, and returns the store's error.
// It is safe to call in every state, and more than once: on a master
// never started, or whose Start failed (Start stopped what it had
// started), and on one closed already, it only marks the master closed
// and returns nil. It waits for a Start in progress to return. Once Close
// is called, every typed call (Submit, Wait, Cancel, Purge, ...) returns
// at once an error that wraps rpcapi.ErrUnavailable, and changes nothing;
// calls in flight end the same way, or with the outcome they had reached.
func (m *Master) Close() error {
	m.lifeMu.Lock()
	defer m.lifeMu.Unlock()
	was := m.life
	m.life = lifeClosed
	m.core.markClosed()
	if was != lifeStarted {
		m.core.cancel() // nothing runs: the waits for the load end now
		return nil
	}
	m.api.waitMemberCalls()
	if m.srv != nil {
		m.srv.Close()
	}
	if m.ln != nil {
		m.ln.CloseAll()
	}
	err := m.shutdown()
	m.log.Info("master stopped")
	return err
}

// markClosed marks the core closed: the calls that change it refuse
// (lockOpen) and the typed calls return (Master.open). Its loops end
// later, when shutdown cancels its ctx.
func (c *core) markClosed() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// isClosed reports whether the master is closed, or its Start failed.
func (c *core) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
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
		added, known, err := m.submitJobsFile(context.Background(), m.cfg.Jobs)
		if err != nil {
			return err
		}
		m.log.WithFields(logrus.Fields{"new": added, "known": known}).Info("initial jobs loaded")
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

// Changed returns a channel that is closed at the next change to any job
// or worker (for live views: take it, read the state, wait on it, repeat).
func (m *Master) Changed() <-chan struct{} { return m.core.Changed() }
