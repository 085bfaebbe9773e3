package master

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/internal/logx"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Master holds the queue and the truth about every job. It loads jobs,
// accepts workers, pushes jobs to them, records results and reaps silent
// workers. Create it with New, then Start; stop it with Close.
type Master struct {
	cfg    Config
	log    logrus.FieldLogger
	store  jobs.Store
	commit *committer
	start  time.Time

	mu sync.Mutex // guards everything below

	// The core: the jobs, and the signals of their load and changes.
	byseq  seqIndex // the jobs in memory (live ones and finished ones not yet retired), by Seq
	seq    uint64   // the last Seq given
	queue  *jobs.Queue
	counts stateCounts
	groups map[string][]string
	left   map[string]*leftGroup // groups that left memory, their entries not written yet (groupdisk.go)
	// readGate bounds the walks of the store that run at once (readgate.go).
	readGate chan struct{}
	// ready is closed once the whole store is loaded, failed (with
	// loadErr) when that failed after Start returned; loadDone when the
	// load ended either way (ready.go).
	ready, failed, loadDone chan struct{}
	loadErr                 error
	// changed is closed when any job becomes final, anyChange on any
	// change to a job or worker; each is made when somebody waits on it
	// and set to nil when closed, so a change nobody waits for costs
	// nothing.
	changed   chan struct{}
	anyChange chan struct{}
	closed    bool

	// The parts, each declared in the file of its concern.
	reg  *registry    // the workers, their lifecycle and the reaper (workers.go, registry.go)
	lim  limits       // lanes, running counts and rate buckets (lanes.go)
	keys keyIndex     // jobs by Key and unique_key (submit.go)
	ret  retention    // when finished jobs leave memory (retain.go)
	live liveCounters // the live view's throughput and latest changes (sse.go)

	dropped atomic.Int64
	metrics *metrics
	debug   bool        // the logger logs debug lines
	hooks   *hooks      // group on_done and notifiers (groups.go), set by Start
	sched   *scheduler  // set in Start before its goroutines, then read-only
	disp    *dispatcher // leases jobs to workers and sends them (dispatch.go, send.go)
	// clock gives the time of every job and worker change, of dispatch,
	// the reaper, retries and notifications (clock.go); tests move a fake
	// one. The scheduler reads it too, unless a test gave it its own.
	clock clock

	// graceUntil holds dispatch back after a crash (see recoveryGrace);
	// recovered says the master came back from one.
	graceUntil time.Time
	recovered  bool
	held       []heldLease // fresh leases not yet written, in due order

	auth   *rpcapi.Auth // the tokens every request is checked against (auth.go)
	ln     *listen.TrackingListener
	srv    *http.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stopc  chan struct{}
	once   sync.Once
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
	m := &Master{
		cfg:      cfg,
		log:      cfg.Logger,
		readGate: newReadGate(),
		clock:    cmp.Or[clock](cfg.clock, systemClock{}),
		groups:   make(map[string][]string),
		queue:    jobs.NewQueue(),
		lim:      newLimits(&cfg),
		keys:     newKeyIndex(),
		stopc:    make(chan struct{}),
		auth:     rpcapi.NewAuth(k),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.metrics = newMetrics(m)
	m.debug = logx.DebugOn(m.log)
	m.reg = newRegistry(m, m.clock, m.log, m.metrics, &m.cfg, hex.EncodeToString(b[:]))
	m.disp = newDispatcher(m, m.clock, m.log, m.metrics.dispatch, &m.cfg)
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
	var err error
	m.once.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
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
	if m.loadDone != nil {
		<-m.loadDone // the load reads the store: it ends first
	}
	m.stopHooks()
	m.stopScheduler()
	m.cancel()
	m.disp.stop()
	m.reg.stop()
	m.mu.Lock()
	m.writeHeld(time.Time{}, true)
	m.mu.Unlock()
	close(m.stopc)
	m.wg.Wait()
	m.mu.Lock()
	m.reg.closeClients()
	m.mu.Unlock()
	if err := m.writeLeft(); err != nil { // else they come back into memory at the next start
		m.log.WithError(err).Warn("groups that left memory: not written")
	}
	// Every change is committed: the next start need not wait for the
	// workers (a failure here only costs that wait).
	if ms, ok := m.store.(jobs.MetaStore); ok {
		if err := ms.SaveMeta(masterBucket, cleanStopKey, []byte("1")); err != nil {
			m.log.WithError(err).Warn("could not mark the store as stopped cleanly")
		}
	}
	return m.store.Close()
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
func (m *Master) checkCleanStop() error {
	ms, ok := m.store.(jobs.MetaStore)
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
	m.recovered = m.byseq.len() > 0
	if m.counts.of(jobs.Pending) > 0 {
		m.graceUntil = m.now().Add(recoveryGrace * m.cfg.HeartbeatInterval)
		m.log.WithField("until", m.graceUntil.Format(time.RFC3339Nano)).
			Warn("the last master did not stop cleanly: holding dispatch so that workers reclaim the jobs they run")
	}
	return nil
}

// job returns the job in memory with the given ID, or nil. The caller
// holds mu.
func (m *Master) job(id string) *jobs.Job { return m.byseq.byID(id) }

// index puts j in byseq. The caller holds mu (or owns m).
func (m *Master) index(j *jobs.Job) { m.byseq.put(j) }

// insert adds a job to the indexes. The caller holds mu (or owns m).
func (m *Master) insert(j *jobs.Job) {
	m.index(j)
	if j.Spec.Key != "" {
		m.keys.byKey[j.Spec.Key] = j.ID
	}
	if g := j.Spec.Group; g != "" {
		if len(m.groups[g]) == 0 {
			m.groupBack(g)
		}
		m.groups[g] = append(m.groups[g], j.ID)
	}
	if u := j.Spec.UniqueKey; u != "" {
		if old := m.job(m.keys.unique[u]); old == nil || old.Seq <= j.Seq {
			m.keys.unique[u] = j.ID
		}
	}
	m.counts.add(j.State, 1)
	m.lim.account(j, jobs.Pending)
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
func (m *Master) allJobs() iter.Seq[*jobs.Job] {
	return func(yield func(*jobs.Job) bool) { m.byseq.ascend(0, yield) }
}

// touch records that j changed from state before: counts, waiters, and a
// snapshot for the store. It returns the commit batch. The caller holds mu.
func (m *Master) touch(j *jobs.Job, before jobs.State) *batch {
	m.bump()
	m.live.note(j, before)
	m.lim.account(j, before)
	if before != j.State {
		m.counts.add(before, -1)
		m.counts.add(j.State, 1)
		if before.Final() && !j.State.Final() {
			m.ret.unfinished()
		}
		if j.State.Final() && !before.Final() {
			m.ret.finished(j, j.Updated)
		}
		if j.State.Final() {
			if j.Parent != "" {
				m.childFinal(j)
			}
			m.groupFinal(j)
			m.scheduleFinal(j)
			m.metrics.finished.WithLabelValues(string(j.State)).Inc()
			if m.changed != nil {
				close(m.changed)
				m.changed = nil
			}
		}
	}
	if before == jobs.Pending && j.State == jobs.Running {
		m.held = append(m.held, heldLease{j: j, attempt: j.Attempt, due: j.Updated.Add(leaseWriteDelay)})
		return m.commit.pending()
	}
	return m.commit.add(j)
}

// writeHeld writes the held leases that are due (all of them when all is
// set) and still running. The caller holds mu.
func (m *Master) writeHeld(now time.Time, all bool) {
	n := 0
	for _, h := range m.held {
		if !all && h.due.After(now) {
			break
		}
		if h.j.State == jobs.Running && h.j.Attempt == h.attempt {
			m.commit.add(h.j)
		}
		n++
	}
	left := copy(m.held, m.held[n:])
	clear(m.held[left:])
	m.held = m.held[:left]
}

// bump wakes everyone waiting on Changed. The caller holds mu.
func (m *Master) bump() {
	if m.anyChange != nil {
		close(m.anyChange)
		m.anyChange = nil
	}
}

// Changed returns a channel that is closed at the next change to any job
// or worker (for live views: take it, read the state, wait on it, repeat).
func (m *Master) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.anyChange == nil {
		m.anyChange = make(chan struct{})
	}
	return m.anyChange
}

func (m *Master) backoff() jobs.Backoff {
	return jobs.Backoff{Base: m.cfg.RetryBackoff, Max: m.cfg.MaxBackoff}
}

// deadline is when the master gives up on a running attempt that has a
// timeout: the worker enforces the timeout itself; this is the backstop.
func (m *Master) deadline(j *jobs.Job, started time.Time) time.Time {
	if j.Spec.Timeout <= 0 {
		return time.Time{}
	}
	return started.Add(j.Spec.Timeout + m.cfg.DeadAfter + 10*time.Second)
}

// kick wakes the dispatcher for a pass. It never blocks.
func (m *Master) kick() { m.disp.kick() }

func (m *Master) jobLog(j *jobs.Job) *logrus.Entry { return jobEntry(m.log, j) }

// jobEntry is log with the fields that name j's current attempt.
func jobEntry(log logrus.FieldLogger, j *jobs.Job) *logrus.Entry {
	return log.WithFields(logrus.Fields{"job": j.ID, "attempt": j.Attempt, "worker": j.Worker, "type": j.Spec.Type})
}

// now is the master's time (clock).
func (m *Master) now() time.Time { return m.clock.Now() }
