package testproc

import (
	"context"
	"errors"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The calls to a master that the suites share, whichever way they run it:
// a Cluster of processes here, drovertest's cluster in process, a master
// an example started.

// callTimeout bounds one call of Job and WorkerInfo; Submit has
// submitTimeout, for a batch of a thousand jobs to a busy master.
const (
	callTimeout   = 10 * time.Second
	submitTimeout = 30 * time.Second
)

// Submit submits specs to the master behind mc and returns their IDs,
// failing the test on error.
func Submit(tb TB, mc rpcapi.MasterClient, specs ...jobs.Spec) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), submitTimeout)
	defer cancel()
	r, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs})
	if err != nil {
		tb.Fatalf("submit: %v", err)
		return nil
	}
	return r.IDs
}

// Job returns job id as the master behind mc has it, failing the test on
// error.
func Job(tb TB, mc rpcapi.MasterClient, id string) jobs.Job {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	info, err := mc.GetJob(ctx, id)
	if err != nil {
		tb.Fatalf("job %s: %v", id, err)
		return jobs.Job{}
	}
	return info.Job
}

// WaitAll blocks until every job in ids is final (succeeded, failed or
// cancelled) and returns where they stand, riding out master restarts
// (rpcapi.ErrUnavailable). It fails the test when timeout passes first,
// or on any other error.
func WaitAll(tb TB, mc rpcapi.MasterClient, ids []string, timeout time.Duration) rpcapi.WaitReply {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var last rpcapi.WaitReply
	var lastErr error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			tb.Fatalf("%d jobs not final within %s: counts %v, last error %v", len(ids), timeout, last.Counts, lastErr)
			return last
		}
		ctx, cancel := context.WithTimeout(context.Background(), left+5*time.Second)
		r, err := mc.Wait(ctx, &rpcapi.WaitArgs{IDs: ids, Timeout: min(left, rpcapi.MaxWait)})
		cancel()
		switch {
		case err == nil && r.Done:
			return *r
		case err == nil:
			last = *r
		case errors.Is(err, rpcapi.ErrUnavailable):
			lastErr = err
			time.Sleep(20 * time.Millisecond) // the master is restarting
		default:
			tb.Fatalf("wait: %v", err)
			return last
		}
	}
}

// WorkerInfo returns the master's record of the worker named name: its
// registration id when the master lists it (id not ""), else its latest
// registration; false when the master lists none, or does not answer.
func WorkerInfo(mc rpcapi.MasterClient, name, id string) (rpcapi.WorkerInfo, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	r, err := mc.ListWorkers(ctx)
	if err != nil {
		return rpcapi.WorkerInfo{}, false
	}
	var best rpcapi.WorkerInfo
	found := false
	for _, wi := range r.Workers {
		if wi.Name != name {
			continue
		}
		if id != "" && wi.ID == id {
			return wi, true
		}
		if !found || wi.Registered.After(best.Registered) {
			best, found = wi, true
		}
	}
	return best, found
}
