package master

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Register implements rpcapi.MasterAPI: a new worker ID and its secret
// (identity.go). A push worker's addr must name the host the call came
// from (workerEndpoint), and the master calls the address it builds.
func (api wire) Register(ctx context.Context, a *rpcapi.RegisterArgs, r *rpcapi.RegisterReply) error {
	m := api.m
	pull := a.Mode == rpcapi.ModePull
	if err := checkRegister(a); err != nil {
		return err
	}
	var client rpcapi.Caller
	addr := ""
	if !pull {
		var err error
		if addr, err = m.workerEndpoint(a.Addr, a.Transport, rpcapi.PeerAddr(ctx)); err != nil {
			m.log.WithError(err).WithFields(logrus.Fields{"name": a.Name, "remote": rpcapi.PeerAddr(ctx)}).Warn("registration refused")
			return err
		}
		if client, err = m.workerCaller(ctx, addr, a.Transport); err != nil {
			return err
		}
	}
	now := m.now()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return fmt.Errorf("%w: master shutting down", rpcapi.ErrUnavailable)
	}
	w := m.addWorker(a, addr, client, now)
	last, stale := m.adoptRunning(w, a.Running, r, now)
	m.disp.attach(w)
	m.mu.Unlock()

	m.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "addr": w.addr, "mode": a.Mode, "transport": a.Transport, "slots": w.slots,
		"types": w.types, "adopted": len(a.Running) - len(r.Cancel), "stale": stale}).Info("worker registered")
	r.WorkerID, r.Secret = w.id, w.secret
	r.HeartbeatInterval = m.cfg.HeartbeatInterval
	r.DeadAfter = m.cfg.DeadAfter
	r.MaxResultBytes = m.cfg.MaxResultBytes
	if last != nil {
		if err := last.wait(); err != nil {
			return fmt.Errorf("%w: %v", rpcapi.ErrUnavailable, err)
		}
	}
	m.kick()
	return nil
}

// checkRegister returns an ErrBadRequest when a registration's mode,
// address, slots, types, tags or name are out of bounds.
func checkRegister(a *rpcapi.RegisterArgs) error {
	pull := a.Mode == rpcapi.ModePull
	switch {
	case a.Mode != "" && a.Mode != rpcapi.ModePush && !pull:
		return fmt.Errorf("%w: mode %q: want %q or %q", rpcapi.ErrBadRequest, a.Mode, rpcapi.ModePush, rpcapi.ModePull)
	case !pull && a.Addr == "":
		return fmt.Errorf("%w: a push worker must give the addr of its endpoint", rpcapi.ErrBadRequest)
	case !pull && a.Transport != "" && a.Transport != rpcapi.TransportGob && a.Transport != rpcapi.TransportXMLRPC:
		return fmt.Errorf("%w: transport %q: want %q or %q", rpcapi.ErrBadRequest, a.Transport, rpcapi.TransportGob, rpcapi.TransportXMLRPC)
	case a.Slots < 1 || a.Slots > 100000:
		return fmt.Errorf("%w: slots %d out of range 1..100000", rpcapi.ErrBadRequest, a.Slots)
	case len(a.Types) == 0 || len(a.Types) > 10000:
		return fmt.Errorf("%w: a worker needs 1..10000 job types, got %d", rpcapi.ErrBadRequest, len(a.Types))
	case len(a.Tags) > 256:
		return fmt.Errorf("%w: %d tags; at most 256", rpcapi.ErrBadRequest, len(a.Tags))
	case len(a.Name) > 256 || len(a.Addr) > 1024:
		return fmt.Errorf("%w: name or addr too long", rpcapi.ErrBadRequest)
	}
	return nil
}

