package master

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/rpcapi"
)

// A worker speaks only for itself. register_worker hands out a secret of
// the registration (rpcapi.RegisterReply.Secret); every later call for
// that worker ID (heartbeat, fetch_tasks, task_complete, logout_worker)
// must carry it, and the master sends it with every call to the worker's
// endpoint (assign_task, cancel_task), which the worker refuses without
// it. Worker IDs are public (list_workers shows them); secrets never
// leave the registration's reply and the calls to the worker.

// newSecret returns a fresh registration secret: 256 bits from
// crypto/rand, in hex.
func newSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return hex.EncodeToString(b[:])
}

// setSecret gives w its registration secret, and the digest owns
// compares with.
func (w *workerRec) setSecret(secret string) {
	w.secret, w.secretSum = secret, sha256.Sum256([]byte(secret))
}

// owns reports whether secret is w's registration secret. It compares
// SHA-256 digests in constant time, so the time it takes tells nothing
// about the secret, its length included. A record without a secret (a
// placeholder for leases found in the store) owns none.
func (w *workerRec) owns(secret string) bool {
	if w.secret == "" {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], w.secretSum[:]) == 1
}

// checkSecret refuses a call for w (method, its XML-RPC name) that does
// not carry w's registration secret, with rpcapi.ErrUnauthorized, and
// counts and logs the refusal. The caller holds the core's lock.
func (reg *registry) checkSecret(ctx context.Context, w *workerRec, secret, method string) error {
	if w.owns(secret) {
		return nil
	}
	reg.metrics.badSecret.Inc()
	what := "no secret"
	if secret != "" {
		what = "a wrong secret"
	}
	reg.log.WithFields(logrus.Fields{"worker": w.id, "method": method, "remote": rpcapi.PeerAddr(ctx)}).
		Warn("worker call refused: " + what)
	return fmt.Errorf("%w: %s for worker %s with %s: send the secret that register_worker returned with this worker ID",
		rpcapi.ErrUnauthorized, method, w.id, what)
}

// hear stamps a call that worker id makes with secret as heard at now,
// before the call takes the core's lock: dead_after counts from when the
// master heard the worker, not from when it got to answer (a lock held
// long by a big read must not get live workers reaped). A call without
// the worker's secret is not heard. It returns the record whose secret
// the call carries, or nil, for checkHeard.
func (reg *registry) hear(id, secret string, now time.Time) *workerRec {
	if v, ok := reg.calling.Load(id); ok {
		if w := v.(*workerRec); w.owns(secret) {
			w.heard.Store(now.UnixNano())
			return w
		}
	}
	return nil
}

// checkHeard is checkSecret for a call that hear took in: a record hear
// found the secret of (a record's secret never changes) is not checked
// again.
func (reg *registry) checkHeard(ctx context.Context, w, heard *workerRec, secret, method string) error {
	if w == heard {
		return nil
	}
	return reg.checkSecret(ctx, w, secret, method)
}

// sameProcess reports whether w and old are registrations of one worker
// process: the same name and the same instance (RegisterArgs.Instance),
// which only that process knows. The name alone is anyone's to send.
func (w *workerRec) sameProcess(old *workerRec) bool {
	var none [32]byte
	return w.name == old.name && w.instanceSum != none &&
		subtle.ConstantTimeCompare(w.instanceSum[:], old.instanceSum[:]) == 1
}
