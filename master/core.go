package master

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/sirupsen/logrus"
)

// The core: the jobs in memory, their leases and the workers, under one
// lock, and the vocabulary that changes them. A job changes only through
// the core's methods: it is admitted by a submit (submit.go) or the load
// (load.go), then every change of its state is a jobChange made by apply
// (change.go), which keeps the books that hang on it (touch): the counts,
// the dispatch queue, the lanes, the groups in memory (groups.go,
// groupdisk.go), the waiters, and the commit batch that writes it
// (commit.go). The core also knows when its load is done (ready.go) and
// when finished jobs leave memory (retain.go).
//
// The parts hold no *Master. The scheduler (cron.go), the group callbacks
// and notices (groups.go, grouptasks.go), the dispatcher (dispatch.go,
// send.go), the registry and reaper (registry.go), the operator (ops.go)
// and the HTTP side (http.go) hold no *core either: they reach it through
// the narrow interfaces schedCore, hookCore, dispatchCore, registryCore,
// opsCore and readView, which core implements. The wire service (wire.go)
// holds the core: it is where the changes come in from outside, and its
// calls work under the core's lock. The core reaches the parts it must
// tell of a change through the fields set by New: wake (the dispatcher),
// fires (the scheduler) and submitSpec (the wire service's submit). The
// registry's worker records and the group callbacks' books are guarded by
// the core's lock, and the core reads them under it (reg, hooks).
type core struct {
	cfg     *Config
	log     logrus.FieldLogger
	clock   clock // the time of every job and worker change (clock.go)
	metrics *metrics
	store   jobs.Store
	commit  *committer
	start   time.Time // when the master started
	// ctx is cancelled when the master stops: the core's loops end.
	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex // guards everything below

	byseq  seqIndex // the jobs in memory (live ones and finished ones not yet retired), by Seq
	seq    uint64   // the last Seq given
	queue  *jobs.Queue
	counts stateCounts
	groups map[string][]string
	left   map[string]*leftGroup // groups that left memory, their entries not written yet (groupdisk.go)
	// leftMu orders writeLeft and pruneLeft: an entry a purge drops is
	// not written again after it. Taken without mu, before it.
	leftMu sync.Mutex
	lim    limits       // lanes, running counts and rate buckets (lanes.go)
	keys   keyIndex     // jobs by Key and unique_key (submit.go)
	ret    retention    // when finished jobs leave memory (retain.go)
	live   liveCounters // the live view's throughput and latest changes (sse.go)
	// gen counts the changes to any job or worker (bump); liveShared is
	// the live view's status and workers as taken at one gen, which every
	// event stream shares for up to eventGap (sse.go).
	gen        uint64
	liveShared liveShared
	// fireFails are the schedules whose latest fires failed, by name
	// (queues_attention.go).
	fireFails map[string]*fireStreak
	// schedRev counts the changes of schedules (the live view's
	// schedules_rev).
	schedRev uint64
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
	// graceUntil holds dispatch back after a crash (see recoveryGrace).
	graceUntil time.Time
	// recovery bounds the adoption of leases that had not reached the
	// disk when the last master crashed (registry.adoptUnwritten): only
	// for jobs that master made (Seq up to seq), and only until until,
	// dead_after after the load. Zero after a clean stop.
	recovery struct {
		until time.Time
		seq   uint64
	}
	held fifo[heldLease] // fresh leases not yet written, in due order

	reg   *registry // the workers: their records are guarded by mu (workers.go)
	hooks *hooks    // group on_done and notifiers (groups.go), set by Start; its books are guarded by mu

	dropped atomic.Int64 // stale reports dropped

	// The parts the core tells of a change, set by New (or Start).
	wake       func()                                                    // wake the dispatcher
	dispatch   func()                                                    // locked: a dispatch pass here (dispatcher.passHere)
	fires      fireBook                                                  // the scheduler, once made (nil before)
	submitSpec func(ctx context.Context, spec jobs.Spec) (string, error) // one submit through the wire service
}

// fireBook is what the core needs of the scheduler.
type fireBook interface {
	// poke wakes the scheduler: a fire job may have ended. It never blocks.
	poke()
	// lastFireKeys returns the keys of the schedules' latest fire jobs. It
	// must be called without the core's lock.
	lastFireKeys() map[string]bool
}