// workerCaller makes the client the master sends a push worker's jobs
// through, to addr (workerEndpoint's), with the token the worker
// registered with (ctx's; the master's own when the call came through no
// listener) and, for https, its client TLS.
func (m *Master) workerCaller(ctx context.Context, addr, transport string) (rpcapi.Caller, error) {
	tok, ok := rpcapi.TokenFrom(ctx)
	if !ok {
		tok = m.cfg.Token
	}
	opts := []rpcapi.Option{rpcapi.WithToken(tok)}
	if strings.HasPrefix(addr, "https://") && m.cfg.ClientTLS != nil {
		opts = append(opts, rpcapi.WithTLS(m.cfg.ClientTLS))
	}
	c, err := rpcapi.NewCaller(addr, transport, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", rpcapi.ErrBadRequest, err)
	}
	return c, nil
}

// addWorker records a newly registered worker under a fresh ID and secret
// and indexes it by the job types it runs; addr is where the master calls
// it ("" in pull mode). The caller holds mu.
func (m *Master) addWorker(a *rpcapi.RegisterArgs, addr string, client rpcapi.Caller, now time.Time) *workerRec {
	w := &workerRec{
		id: m.reg.nextID(), secret: newSecret(), name: a.Name, addr: addr, slots: a.Slots,
		types: slices.Compact(slices.Sorted(slices.Values(a.Types))),
		state: rpcapi.WorkerAlive, registered: now, lastBeat: now, beatAt: now,
		leases: make(map[string]*lease), wake: make(chan struct{}, 1),
		client: client, pull: a.Mode == rpcapi.ModePull,
		tags: slices.Compact(slices.Sorted(slices.Values(a.Tags))), tagSet: make(map[string]bool),
	}
	for _, t := range w.tags {
		w.tagSet[t] = true
	}
	m.reg.add(w)
	m.metrics.registered.Inc()
	m.bump()
	return w
}

// adoptRunning gives w the leases of the jobs it says it is running, when
// the master agrees they are that worker's current attempts, and adds the
// others to r.Cancel. It returns the batch that writes the last adoption
// (nil if none) and the number of stale results dropped. The caller holds mu.
func (m *Master) adoptRunning(w *workerRec, running []rpcapi.JobRef, r *rpcapi.RegisterReply, now time.Time) (last *batch, stale int) {
	for _, ref := range running {
		j := m.job(ref.JobID)
		if b, ok := m.adoptUnwritten(j, ref.Attempt, w.id, w.id+" ("+w.name+")", now); ok {
			w.leases[j.ID] = &lease{job: j, attempt: j.Attempt, acked: now, deadline: m.deadline(j, now)}
			last = b
			m.jobLog(j).Info("job adopted")
			continue
		}
		if j == nil || j.State != jobs.Running || j.Attempt != ref.Attempt {
			r.Cancel = append(r.Cancel, ref)
			if staleRef(j, ref) {
				// A reaped worker is back with an attempt the master has
				// moved on from: its late result is dropped here, unsent,
				// so count it as Complete would have.
				stale++
				m.dropped.Add(1)
				m.metrics.dropped.Inc()
			}
			continue
		}
		if old := m.reg.workers[j.Worker]; old != nil {
			delete(old.leases, j.ID)
		}
		_, b, err := m.apply(jobChange{kind: changeAdopt, job: j.ID, attempt: ref.Attempt, worker: w.id, at: now,
			why: "adopted by " + w.id + " (" + w.name + ") after it re-registered"})
		if err != nil {
			continue
		}
		w.leases[j.ID] = &lease{job: j, attempt: j.Attempt, acked: now, deadline: m.deadline(j, now)}
		last = b
		m.jobLog(j).Info("job adopted")
	}
	return last, stale
}

// adoptUnwritten leases the pending job j to workerID as attempt when that
// is the attempt the master would lease next, and reports whether it did.
// Leases reach the disk after leaseWriteDelay: a master that stopped in
// between comes back with the job pending, and the worker that holds the
// attempt (who names it) is the only one that can: no other worker was
// given that number. The caller holds mu and touches j.
func (m *Master) adoptUnwritten(j *jobs.Job, attempt int, workerID, who string, now time.Time) (*batch, bool) {
	if j == nil || j.State != jobs.Pending || j.Attempt+1 != attempt {
		return nil, false
	}
	j.Note(now, "adopted by "+who+": its lease had not reached the disk before the master stopped")
	_, b, err := m.apply(jobChange{kind: changeLease, job: j.ID, worker: workerID, at: now})
	return b, err == nil
}

