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

// heartbeatLoop registers, then beats every interval the master gave,
// re-registering when the master answers unknown.
func (w *Worker) heartbeatLoop() {
	interval := time.Second
	registered := false
	failing := false
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-timer.C:
		case <-w.regc:
			registered = false
		case <-w.beatc:
		}
		if !registered {
			iv, err := w.register()
			if err != nil {
				if !failing {
					w.log.WithError(err).Warn("cannot register with the master; retrying")
				}
				failing = true
				timer.Reset(jitter(min(interval, time.Second)))
				continue
			}
			failing, registered, interval = false, true, iv
			timer.Reset(jitter(interval))
			continue
		}
		w.mu.Lock()
		args := &rpcapi.HeartbeatArgs{WorkerID: w.id, Running: w.held(), FreeSlots: w.cfg.Slots - len(w.running),
			Draining: w.draining}
		w.mu.Unlock()
		ctx, cancel := context.WithTimeout(w.ctx, min(callTimeout, 2*interval))
		reply, err := w.master.Heartbeat(ctx, args)
		cancel()
		switch {
		case err != nil:
			if !failing && w.ctx.Err() == nil {
				w.log.WithError(err).Warn("heartbeat failed; jobs keep running, retrying")
			}
			failing = true
		case reply.Status == rpcapi.BeatUnknown:
			w.log.WithField("worker", args.WorkerID).Warn("master does not know us (restarted or reaped); re-registering")
			failing, registered = false, false
			timer.Reset(0)
			continue
		default:
			if failing {
				w.log.Info("master reachable again")
			}
			failing = false
			w.mu.Lock()
			w.dropRefs(reply.Cancel)
			if reply.Status == rpcapi.BeatDrain && !w.draining {
				w.draining = true // the master drains us: take no new jobs
				w.log.Info("master asked us to drain; taking no new jobs")
			}
			w.mu.Unlock()
		}
		timer.Reset(jitter(interval))
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
	if w.draining {
		w.mu.Unlock()
		return 0, errors.New("worker: draining")
	}
	w.id = ""
	args := &rpcapi.RegisterArgs{Name: w.cfg.Name, Addr: w.advertise(), Types: w.Types(),
		Slots: w.cfg.Slots, Running: w.held(), Transport: w.cfg.Transport, Mode: w.cfg.Mode, Tags: w.cfg.Tags}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(w.ctx, callTimeout)
	defer cancel()
	reply, err := w.master.Register(ctx, args)
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	w.id = reply.WorkerID
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
	return reply.HeartbeatInterval, nil
}

// maxReports bounds the reports in one Complete call.
const maxReports = 1000

// reportLoop sends finished results in batches: it waits ReportDelay after
// the first result so more can join, then sends them in one Complete call,
// retrying until the master acknowledges.
func (w *Worker) reportLoop() {
	retry := time.Duration(0)
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.reportc:
		}
		if retry == 0 {
			w.mu.Lock()
			n := len(w.results)
			w.mu.Unlock()
			if n < maxReports/4 {
				select {
				case <-time.After(w.cfg.ReportDelay):
				case <-w.ctx.Done():
					return
				}
			}
		}
		ctx, cancel := context.WithTimeout(w.ctx, callTimeout)
		err := w.flush(ctx)
		cancel()
		if err == nil {
			retry = 0
			continue
		}
		if errors.Is(err, rpcapi.ErrUnknownWorker) {
			select {
			case w.regc <- struct{}{}:
			default:
			}
		}
		retry = min(max(2*retry, 50*time.Millisecond), time.Second)
		select {
		case <-time.After(retry):
		case <-w.ctx.Done():
			return
		}
		select {
		case w.reportc <- struct{}{}:
		default:
		}
	}
}

// flush sends every queued result (in batches of maxReports) and removes
// the acknowledged ones.
func (w *Worker) flush(ctx context.Context) error {
	for {
		w.mu.Lock()
		id := w.id
		n := min(len(w.results), maxReports)
		batch := append([]rpcapi.Report(nil), w.results[:n]...)
		w.mu.Unlock()
		if n == 0 {
			return nil
		}
		if id == "" {
			return errors.New("worker: not registered")
		}
		reply, err := w.master.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: id, Reports: batch})
		if err != nil {
			return err
		}
		sent := make(map[rpcapi.JobRef]bool, n)
		for _, rep := range batch {
			sent[rpcapi.JobRef{JobID: rep.JobID, Attempt: rep.Attempt}] = true
		}
		w.mu.Lock()
		kept := w.results[:0]
		for _, rep := range w.results {
			if !sent[rpcapi.JobRef{JobID: rep.JobID, Attempt: rep.Attempt}] {
				kept = append(kept, rep)
			}
		}
		w.results = kept
		w.mu.Unlock()
		if reply.Dropped > 0 {
			w.metrics.stale.Add(float64(reply.Dropped))
			w.log.WithFields(logrus.Fields{"accepted": reply.Accepted, "dropped": reply.Dropped}).Warn("master dropped stale reports")
		}
	}
}