// newCore returns the core of a master with configuration cfg, empty.
func newCore(cfg *Config, log logrus.FieldLogger) *core {
	c := &core{
		cfg:      cfg,
		log:      log,
		clock:    cmp.Or[clock](cfg.clock, systemClock{}),
		readGate: newReadGate(),
		groups:   make(map[string][]string),
		queue:    jobs.NewQueue(),
		lim:      newLimits(cfg),
		keys:     newKeyIndex(),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

var (
	_ schedCore    = (*core)(nil)
	_ hookCore     = (*core)(nil)
	_ dispatchCore = (*core)(nil)
	_ registryCore = (*core)(nil)
	_ readView     = (*core)(nil)
	_ opsCore      = (*core)(nil)
)

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

// job returns the job in memory with the given ID, or nil. The caller
// holds mu.
func (c *core) job(id string) *jobs.Job { return c.byseq.byID(id) }

// index puts j in byseq. The caller holds mu (or owns c).
func (c *core) index(j *jobs.Job) { c.byseq.put(j) }

// insert adds a job to the indexes. The caller holds mu (or owns c).
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
	if j.State == jobs.Running {
		c.lim.noteBook(j, jobs.Pending)
	}
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
	c.lim.noteBook(j, before)
	if before != j.State {
		c.counts.add(before, -1)
		c.counts.add(j.State, 1)
		if before.Final() && !j.State.Final() {
			c.ret.unfinished()
		}
		if j.State.Final() && !before.Final() {
			c.ret.finished(j)
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
		c.held.push(heldLease{j: j, attempt: j.Attempt, due: j.Updated.Add(leaseWriteDelay)})
		return c.commit.pending()
	}
	return c.commit.add(j)
}

// writeHeld writes the held leases that are due (all of them when all is
// set) and still running. The caller holds mu.
func (c *core) writeHeld(now time.Time, all bool) {
	for c.held.len() > 0 && (all || !c.held.front().due.After(now)) {
		if h := c.held.pop(); h.j.State == jobs.Running && h.j.Attempt == h.attempt {
			c.commit.add(h.j)
		}
	}
}

// bump wakes everyone waiting on Changed. The caller holds mu.
func (c *core) bump() {
	c.gen++
	if c.anyChange != nil {
		close(c.anyChange)
		c.anyChange = nil
	}
}

// Changed implements readView: a channel closed at the next change to any
// job or worker (see Master.Changed).
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

// lockOpen locks c.mu, unless the master is shutting down: then it leaves
// c.mu unlocked and returns ErrUnavailable.
func (c *core) lockOpen() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("%w: master shutting down", rpcapi.ErrUnavailable)
	}
	return nil
}

// jobOfKey implements schedCore: the ID of the job with key, if any.
func (c *core) jobOfKey(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.keys.byKey[key]
	return id, ok
}

// jobLive implements schedCore: whether job id is in memory and not final.
func (c *core) jobLive(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.job(id)
	return j != nil && !j.State.Final()
}

func (c *core) lock()   { c.mu.Lock() }
func (c *core) unlock() { c.mu.Unlock() }

// groupJobs implements hookCore. The caller holds mu.
func (c *core) groupJobs(g string) []string { return c.groups[g] }

// groupNames implements hookCore. The caller holds mu.
func (c *core) groupNames() iter.Seq[string] { return maps.Keys(c.groups) }

// groupClosed implements hookCore. The caller holds mu.
func (c *core) groupClosed(g string, at time.Time) { c.ret.groupClosed(g, at) }

// persist implements hookCore: a fresh snapshot of job id for the next
// commit, whose batch it returns (nil if the job is not in memory). The
// caller holds mu.
func (c *core) persist(id string) *batch {
	if j := c.job(id); j != nil {
		return c.commit.add(j)
	}
	return nil
}

// maxArgsBytes implements hookCore.
func (c *core) maxArgsBytes() int { return c.cfg.MaxArgsBytes }

// submit implements hookCore: one job through the wire service's Submit,
// with its checks; it returns the job's ID (the existing one for a known
// key).
func (c *core) submit(ctx context.Context, spec jobs.Spec) (string, error) {
	return c.submitSpec(ctx, spec)
}

// graceEnd implements dispatchCore: until when dispatch is held after a
// crash (see recoveryGrace; zero when it is not). The caller holds mu.
func (c *core) graceEnd() time.Time { return c.graceUntil }

// pendingQueue implements dispatchCore. The caller holds mu.
func (c *core) pendingQueue() *jobs.Queue { return c.queue }

// laneLimits implements dispatchCore. The caller holds mu.
func (c *core) laneLimits() *limits { return &c.lim }

// pickWorker implements dispatchCore: the registry's choice of a worker
// for lane l. The caller holds mu.
func (c *core) pickWorker(l *lane, now time.Time) (*workerRec, int, time.Time) {
	return c.reg.pickWorker(l, now)
}

// unwrittenLease reports whether the pending job j may have been leased by
// the master before a crash, the lease lost with it: the master came back
// from a crash less than dead_after ago and j was in its store. The caller
// holds mu.
func (c *core) unwrittenLease(j *jobs.Job, now time.Time) bool {
	return j.Seq <= c.recovery.seq && now.Before(c.recovery.until)
}