// staleRef reports whether an attempt a worker holds is one the master has
// moved on from (lost, timed out, superseded, or of an unknown job), rather
// than the repeat of an outcome it already recorded. j may be nil.
func staleRef(j *jobs.Job, ref rpcapi.JobRef) bool {
	if j == nil || j.Attempt != ref.Attempt {
		return true
	}
	c := j.Current()
	return c == nil || c.Outcome == jobs.Lost || c.Outcome == jobs.Timeout
}

// Heartbeat implements rpcapi.MasterAPI. It also reconciles: held jobs the
// master does not lease to this worker are to be cancelled there, and leases
// the worker stopped reporting are requeued as lost.
func (api wire) Heartbeat(ctx context.Context, a *rpcapi.HeartbeatArgs, r *rpcapi.HeartbeatReply) error {
	m := api.m
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.registered(a.WorkerID)
	if w == nil || w.state == rpcapi.WorkerDead || m.closed {
		r.Status = rpcapi.BeatUnknown
		return nil
	}
	if err := m.checkSecret(ctx, w, a.Secret, "heartbeat"); err != nil {
		return err
	}
	prev := w.beatAt
	w.beatAt, w.lastBeat = now, now
	if a.Draining && w.state == rpcapi.WorkerAlive {
		m.bump()
		w.state = rpcapi.WorkerDraining
		m.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "running": len(w.leases)}).Info("worker draining")
	}
	// The attempts the beat lists (a job may appear twice: a stale
	// attempt still stopping beside its live one).
	var held map[rpcapi.JobRef]bool
	if len(a.Running) > 0 {
		held = make(map[rpcapi.JobRef]bool, len(a.Running))
	}
	for _, ref := range a.Running {
		held[ref] = true
		l := w.leases[ref.JobID]
		if l == nil || l.attempt != ref.Attempt || l.cancelled {
			r.Cancel = append(r.Cancel, ref)
			continue
		}
		if l.acked.IsZero() {
			l.acked = now
		}
	}
	for id, l := range w.leases {
		if held[rpcapi.JobRef{JobID: id, Attempt: l.attempt}] {
			continue
		}
		// Accepted before the previous beat was answered, so this beat's
		// report was taken after the worker held it: it no longer does.
		if l.acked.IsZero() || !l.acked.Before(prev) {
			continue
		}
		delete(w.leases, id)
		m.lose(id, l.attempt, now, fmt.Sprintf("worker %s no longer reports it", w.id))
		m.kick() // a slot is free, and the job may be pending again
	}
	r.Status = rpcapi.BeatOK
	if w.state == rpcapi.WorkerDraining {
		r.Status = rpcapi.BeatDrain
	}
	return nil
}

// lose ends a running attempt as lost (requeue or fail). The caller holds mu
// and has removed the lease.
func (m *Master) lose(jobID string, attempt int, now time.Time, why string) {
	j, _, err := m.apply(jobChange{kind: changeFinish, job: jobID, attempt: attempt, at: now,
		report: jobs.Report{Outcome: jobs.Lost, Error: why}})
	if err != nil {
		return
	}
	m.jobLog(j).WithField("state", j.State).Warn("attempt lost: " + why)
}

// Logout implements rpcapi.MasterAPI. Jobs the worker still leases are
// requeued as lost.
func (api wire) Logout(ctx context.Context, a *rpcapi.LogoutArgs, _ *rpcapi.Empty) error {
	m := api.m
	m.mu.Lock()
	w := m.registered(a.WorkerID)
	if w == nil || w.state == rpcapi.WorkerDead {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q", rpcapi.ErrUnknownWorker, a.WorkerID)
	}
	if err := m.checkSecret(ctx, w, a.Secret, "logout_worker"); err != nil {
		m.mu.Unlock()
		return err
	}
	n := len(w.leases)
	m.retire(w, m.now(), "logged out")
	m.mu.Unlock()
	m.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "requeued": n}).Info("worker logged out")
	m.kick()
	return nil
}

