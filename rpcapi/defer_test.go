package rpcapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
)

// deferMaster answers task_complete with Defer where it can: the rest of
// the call waits for release, then sets Durable (or fails, for a report
// of job "fail"). wrapped counts the errors OnDeferred saw.
type deferMaster struct {
	*fakeMaster
	release  chan struct{}
	deferred atomic.Int32 // calls that Defer took
	wrapped  atomic.Int32
}

func (f *deferMaster) Complete(ctx context.Context, a *CompleteArgs, r *CompleteReply) error {
	OnDeferred(ctx, func(err error) error {
		if err != nil {
			f.wrapped.Add(1)
		}
		return err
	})
	r.Accepted = len(a.Reports)
	rest := func() error {
		<-f.release
		if len(a.Reports) > 0 && a.Reports[0].JobID == "fail" {
			return fmt.Errorf("%w: store: disk full", ErrUnavailable)
		}
		r.Durable = 42
		return nil
	}
	if Defer(ctx, rest) {
		f.deferred.Add(1)
		return nil
	}
	return rest()
}

// TestDeferGob: over gob, a task_complete whose rest is deferred is
// answered when the rest ends, with what the rest set and its error (which
// the OnDeferred wrap sees); meanwhile the connection answers other calls.
// Over XML-RPC nothing is deferred: the method waits itself.
func TestDeferGob(t *testing.T) {
	fm := &deferMaster{fakeMaster: newFakeMaster("d"), release: make(chan struct{})}
	srv := startRPC(t, "127.0.0.1:0", fm, nil)
	m := MasterClient{C: newTestClient(t, srv.addr)}
	type result struct {
		r   *CompleteReply
		err error
	}
	done := make(chan result, 2)
	for _, id := range []string{"7", "fail"} {
		go func() {
			r, err := m.Complete(ctxT(t, 10*time.Second), &CompleteArgs{Reports: []Report{{JobID: id, Attempt: 1, Outcome: "ok"}}})
			done <- result{r, err}
		}()
	}
	poll.Until(t, 5*time.Second, "both calls deferred", func() bool { return fm.deferred.Load() == 2 })
	// Both calls wait on their rest; the connection still answers.
	if _, err := m.Status(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("status while two calls are deferred: %v", err)
	}
	select {
	case res := <-done:
		t.Fatalf("a deferred call answered before its rest ended: %+v, %v", res.r, res.err)
	default:
	}
	close(fm.release)
	var ok, failed int
	for range 2 {
		res := <-done
		switch {
		case res.err == nil && res.r.Durable == 42 && res.r.Accepted == 1:
			ok++
		case errors.Is(res.err, ErrUnavailable) && strings.Contains(res.err.Error(), "disk full"):
			failed++
		default:
			t.Errorf("deferred call answered %+v, %v", res.r, res.err)
		}
	}
	if ok != 1 || failed != 1 || fm.wrapped.Load() != 1 {
		t.Fatalf("ok %d, failed %d, errors wrapped %d; want 1, 1, 1", ok, failed, fm.wrapped.Load())
	}

	xm := &deferMaster{fakeMaster: newFakeMaster("x"), release: make(chan struct{})}
	close(xm.release)
	mux := http.NewServeMux()
	mux.Handle(XMLRPCPath, NewXMLRPCHandler(xm, nil, XMLRPCOptions{}))
	xs := startServer(t, "127.0.0.1:0", mux)
	r, err := MasterClient{C: newTestXMLClient(t, xs.addr)}.Complete(ctxT(t, 10*time.Second), &CompleteArgs{Reports: []Report{{JobID: "7", Attempt: 1, Outcome: "ok"}}})
	if err != nil || r.Durable != 42 || xm.deferred.Load() != 0 {
		t.Fatalf("over XML-RPC: %+v, %v, deferred %d; want durable 42, nothing deferred", r, err, xm.deferred.Load())
	}
}
