package master

import (
	"fmt"
	"net/http"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/rpcapi"
)

// An operator's drain and undrain of a worker (Master.Drain and Undrain,
// POST /api/v1/workers/{id}/drain and /undrain): the registry's, as the
// worker lifecycle is.

// known returns worker id as the master knows it now (a dead one too),
// or rpcapi.ErrUnknownWorker; one restored from the store is not known
// until it registers again. The caller holds the core's lock.
func (reg *registry) known(id string) (*workerRec, error) {
	w := reg.workers[id]
	if w == nil || w.restored {
		return nil, fmt.Errorf("%w: %q", rpcapi.ErrUnknownWorker, id)
	}
	return w, nil
}

// onKnown calls fn with worker id as the master knows it now (see
// known), under the core's lock.
func (reg *registry) onKnown(id string, fn func(w *workerRec) error) error {
	reg.core.lock()
	defer reg.core.unlock()
	w, err := reg.known(id)
	if err != nil {
		return err
	}
	return fn(w)
}

// drain stops dispatch to a live worker (see Master.Drain). It takes the
// core's lock.
func (reg *registry) drain(workerID string) error {
	return reg.onKnown(workerID, func(w *workerRec) error {
		switch w.state {
		case rpcapi.WorkerDead:
			return fmt.Errorf("%w: worker %s is dead; only a live worker can be drained", ErrConflict, workerID)
		case rpcapi.WorkerDraining:
			return nil
		}
		w.state = rpcapi.WorkerDraining
		reg.core.bump()
		reg.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name, "running": len(w.leases)}).Info("worker draining by request")
		return nil
	})
}

// undrain undoes a drain of the master's (see Master.Undrain). It takes
// the core's lock.
func (reg *registry) undrain(workerID string) error {
	return reg.onKnown(workerID, func(w *workerRec) error {
		switch {
		case w.state == rpcapi.WorkerDead:
			return fmt.Errorf("%w: worker %s is dead; only a draining worker can be undrained", ErrConflict, workerID)
		case w.state == rpcapi.WorkerAlive:
			return nil
		case w.selfDrain:
			return fmt.Errorf("%w: worker %s drains itself (it is shutting down); only a drain of the master's can be undone", ErrConflict, workerID)
		}
		w.state = rpcapi.WorkerAlive
		reg.core.bump()
		reg.core.kick()
		w.poke()
		reg.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name}).Info("worker undrained by request")
		return nil
	})
}

// apiUndrain is POST /api/v1/workers/{id}/undrain.
func (a httpAPI) apiUndrain(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := a.oper.Undrain(r.Context(), id); err != nil {
		return err
	}
	return a.replyWorker(w, id)
}
