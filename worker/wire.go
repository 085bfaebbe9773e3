package worker

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/rpcapi"
)

// wire is the worker's side of the protocol: the calls a master makes
// (rpcapi.WorkerAPI), served on the worker's endpoint over both
// transports. It is not part of Worker's API: a program that runs a
// worker needs New, Handle, Start and Shutdown only.
//
// Assign and Cancel run only for the master the worker registered with:
// they must carry the secret of the worker's registration
// (rpcapi.RegisterReply.Secret), which only that master knows. The
// token, when set, is checked before (rpcapi.RequireToken).
type wire struct{ w *Worker }

var _ rpcapi.WorkerAPI = wire{}

// notRegistered is why tasks are rejected while the worker has no
// registration: the master may call before its register_worker reply
// reaches the worker, and takes the rejection without using a retry.
const notRegistered = "not registered with the master yet"

// Assign starts each task that fits a free slot and rejects the rest. It
// never blocks on a job. Without this registration's secret it runs
// nothing: rpcapi.ErrUnauthorized, or every task rejected while the
// worker is (re-)registering.
func (x wire) Assign(ctx context.Context, a *rpcapi.AssignArgs, r *rpcapi.AssignReply) error {
	w := x.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.secret == "" {
		for _, t := range a.Tasks {
			r.Rejected = append(r.Rejected, rpcapi.Rejection{JobRef: rpcapi.JobRef{JobID: t.JobID, Attempt: t.Attempt}, Reason: notRegistered})
		}
		return nil
	}
	if err := w.fromMaster(ctx, a.Secret, "assign_task"); err != nil {
		return err
	}
	if err := w.fromTerm(ctx, a.Term, "assign_task"); err != nil {
		return err
	}
	w.take(a, r, true)
	return nil
}

// Cancel stops each named attempt still running; it is reported as
// cancelled. Without this registration's secret it stops nothing and
// returns rpcapi.ErrUnauthorized.
func (x wire) Cancel(ctx context.Context, a *rpcapi.WorkerCancelArgs, _ *rpcapi.Empty) error {
	w := x.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.fromMaster(ctx, a.Secret, "cancel_task"); err != nil {
		return err
	}
	if err := w.fromTerm(ctx, a.Term, "cancel_task"); err != nil {
		return err
	}
	w.cancelTasks(a.Jobs)
	return nil
}

// Ping answers the worker's name, running jobs and slots.
func (x wire) Ping(_ context.Context, _ *rpcapi.Empty, r *rpcapi.PingReply) error {
	w := x.w
	w.mu.Lock()
	defer w.mu.Unlock()
	r.Name, r.Running, r.Slots = w.cfg.Name, len(w.running), w.cfg.Slots
	return nil
}

// fromMaster refuses a call to the endpoint (method, its XML-RPC name)
// that does not carry the secret of the worker's registration, comparing
// SHA-256 digests in constant time; it counts and logs the refusal. The
// caller holds mu.
func (w *Worker) fromMaster(ctx context.Context, secret, method string) error {
	got, want := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(w.secret))
	if w.secret != "" && subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
		return nil
	}
	w.metrics.refused.Inc()
	w.log.WithFields(logrus.Fields{"method": method, "remote": rpcapi.PeerAddr(ctx)}).
		Warn("call refused: it does not carry the secret of this worker's registration")
	return fmt.Errorf("%w: worker: %s without the secret of this worker's registration with its master",
		rpcapi.ErrUnauthorized, method)
}

// fromTerm refuses a call to the endpoint (method) from a deposed master
// (staleTerm), counting and logging the refusal as fromMaster does. The
// caller holds mu.
func (w *Worker) fromTerm(ctx context.Context, term int64, method string) error {
	err := w.staleTerm(term, method)
	if err != nil {
		w.metrics.refused.Inc()
		w.log.WithFields(logrus.Fields{"method": method, "remote": rpcapi.PeerAddr(ctx), "term": term, "seen": w.term}).
			Warn("call refused: it comes from a deposed master (a lower raft term than this worker has seen)")
	}
	return err
}

// staleTerm notes the raft term a master named in a call or a reply
// (what) and returns an rpcapi.ErrNotLeader if it is below the highest
// term a master has named to this worker: that master has been deposed,
// though it may not know it yet. Term 0 is a single master's, which has
// no term. A higher term becomes the highest seen. The caller holds mu.
func (w *Worker) staleTerm(term int64, what string) error {
	if term == 0 || term >= w.term {
		w.term = max(w.term, term)
		return nil
	}
	return fmt.Errorf("%w: worker: %s from a master of raft term %d; this worker has seen term %d (that master was deposed)",
		rpcapi.ErrNotLeader, what, term, w.term)
}
