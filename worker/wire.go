package worker

import (
	"context"

	"github.com/drover/drover/rpcapi"
)

// wire is the worker's side of the protocol: the calls a master makes
// (rpcapi.WorkerAPI), served on the worker's endpoint over both
// transports. It is not part of Worker's API: a program that runs a
// worker needs New, Handle, Start and Shutdown only.
type wire struct{ w *Worker }

var _ rpcapi.WorkerAPI = wire{}

// Assign starts each task that fits a free slot and rejects the rest. It
// never blocks on a job.
func (x wire) Assign(_ context.Context, a *rpcapi.AssignArgs, r *rpcapi.AssignReply) error {
	return x.w.assign(a, r)
}

// Cancel stops each named attempt still running; it is reported as
// cancelled.
func (x wire) Cancel(_ context.Context, a *rpcapi.WorkerCancelArgs, _ *rpcapi.Empty) error {
	return x.w.cancelTasks(a)
}

// Ping answers the worker's name, running jobs and slots.
func (x wire) Ping(_ context.Context, _ *rpcapi.Empty, r *rpcapi.PingReply) error {
	w := x.w
	w.mu.Lock()
	defer w.mu.Unlock()
	r.Name, r.Running, r.Slots = w.cfg.Name, len(w.running), w.cfg.Slots
	return nil
}
