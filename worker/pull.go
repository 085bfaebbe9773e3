package worker

import (
	"context"
	"errors"
	"time"

	"github.com/drover/drover/rpcapi"
)

// fetchWait is how long one Fetch long-polls; the master caps it further
// at half of its dead_after.
const fetchWait = 10 * time.Second

// fetchLoop is pull mode: with free slots, it long-polls the master for
// tasks and starts them as Assign would.
func (w *Worker) fetchLoop() {
	retry := time.Duration(0)
	for {
		w.mu.Lock()
		id, secret, free, draining := w.id, w.secret, w.cfg.Slots-len(w.running), w.draining
		master := w.masterDrain // an undrain resumes fetching
		w.mu.Unlock()
		if draining && !master {
			return
		}
		if id == "" || free <= 0 || draining {
			select {
			case <-w.ctx.Done():
				return
			case <-w.fetchc:
			}
			continue
		}
		ctx, cancel := context.WithTimeout(w.ctx, fetchWait+callTimeout)
		reply, err := w.master.Fetch(ctx, &rpcapi.FetchArgs{WorkerID: id, Secret: secret, Max: free, Timeout: fetchWait})
		cancel()
		if err == nil {
			w.mu.Lock()
			err = w.staleTerm(reply.Term, "fetch_tasks reply") // a deposed master's tasks are not run
			w.mu.Unlock()
		}
		if err != nil {
			if w.ctx.Err() != nil {
				return
			}
			if errors.Is(err, rpcapi.ErrUnknownWorker) {
				w.askRegister(id)
			}
			retry = min(max(2*retry, 100*time.Millisecond), 2*time.Second)
			w.log.WithError(err).Debug("fetch failed; retrying")
			select {
			case <-time.After(retry):
			case <-w.ctx.Done():
				return
			}
			continue
		}
		retry = 0
		if len(reply.Cancel) > 0 {
			w.mu.Lock()
			w.cancelTasks(reply.Cancel)
			w.mu.Unlock()
		}
		if len(reply.Tasks) > 0 {
			var ar rpcapi.AssignReply
			w.assign(&rpcapi.AssignArgs{WorkerID: id, Tasks: reply.Tasks}, &ar)
			for _, rej := range ar.Rejected {
				// The lease stays with us at the master; the next heartbeats
				// do not report it, so it is requeued as lost.
				w.log.WithField("job", rej.JobID).WithField("attempt", rej.Attempt).Warn("fetched task refused: " + rej.Reason)
			}
		}
	}
}
