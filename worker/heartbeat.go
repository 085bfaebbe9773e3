package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/rpcapi"
)

const callTimeout = 10 * time.Second

// beatTimeout bounds one heartbeat call: two intervals, but at least a
// second (a busy master or a big report ahead on the connection is not a
// failed beat) and at most callTimeout.
func beatTimeout(interval time.Duration) time.Duration {
	return min(callTimeout, max(2*interval, time.Second))
}

// reportTimeout bounds one task_complete call: the master's dead_after,
// at least 2 s, at most callTimeout (and callTimeout while unknown). A
// master that answers nothing for that long (stopped, or a leader paused
// and deposed) is not waited for: the batch goes again, to the leader,
// and the master drops a report it has already recorded.
func reportTimeout(deadAfter time.Duration) time.Duration {
	if deadAfter <= 0 {
		return callTimeout
	}
	return min(callTimeout, max(deadAfter, 2*time.Second))
}

// reportDeadline is reportTimeout of the master registered with.
func (w *Worker) reportDeadline() time.Duration {
	if d := time.Duration(w.reportWait.Load()); d > 0 {
		return d
	}
	return callTimeout
}

// heartbeatLoop registers, then beats every interval the master gave,
// re-registering when the master answers unknown.
func (w *Worker) heartbeatLoop() {
	interval := time.Second
	registered := false
	var fail failures
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-timer.C:
		case id := <-w.regc:
			w.mu.Lock()
			current := id == w.id
			w.mu.Unlock()
			if !current {
				continue // about a registration replaced since: registering again would orphan this one
			}
			registered = false
		case <-w.beatc:
		}
		if w.isLeaving() {
			// Shutdown logs out: a beat or a registration now would race
			// the logout, and find the worker unknown or draining.
			continue
		}
		if !registered {
			iv, err := w.register()
			if err != nil {
				if fail.note(err) {
					w.log.WithError(w.masterErr(err)).Warn("cannot register with the master; retrying")
				}
				timer.Reset(jitter(min(interval, time.Second)))
				continue
			}
			fail.clear()
			registered, interval = true, iv
			timer.Reset(jitter(interval))
			continue
		}
		w.mu.Lock()
		args := &rpcapi.HeartbeatArgs{WorkerID: w.id, Secret: w.secret, Running: w.held(), FreeSlots: w.cfg.Slots - len(w.running),
			Draining: w.draining && !w.masterDrain}
		w.mu.Unlock()
		ctx, cancel := context.WithTimeout(w.ctx, beatTimeout(interval))
		sent := time.Now()
		reply, err := w.master.Heartbeat(ctx, args)
		cancel()
		if err == nil {
			w.mu.Lock()
			err = w.staleTerm(reply.Term, "heartbeat reply")
			w.mu.Unlock()
		}
		switch {
		case err != nil:
			if fail.note(err) && w.ctx.Err() == nil {
				w.log.WithError(w.masterErr(err)).Warn("heartbeat failed; jobs keep running, retrying")
			}
		case reply.Status == rpcapi.BeatUnknown && w.isLeaving():
			// Answered after the logout: nothing to do.
		case reply.Status == rpcapi.BeatUnknown:
			w.log.WithField("worker", args.WorkerID).Warn("master does not know us (restarted or reaped); re-registering")
			fail.clear()
			registered = false
			timer.Reset(0)
			continue
		default:
			if fail.clear() {
				w.log.Info("master reachable again")
			}
			w.takeBeat(reply, sent)
		}
		timer.Reset(jitter(interval))
	}
}

// isLeaving reports whether Shutdown is logging out.
func (w *Worker) isLeaving() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.leaving
}

// takeBeat takes the reply of a heartbeat sent at sent: the fence is
// renewed, the attempts it cancels stop, and the master's drain or
// undrain is followed.
func (w *Worker) takeBeat(reply *rpcapi.HeartbeatReply, sent time.Time) {
	w.renewFence(sent)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropRefs(w.unsent(reply.Cancel))
	switch {
	case reply.Status == rpcapi.BeatDrain && !w.draining:
		w.draining, w.masterDrain = true, true // the master drains us: take no new jobs
		w.log.Info("master asked us to drain; taking no new jobs")
	case reply.Status == rpcapi.BeatOK && w.masterDrain:
		w.draining, w.masterDrain = false, false // the master undrained us
		w.log.Info("master undrained us; taking jobs again")
		w.signal(w.fetchc)
	}
}

