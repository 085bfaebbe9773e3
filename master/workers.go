package master

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The registry's books: a worker as the master keeps it (workerRec), its
// leases, and the registry that indexes the workers by ID and job type.

// workerRec is the master's view of one worker. Guarded by Master.mu.
type workerRec struct {
	id, name, addr string
	secret         string // the registration's (identity.go); set once, "" for a placeholder
	types          []string
	tags           []string
	tagSet         map[string]bool
	slots          int
	state          string
	restored       bool // placeholder for leases found in the store at start
	registered     time.Time
	lastBeat       time.Time // last sign of life: heartbeat, registration or fetch
	beatAt         time.Time // last Heartbeat (or registration), for reconciliation
	died           time.Time
	leases         map[string]*lease

	client    rpcapi.Caller // nil for pull workers
	pull      bool
	notify    chan struct{} // pull: closed by poke; nil when nobody waits
	outbox    []rpcapi.Task // leased, not yet sent
	cancelbox []rpcapi.JobRef
	wake      chan struct{}
	stop      context.CancelFunc
	// backoffUntil pauses dispatch to a worker whose Assign just failed.
	backoffUntil time.Time
}

// lease is one running attempt held by a worker.
type lease struct {
	job       *jobs.Job // the job leased (as Master.job finds it)
	attempt   int
	acked     time.Time // when the worker accepted it; zero while the Assign is in flight
	deadline  time.Time // master-side timeout backstop; zero for none
	cancelled bool      // the job was cancelled; the worker is told to stop
	handedOut bool      // pull: a Fetch returned it; accepted at the next Fetch or heartbeat
}

// registry holds the workers: every worker the master knows by ID (the
// live ones, those restored from the store at start, and the last maxDead
// dead ones) and the live ones by job type. Guarded by Master.mu.
type registry struct {
	boot    string // distinguishes worker IDs across restarts (set at New)
	seq     int    // the number in the last worker ID given
	workers map[string]*workerRec
	byType  map[string]map[string]*workerRec // alive workers by job type
}

func newRegistry(boot string) registry {
	return registry{
		boot:    boot,
		workers: make(map[string]*workerRec),
		byType:  make(map[string]map[string]*workerRec),
	}
}

// nextID returns a fresh worker ID.
func (reg *registry) nextID() string {
	reg.seq++
	return "w" + strconv.Itoa(reg.seq) + "-" + reg.boot
}

// add records w under its ID and indexes it by the job types it runs.
func (reg *registry) add(w *workerRec) {
	reg.workers[w.id] = w
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
	for _, t := range w.types {
		delete(reg.byType[t], w.id)
		if len(reg.byType[t]) == 0 {
			delete(reg.byType, t)
		}
	}
}

// pickWorker returns the live worker with the lane's type and tags and the
// most free slots, or nil, and how many such workers have a free slot. When
// it returns nil because every such worker is held back (backoffUntil), held
// is the earliest end of those holds. The caller holds Master.mu.
func (reg *registry) pickWorker(l *lane, now time.Time) (best *workerRec, n int, held time.Time) {
	for _, w := range reg.byType[l.typ] {
		if w.state != rpcapi.WorkerAlive || w.free() <= 0 || !w.hasTags(l.tags) || (l.pin != "" && w.name != l.pin) {
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
// each job it holds. The caller holds mu.
func (m *Master) workerInfo(w *workerRec) rpcapi.WorkerInfo {
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
		if j := m.job(id); j != nil {
			wj.Type, wj.State = j.Spec.Type, j.State
		}
		wi.Jobs = append(wi.Jobs, wj)
	}
	slices.SortFunc(wi.Jobs, func(a, b rpcapi.WorkerJob) int { return cmpIDs(a.JobID, b.JobID) })
	return wi
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