// retire marks w dead, requeues its leases and stops its sender. The caller
// holds mu.
func (m *Master) retire(w *workerRec, now time.Time, why string) {
	m.bump()
	w.state = rpcapi.WorkerDead
	w.died = now
	for id, l := range w.leases {
		m.lose(id, l.attempt, now, fmt.Sprintf("worker %s %s", w.id, why))
	}
	clear(w.leases)
	w.outbox = nil
	w.cancelbox = nil
	m.reg.unindex(w)
	if w.stop != nil {
		w.stop()
	}
	w.poke()
	if w.restored {
		delete(m.reg.workers, w.id)
	} else {
		m.abandonPinned(w.name, now)
	}
	m.reg.pruneDead()
}

// maxDead bounds how many dead workers are kept for listing.
const maxDead = 100

// pruneDead forgets the dead workers last heard from longest ago, beyond
// maxDead of them.
func (reg *registry) pruneDead() {
	var dead []*workerRec
	for _, w := range reg.workers {
		if w.state == rpcapi.WorkerDead {
			dead = append(dead, w)
		}
	}
	if len(dead) <= maxDead {
		return
	}
	slices.SortFunc(dead, func(a, b *workerRec) int { return a.lastBeat.Compare(b.lastBeat) })
	for _, w := range dead[:len(dead)-maxDead] {
		delete(reg.workers, w.id)
	}
}

// reapLoop declares silent workers dead and enforces the master-side job
// timeout backstop at every tick of tick, which Start arms on the master's
// clock (so that the ticks fall at fixed times from the start, whenever
// this goroutine first runs); it stops the ticker when the master stops.
func (m *Master) reapLoop(tick <-chan time.Time, stop func()) {
	defer stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick:
			now := m.now()
			m.reap(now)
			select {
			case <-m.ready:
				m.retireJobs(now)
			default:
				// Which jobs must stay for their on_done or notice is
				// known once the hooks run (startServices): nothing
				// leaves memory before.
			}
		}
	}
}

func (m *Master) reap(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writeHeld(now, false)
	kicked := false
	for _, w := range m.reg.workers {
		if w.state == rpcapi.WorkerDead {
			continue
		}
		if now.Sub(w.lastBeat) > m.cfg.DeadAfter {
			n := len(w.leases)
			m.retire(w, now, fmt.Sprintf("silent for %s", now.Sub(w.lastBeat).Round(time.Millisecond)))
			if !w.restored {
				m.reaped.Add(1)
				m.metrics.reaped.Inc()
			}
			kicked = true
			if !w.restored {
				m.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "requeued": n,
					"last_heartbeat": w.lastBeat.Format(time.RFC3339Nano)}).Warn("worker reaped")
			} else if n > 0 {
				m.log.WithField("requeued", n).Warn("jobs running before the restart were not reclaimed by any worker")
			}
			continue
		}
		for id, l := range w.leases {
			if l.deadline.IsZero() || now.Before(l.deadline) || l.cancelled {
				continue
			}
			j := m.job(id)
			delete(w.leases, id)
			if j == nil || j.State != jobs.Running || j.Attempt != l.attempt {
				continue
			}
			w.cancelbox = append(w.cancelbox, rpcapi.JobRef{JobID: id, Attempt: l.attempt})
			w.poke()
			m.apply(jobChange{kind: changeFinish, job: id, attempt: l.attempt, at: now, report: jobs.Report{Outcome: jobs.Timeout,
				Error: fmt.Sprintf("no report within timeout %s (master backstop)", j.Spec.Timeout)}})
			m.jobLog(j).Warn("attempt timed out at the master")
		}
	}
	if kicked {
		m.kick()
	}
}