// failures is a run of failed calls to the master, logged once for each
// kind of failure: the first, and each time the kind changes (the master
// down, then up again refusing the token), so the log never stays on a
// cause that is over.
type failures struct{ kind string }

// note records a failed call and reports whether its kind is new.
func (f *failures) note(err error) bool {
	kind := "other"
	var e *rpcapi.Error
	if errors.As(err, &e) {
		kind = e.Code
	}
	if kind == f.kind {
		return false
	}
	f.kind = kind
	return true
}

// clear ends the run and reports whether there was one.
func (f *failures) clear() bool {
	was := f.kind != ""
	f.kind = ""
	return was
}

// askRegister asks the heartbeat loop to register again because the
// master did not know the worker ID id. The loop does so only if id is
// still the worker's: an ask that comes after a registration replaced it
// (a heartbeat found the master had restarted first) would register a
// second time, and orphan the registration just made, whose assigns the
// worker would then refuse. A newer ask replaces one not yet taken.
func (w *Worker) askRegister(id string) {
	for {
		select {
		case w.regc <- id:
			return
		default:
		}
		select {
		case <-w.regc:
		default:
		}
	}
}

// jitter spreads beats by ±10% so a fleet does not beat in step.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

// register announces the worker with what it holds and returns the
// heartbeat interval.
func (w *Worker) register() (time.Duration, error) {
	w.mu.Lock()
	if w.draining && !w.masterDrain {
		w.mu.Unlock()
		return 0, errors.New("worker: draining")
	}
	// Until the reply comes, the worker has no ID and no secret: it
	// reports nothing and runs no assignment.
	w.id, w.secret = "", ""
	args := &rpcapi.RegisterArgs{Name: w.cfg.Name, Addr: w.advertise(), Types: w.Types(),
		Slots: w.cfg.Slots, Running: w.held(), Transport: w.cfg.Transport, Mode: w.cfg.Mode, Tags: w.cfg.Tags,
		Instance: w.instance}
	if !w.cfg.NoFence {
		args.FenceGrace = w.cfg.KillGrace + fenceSlack
	}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(w.ctx, callTimeout)
	defer cancel()
	sent := time.Now()
	reply, err := w.master.Register(ctx, args)
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	if err := w.staleTerm(reply.Term, "register_worker reply"); err != nil {
		w.mu.Unlock()
		return 0, err
	}
	w.deadAfter = reply.DeadAfter
	w.reportWait.Store(int64(reportTimeout(reply.DeadAfter)))
	w.mu.Unlock()
	w.renewFence(sent)
	w.mu.Lock()
	w.id, w.secret = reply.WorkerID, reply.Secret
	if w.masterDrain { // a new registration is alive: the drain was the last master's
		w.draining, w.masterDrain = false, false
	}
	w.masterMaxResult = reply.MaxResultBytes
	w.noWant = false // a new registration may be with a newer master
	for key := range w.tickets {
		w.unsend(key) // not confirmed durable by the last registration's master: they go again
	}
	w.dropRefs(reply.Cancel)
	w.mu.Unlock()
	w.readyMu.Do(func() { close(w.ready) })
	w.log.WithFields(logrus.Fields{"worker": reply.WorkerID, "held": len(args.Running),
		"heartbeat": reply.HeartbeatInterval}).Info("registered with the master")
	select {
	case w.reportc <- struct{}{}: // results held across a master restart
	default:
	}
	w.signal(w.fetchc)
	if reply.HeartbeatInterval <= 0 {
		return time.Second, nil
	}
	// A master's interval below its own floor (a bug, or not a drover
	// master) must not make the worker beat in a tight loop.
	return max(reply.HeartbeatInterval, minHeartbeatInterval), nil
}

// minHeartbeatInterval is the shortest interval the worker beats at,
// whatever the master says: master.MinHeartbeatInterval.
const minHeartbeatInterval = 50 * time.Millisecond
