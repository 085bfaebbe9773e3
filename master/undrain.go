package master

import (
	"context"
	"fmt"
	"net/http"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/rpcapi"
)

// Undrain undoes Drain: the worker is listed as alive and gets jobs
// again, and its next heartbeat reply (status ok) tells it to take jobs
// again. A worker already alive is left as it is. Errors:
// rpcapi.ErrUnknownWorker for an unknown worker; ErrConflict for a dead
// one, and for one that drains itself (it said so in a heartbeat: it is
// shutting down).
func (m *Master) Undrain(ctx context.Context, workerID string) error {
	m.core.mu.Lock()
	defer m.core.mu.Unlock()
	w := m.reg.workers[workerID]
	if w == nil || w.restored {
		return fmt.Errorf("%w: %q", rpcapi.ErrUnknownWorker, workerID)
	}
	switch {
	case w.state == rpcapi.WorkerDead:
		return fmt.Errorf("%w: worker %s is dead; only a draining worker can be undrained", ErrConflict, workerID)
	case w.state == rpcapi.WorkerAlive:
		return nil
	case w.selfDrain:
		return fmt.Errorf("%w: worker %s drains itself (it is shutting down); only a drain of the master's can be undone", ErrConflict, workerID)
	}
	w.state = rpcapi.WorkerAlive
	m.core.bump()
	m.core.kick()
	w.poke()
	m.log.WithFields(logrus.Fields{"worker": w.id, "name": w.name}).Info("worker undrained by request")
	return nil
}

// apiUndrain is POST /api/v1/workers/{id}/undrain.
func (m *Master) apiUndrain(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := m.Undrain(r.Context(), id); err != nil {
		return err
	}
	wk, err := m.core.getWorker(id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wk)
}
