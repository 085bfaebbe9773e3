package master

import (
	"context"
	"crypto/tls"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The registry's books: a worker as the master keeps it (workerRec), its
// leases, and the registry that indexes the workers by ID and job type,
// picks one for a lane and lists them for the views. The worker lifecycle
// and the reaper are in registry.go.

// workerRec is the master's view of one worker. Guarded by Master.mu.
type workerRec struct {
	id, name, addr string
	secret         string   // the registration's (identity.go); set once, "" for a placeholder
	secretSum      [32]byte // SHA-256 of secret; both set by setSecret
	instanceSum    [32]byte // SHA-256 of RegisterArgs.Instance; zero: none
	types          []string
	tags           []string
	tagSet         map[string]bool
	slots          int
	state          string
	selfDrain      bool // the worker said it drains (shutting down): an undrain cannot stop that
	restored       bool // placeholder for leases found in the store at start
	registered     time.Time
	lastBeat       time.Time // last sign of life: heartbeat, registration or fetch
	// heard is when a call of the worker's with its secret last arrived
	// (Unix ns), stamped before the call waits for the core's lock: the
	// reaper counts it, so a worker is not reaped while its beat waits
	// behind a busy lock (registry.hear).
	heard      atomic.Int64
	beatAt     time.Time // last Heartbeat (or registration), for reconciliation
	died       time.Time
	leases     map[string]*lease
	fenceGrace time.Duration // the worker fences itself (RegisterArgs.FenceGrace); zero: not

	client rpcapi.Caller // nil for pull workers
	pull   bool
	notify chan struct{} // pull: closed by poke; nil when nobody waits
	outbox []rpcapi.Task // leased, not yet sent
	// pull: outboxSince is when the outbox last went from empty to not,
	// fetched when the worker last called Fetch; unfetched is set when
	// its tasks waited dead_after for a Fetch and were taken back, and
	// it is leased nothing until its next Fetch.
	outboxSince, fetched time.Time
	unfetched            bool
	cancelbox            []rpcapi.JobRef
	wake                 chan struct{}
	stop                 context.CancelFunc
	// backoffUntil pauses dispatch to a worker whose Assign just failed.
	backoffUntil time.Time
	// refusals counts the worker's assign_task replies in a row that
	// refused a task, refusal the last one's reason; a reply that accepts
	// one resets them.
	refusals int
	refusal  string
	// parked is a task_complete of this worker that waits for its
	// outcomes' commit and takes the worker's next tasks (wire.Complete);
	// nil when none.
	parked *parkedReport
}

// parkedReport is the reply of an idle worker's task_complete (it asked
// for tasks and there were none) while it waits for its outcomes' commit
// without hurrying it: a task leased to the worker meanwhile goes in that
// reply, which is then sent at once, with the commit's number, as a reply
// that carries tasks always is. A worker that runs one job at a time
// then gets its next job without an Assign call. Guarded by the core's
// lock.
type parkedReport struct {
	want  int
	tasks []rpcapi.Task
	wake  chan struct{} // closed once tasks are set
}

// unpark puts up to p.want tasks of w's outbox in w's parked reply and
// wakes it. It reports whether it did; tasks left in the outbox go by
// Assign. The caller holds the core's lock.
func (w *workerRec) unpark(handOut func(w *workerRec, out []rpcapi.Task) []rpcapi.Task) bool {
	p := w.parked
	if p == nil || len(w.outbox) == 0 {
		return false
	}
	p.tasks = handOut(w, w.takeOutbox(p.want))
	if len(p.tasks) == 0 {
		return false
	}
	w.parked = nil
	close(p.wake)
	return true
}

// lease is one running attempt held by a worker.
type lease struct {
	job       *jobs.Job // the job leased (as Master.job finds it)
	attempt   int
	acked     time.Time // when the worker accepted it; zero while the Assign is in flight
	deadline  time.Time // master-side timeout backstop; zero for none
	cancelled bool      // the job was cancelled; the worker is told to stop
	handedOut bool      // a reply (Fetch, or Complete's Want) carried it; accepted at the next Fetch or heartbeat
	missed    int       // handed out, not accepted: the heartbeats since that did not list it
}

// registry holds the workers: every worker the master knows by ID (the
// live ones, those restored from the store at start, and the last maxDead
// dead ones) and the live ones by job type. It is also the worker
// lifecycle and the reaper (registry.go). Create it with newRegistry.
type registry struct {
	core    registryCore
	clock   clock
	log     logrus.FieldLogger
	metrics *metrics
	// From the Config (fixed at New).
	deadAfter time.Duration // silence after which a worker is reaped
	beat      time.Duration // the heartbeat interval: the reaper ticks at a quarter of it
	token     string        // the token the master calls workers with, unless they registered with another
	clientTLS *tls.Config   // for workers that serve https
	hosts     []string      // WorkerHosts
	leads     func() bool   // Config.leads: a master that no longer leads reaps nothing

	reaped atomic.Int64 // workers declared dead for their silence

	// Guarded by the core's lock:
	boot    string // distinguishes worker IDs across restarts (set at New)
	seq     int    // the number in the last worker ID given
	workers map[string]*workerRec
	byType  map[string]map[string]*workerRec // alive workers by job type
	// calling is the registered workers not yet dead, by ID, for hear to
	// read without the core's lock (written under it).
	calling sync.Map
	fenced  []fencedLease // leases of reaped workers held until their fence ends (fence.go)
	flaps   flapBook      // registrations again, by worker name (queues_attention.go)

	ctx    context.Context // cancelled by stop: the reaper ends
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newRegistry(core registryCore, c clock, log logrus.FieldLogger, x *metrics, cfg *Config, boot string) *registry {
	reg := &registry{
		core: core, clock: c, log: log, metrics: x,
		deadAfter: cfg.DeadAfter, beat: cfg.HeartbeatInterval, token: cfg.Token, clientTLS: cfg.ClientTLS, hosts: cfg.WorkerHosts, leads: cfg.leads,
		boot:    boot,
		workers: make(map[string]*workerRec),
		byType:  make(map[string]map[string]*workerRec),
	}
	reg.ctx, reg.cancel = context.WithCancel(context.Background())
	return reg
}

// nextID returns a fresh worker ID.
func (reg *registry) nextID() string {
	reg.seq++
	return "w" + strconv.Itoa(reg.seq) + "-" + reg.boot
}

// add records w under its ID and indexes it by the job types it runs.
func (reg *registry) add(w *workerRec) {
	reg.workers[w.id] = w
	reg.calling.Store(w.id, w)
	for _, t := range w.types {
		if reg.byType[t] == nil {
			reg.byType[t] = make(map[string]*workerRec)
		}
		reg.byType[t][w.id] = w
	}
}

// unindex takes w out of the live workers by type (it died); it stays
// listed by ID.
func (reg *registry) unindex(w *workerRec) {
	reg.calling.CompareAndDelete(w.id, w)
	for _, t := range w.types {
		delete(reg.byType[t], w.id)
		if len(reg.byType[t]) == 0 {
			delete(reg.byType, t)
		}
	}
}

// placeholder returns the worker record that holds the leases of worker
// id found in the store at start, adding one (restored: no secret, never
// registered) if there is none. The caller holds the core's lock (or owns
// the master).
func (reg *registry) placeholder(id string, now time.Time) *workerRec {
	w := reg.workers[id]
	if w == nil {
		w = &workerRec{id: id, name: "(before restart)", state: rpcapi.WorkerAlive,
			restored: true, registered: now, lastBeat: now, leases: make(map[string]*lease)}
		reg.workers[w.id] = w
	}
	return w
}

// registered returns the worker registered with this master under id
// (alive, draining or dead), or nil: never registered, forgotten, or a
// placeholder for leases found in the store, which has no secret (the
// worker that held them registers again). The caller holds the core's lock.
func (reg *registry) registered(id string) *workerRec {
	if w := reg.workers[id]; w != nil && !w.restored {
		return w
	}
	return nil
}

// pickWorker returns the live worker with the lane's type and tags and the
// most free slots, or nil, and how many such workers have a free slot. When
// it returns nil because every such worker is held back (backoffUntil), held
// is the earliest end of those holds. The caller holds the core's lock.
func (reg *registry) pickWorker(l *lane, now time.Time) (best *workerRec, n int, held time.Time) {
	for _, w := range reg.byType[l.typ] {
		if w.state != rpcapi.WorkerAlive || w.free() <= 0 || w.unfetched || !w.hasTags(l.tags) || (l.pin != "" && w.name != l.pin) {
			continue
		}
		if now.Before(w.backoffUntil) {
			if held.IsZero() || w.backoffUntil.Before(held) {
				held = w.backoffUntil
			}
			continue
		}
		n++
		if best == nil || w.free() > best.free() || (w.free() == best.free() && w.id < best.id) {
			best = w
		}
	}
	if best != nil {
		held = time.Time{}
	}
	return best, n, held
}

func (w *workerRec) free() int { return w.slots - len(w.leases) }

// unqueue removes the task of (jobID, attempt) from the outbox and reports
// whether it was there (leased, not yet sent or fetched). The caller holds
// Master.mu.
func (w *workerRec) unqueue(jobID string, attempt int) bool {
	n := len(w.outbox)
	w.outbox = slices.DeleteFunc(w.outbox, func(t rpcapi.Task) bool { return t.JobID == jobID && t.Attempt == attempt })
	return len(w.outbox) < n
}

// takeOutbox removes up to n tasks from the front of the outbox and
// returns them in a new slice. The caller holds Master.mu.
func (w *workerRec) takeOutbox(n int) []rpcapi.Task {
	n = min(n, len(w.outbox))
	out := slices.Clone(w.outbox[:n])
	left := copy(w.outbox, w.outbox[n:])
	clear(w.outbox[left:])
	w.outbox = w.outbox[:left]
	return out
}

// workerInfo is w as every view shows it, with the type and state of
// each job it holds. The caller holds the core's lock.
func (reg *registry) workerInfo(w *workerRec) rpcapi.WorkerInfo {
	wi := rpcapi.WorkerInfo{
		ID: w.id, Name: w.name, Addr: w.addr, State: w.state, Slots: w.slots,
		Running: len(w.leases), Types: slices.Clone(w.types), Tags: slices.Clone(w.tags),
		Registered: w.registered, LastHeartbeat: w.lastBeat, Died: w.died,
		Jobs: make([]rpcapi.WorkerJob, 0, len(w.leases)),
	}
	if wi.Types == nil {
		wi.Types = []string{}
	}
	if wi.Tags == nil {
		wi.Tags = []string{}
	}
	for id, l := range w.leases {
		wj := rpcapi.WorkerJob{JobID: id, Attempt: l.attempt}
		if j := reg.core.job(id); j != nil {
			wj.Type, wj.State = j.Spec.Type, j.State
		}
		wi.Jobs = append(wi.Jobs, wj)
	}
	slices.SortFunc(wi.Jobs, func(a, b rpcapi.WorkerJob) int { return cmpIDs(a.JobID, b.JobID) })
	return wi
}

// workerInfos lists workers, live first then by registration. The caller
// holds the core's lock.
func (reg *registry) workerInfos() []rpcapi.WorkerInfo {
	var out []rpcapi.WorkerInfo
	for _, w := range reg.workers {
		if !w.restored {
			out = append(out, reg.workerInfo(w))
		}
	}
	slices.SortFunc(out, func(a, b rpcapi.WorkerInfo) int {
		if (a.State == rpcapi.WorkerDead) != (b.State == rpcapi.WorkerDead) {
			if a.State == rpcapi.WorkerDead {
				return 1
			}
			return -1
		}
		return a.Registered.Compare(b.Registered)
	})
	return out
}

// poke tells the worker's sender (push) or its waiting Fetch calls (pull)
// that the outbox or cancel box changed. The caller holds Master.mu.
func (w *workerRec) poke() {
	if w.pull {
		if w.notify != nil {
			close(w.notify)
			w.notify = nil
		}
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}
