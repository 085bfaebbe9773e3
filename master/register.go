package master

import (
	"context"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/rpcapi"
)

// This file holds the wire service's worker calls that make and end a
// registration: register_worker, heartbeat (which also reconciles the
// attempts a worker holds with its leases) and logout_worker. The worker
// lifecycle they drive is the registry's (registry.go); the send loop of
// a push worker is the dispatcher's (send.go).

// Register implements rpcapi.MasterAPI: a new worker ID and its secret
// (identity.go). A push worker's addr must name the host the call came
// from (workerEndpoint), and the master calls the address it builds.
func (api *wire) Register(ctx context.Context, a *rpcapi.RegisterArgs, r *rpcapi.RegisterReply) error {
	c := api.core
	r.Term = api.cfg.Term
	pull := a.Mode == rpcapi.ModePull
	if err := checkRegister(a); err != nil {
		return err
	}
	var client rpcapi.Caller
	addr := ""
	if !pull {
		var err error
		if addr, err = api.reg.workerEndpoint(a.Addr, a.Transport, rpcapi.PeerAddr(ctx)); err != nil {
			api.log.WithError(err).WithFields(logrus.Fields{"name": a.Name, "remote": rpcapi.PeerAddr(ctx)}).Warn("registration refused")
			return err
		}
		if client, err = api.reg.workerCaller(ctx, addr, a.Transport); err != nil {
			return err
		}
	}
	now := c.now()
	if err := c.lockOpen(); err != nil {
		return err
	}
	w := api.reg.addWorker(a, addr, client, now)
	last, stale := api.reg.adoptRunning(w, a.Running, r, now)
	if stale > 0 {
		c.dropped.Add(int64(stale))
		c.metrics.dropped.Add(float64(stale))
	}
	api.disp.attach(w)
	c.mu.Unlock()

	api.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "addr": w.addr, "mode": a.Mode, "transport": a.Transport, "slots": w.slots,
		"types": w.types, "adopted": len(a.Running) - len(r.Cancel), "stale": stale}).Info("worker registered")
	r.WorkerID, r.Secret = w.id, w.secret
	r.HeartbeatInterval = api.cfg.HeartbeatInterval
	r.DeadAfter = api.cfg.DeadAfter
	r.MaxResultBytes = api.cfg.reportRoom()
	if last != nil {
		if err := last.wait(); err != nil {
			return fmt.Errorf("%w: %v", rpcapi.ErrUnavailable, err)
		}
	}
	c.kick()
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
	case a.Slots < 1 || a.Slots > rpcapi.MaxSlots:
		return fmt.Errorf("%w: slots %d out of range 1..%d", rpcapi.ErrBadRequest, a.Slots, rpcapi.MaxSlots)
	case len(a.Types) == 0 || len(a.Types) > 10000:
		return fmt.Errorf("%w: a worker needs 1..10000 job types, got %d", rpcapi.ErrBadRequest, len(a.Types))
	case len(a.Tags) > 256:
		return fmt.Errorf("%w: %d tags; at most 256", rpcapi.ErrBadRequest, len(a.Tags))
	case len(a.Name) > 256 || len(a.Addr) > 1024:
		return fmt.Errorf("%w: name or addr too long", rpcapi.ErrBadRequest)
	case a.Instance != "" && (len(a.Instance) < rpcapi.MinInstance || len(a.Instance) > rpcapi.MaxInstance):
		return fmt.Errorf("%w: instance of %d bytes: want %d..%d random bytes", rpcapi.ErrBadRequest, len(a.Instance), rpcapi.MinInstance, rpcapi.MaxInstance)
	case a.FenceGrace < 0 || a.FenceGrace > rpcapi.MaxFenceGrace:
		return fmt.Errorf("%w: fence_grace %s out of range 0..%s", rpcapi.ErrBadRequest, a.FenceGrace, rpcapi.MaxFenceGrace)
	}
	return nil
}

// Heartbeat implements rpcapi.MasterAPI. It also reconciles: held jobs the
// master does not lease to this worker are to be cancelled there, and leases
// the worker stopped reporting are requeued as lost.
func (api *wire) Heartbeat(ctx context.Context, a *rpcapi.HeartbeatArgs, r *rpcapi.HeartbeatReply) error {
	c := api.core
	r.Term = api.cfg.Term
	now := c.now()
	heard := api.reg.hear(a.WorkerID, a.Secret, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	w := api.reg.registered(a.WorkerID)
	if w == nil || w.state == rpcapi.WorkerDead || c.closed {
		r.Status = rpcapi.BeatUnknown
		return nil
	}
	if err := api.reg.checkHeard(ctx, w, heard, a.Secret, "heartbeat"); err != nil {
		return err
	}
	prev := w.beatAt
	w.beatAt, w.lastBeat = now, now
	w.selfDrain = w.selfDrain || a.Draining
	if a.Draining && w.state == rpcapi.WorkerAlive {
		c.bump()
		w.state = rpcapi.WorkerDraining
		api.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "running": len(w.leases)}).Info("worker draining")
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
		// One handed out in a reply and never accepted (the reply was
		// lost, or the worker refused it) is missing from two beats in a
		// row: one of them was built after the reply arrived.
		switch {
		case !l.acked.IsZero():
			if !l.acked.Before(prev) {
				continue
			}
		case !l.handedOut:
			continue // its Assign is in flight
		default:
			if l.missed++; l.missed < 2 {
				continue
			}
		}
		delete(w.leases, id)
		api.reg.lose(id, l.attempt, now, fmt.Sprintf("worker %s no longer reports it", w.id))
		c.kick() // a slot is free, and the job may be pending again
	}
	r.Status = rpcapi.BeatOK
	if w.state == rpcapi.WorkerDraining {
		r.Status = rpcapi.BeatDrain
	}
	return nil
}

// Logout implements rpcapi.MasterAPI. Jobs the worker still leases are
// requeued as lost.
func (api *wire) Logout(ctx context.Context, a *rpcapi.LogoutArgs, _ *rpcapi.Empty) error {
	c := api.core
	c.mu.Lock()
	w := api.reg.registered(a.WorkerID)
	if w == nil || w.state == rpcapi.WorkerDead {
		c.mu.Unlock()
		return fmt.Errorf("%w: %q", rpcapi.ErrUnknownWorker, a.WorkerID)
	}
	if err := api.reg.checkSecret(ctx, w, a.Secret, "logout_worker"); err != nil {
		c.mu.Unlock()
		return err
	}
	n := len(w.leases)
	api.reg.retire(w, c.now(), "logged out")
	c.mu.Unlock()
	api.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "requeued": n}).Info("worker logged out")
	c.kick()
	return nil
}
