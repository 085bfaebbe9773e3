package master

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The typed calls of a program that embeds a master: the same operations
// as the wire's (wire.go), with Go signatures, and the operator's (ops.go):
// Retry, Drain, Undrain and Purge. Errors wrap the rpcapi sentinels
// (rpcapi.ErrNotFound, rpcapi.ErrBadRequest, ...) and ErrConflict, for
// errors.Is. Once Close is called (or Start failed) each returns at once
// an error that wraps rpcapi.ErrUnavailable, and changes nothing.

// open is the first step of a typed call: ErrUnavailable once the master
// is closed or its Start failed, else it waits for the whole store to be
// loaded (awaitReady) or ctx to end.
func (m *Master) open(ctx context.Context) error {
	if err := m.closedErr(); err != nil {
		return err
	}
	return m.core.awaitReady(ctx)
}

// closedErr returns ErrUnavailable once the master is closed or its
// Start failed, else nil.
func (m *Master) closedErr() error {
	if m.core.isClosed() {
		return fmt.Errorf("%w: master closed", rpcapi.ErrUnavailable)
	}
	return nil
}

// Submit submits specs and returns their job IDs, in order, once the jobs
// are durable. A spec whose Key is already known gives that job's ID. One
// invalid spec fails the call, and nothing is submitted.
func (m *Master) Submit(ctx context.Context, specs ...jobs.Spec) ([]string, error) {
	if err := m.open(ctx); err != nil {
		return nil, err
	}
	var r rpcapi.SubmitReply
	if err := m.wire.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs}, &r); err != nil {
		return nil, err
	}
	return r.IDs, nil
}

// Job returns a copy of job id, from memory or, for a job that has left
// it, from the store.
func (m *Master) Job(ctx context.Context, id string) (jobs.Job, error) {
	if err := m.open(ctx); err != nil {
		return jobs.Job{}, err
	}
	j, _, err := m.core.findJob(id)
	if err != nil {
		return jobs.Job{}, err
	}
	return *j, nil
}

// JobQuery selects a page of jobs for Jobs. Empty fields match every job.
type JobQuery struct {
	State jobs.State
	Type  string
	Group string
	// Oldest lists the oldest job first; the default is the newest
	// first.
	Oldest bool
	// Limit is the most jobs on the page: 0 means DefaultPageSize, at
	// most MaxPageSize.
	Limit int
	// Cursor is the next cursor of the previous page; "" for the first.
	Cursor string
}

// Jobs returns one page of the jobs q selects and the cursor of the next
// page ("" after the last). Pages are bounded as every listing's are
// (max_reply_bytes, and the jobs one call examines), so a page may hold
// fewer than q.Limit jobs and still have a next cursor.
func (m *Master) Jobs(ctx context.Context, q JobQuery) ([]jobs.Job, string, error) {
	if err := m.open(ctx); err != nil {
		return nil, "", err
	}
	order := rpcapi.OrderDesc
	if q.Oldest {
		order = rpcapi.OrderAsc
	}
	var r rpcapi.ListJobsReply
	err := m.wire.ListJobs(ctx, &rpcapi.ListJobsArgs{State: q.State, Type: q.Type, Group: q.Group,
		Limit: q.Limit, Order: order, Cursor: q.Cursor}, &r)
	return r.Jobs, r.NextCursor, err
}

// Cancel cancels the jobs ids (a running job's worker is told to stop it)
// and returns those it cancelled. The error lists the others: IDs unknown
// (rpcapi.ErrNotFound) or already final (ErrConflict). No IDs is
// rpcapi.ErrBadRequest.
func (m *Master) Cancel(ctx context.Context, ids ...string) ([]string, error) {
	return m.cancelCall(ctx, &rpcapi.CancelArgs{IDs: ids})
}

// CancelGroup cancels every live job of group g and returns the IDs it
// cancelled; rpcapi.ErrNotFound when g has no jobs, rpcapi.ErrBadRequest
// for g "" (no group), as WaitGroup.
func (m *Master) CancelGroup(ctx context.Context, g string) ([]string, error) {
	return m.cancelCall(ctx, &rpcapi.CancelArgs{Group: g})
}

func (m *Master) cancelCall(ctx context.Context, a *rpcapi.CancelArgs) ([]string, error) {
	if err := m.open(ctx); err != nil {
		return nil, err
	}
	var r rpcapi.CancelReply
	if err := m.wire.Cancel(ctx, a, &r); err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range r.Errors {
		kind := ErrConflict
		if strings.HasSuffix(e, ": no such job") {
			kind = rpcapi.ErrNotFound
		}
		errs = append(errs, fmt.Errorf("%w: %s", kind, e))
	}
	if r.ErrorsMore > 0 {
		errs = append(errs, fmt.Errorf("%w: and %d more", ErrConflict, r.ErrorsMore))
	}
	return r.Cancelled, errors.Join(errs...)
}

// WaitResult is where the awaited jobs stand.
type WaitResult struct {
	Done   bool               // every awaited job is final
	Counts map[jobs.State]int // jobs by state
	// Failed lists the final jobs that did not succeed, lowest ID first;
	// FailedMore counts those left out (max_reply_bytes).
	Failed     []string
	FailedMore int
	// Then is the ID of the group's follow-up job (WaitGroup awaits it
	// too) once made, and ThenState its state; ThenError says why it
	// could not be made.
	Then      string
	ThenState jobs.State
	ThenError string
}

// Wait blocks until every job of ids is final, or ctx ends; it then
// returns where they stand (Done says which), with ctx's error in the
// second case.
func (m *Master) Wait(ctx context.Context, ids ...string) (WaitResult, error) {
	return m.waitCall(ctx, &rpcapi.WaitArgs{IDs: ids})
}

// WaitGroup is Wait for every job of group g, in memory or on disk, and
// for its follow-up job (a spec's Then).
func (m *Master) WaitGroup(ctx context.Context, g string) (WaitResult, error) {
	return m.waitCall(ctx, &rpcapi.WaitArgs{Group: g})
}

func (m *Master) waitCall(ctx context.Context, a *rpcapi.WaitArgs) (WaitResult, error) {
	if err := m.open(ctx); err != nil {
		return WaitResult{}, err
	}
	a.Timeout = rpcapi.MaxWait
	for {
		var r rpcapi.WaitReply
		if err := m.wire.Wait(ctx, a, &r); err != nil {
			return WaitResult{}, err
		}
		res := WaitResult{Done: r.Done, Counts: r.Counts, Failed: r.Failed, FailedMore: r.FailedMore,
			Then: r.Then, ThenState: r.ThenState, ThenError: r.ThenError}
		if r.Done {
			return res, nil
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if m.core.isClosed() { // the wire's Wait returns at once
			return res, fmt.Errorf("%w: master shutting down", rpcapi.ErrUnavailable)
		}
	}
}

// Counts returns how many jobs are in each state, those on disk only
// included. It waits for the whole store to be loaded; on a master
// closed before it was, it returns nil.
func (m *Master) Counts() map[jobs.State]int {
	select {
	case <-m.core.ready:
	case <-m.core.failed:
	case <-m.core.ctx.Done():
		select {
		case <-m.core.ready:
		default:
			return nil
		}
	}
	var r rpcapi.StatusReply
	m.wire.Status(context.Background(), &rpcapi.Empty{}, &r)
	return maps.Clone(r.Counts)
}

// Retry puts a failed or cancelled job back to pending, to run again as a
// new attempt; its earlier attempts stay in its history. The job's spec is
// unchanged, so its retry budget is not renewed: a job that had used up its
// retries gets one more attempt, and fails again if that attempt fails. It
// returns once the change is durable. Errors: rpcapi.ErrNotFound for an
// unknown job, ErrConflict for a job in any other state, and
// rpcapi.ErrUnavailable when the master is closing or the store fails.
func (m *Master) Retry(ctx context.Context, id string) error {
	if err := m.closedErr(); err != nil {
		return err
	}
	return m.ops.Retry(ctx, id)
}

// Drain stops dispatch to a live worker: it is listed as draining, gets no
// new jobs, and its next heartbeat reply tells it to drain (finish what it
// runs, take nothing new). A worker already draining is left as it is.
// Errors: rpcapi.ErrUnknownWorker for an unknown worker, ErrConflict for a
// dead one.
func (m *Master) Drain(ctx context.Context, workerID string) error {
	if err := m.closedErr(); err != nil {
		return err
	}
	return m.ops.Drain(ctx, workerID)
}

// Undrain undoes Drain: the worker is listed as alive and gets jobs
// again, and its next heartbeat reply (status ok) tells it to take jobs
// again. A worker already alive is left as it is. Errors:
// rpcapi.ErrUnknownWorker for an unknown worker; ErrConflict for a dead
// one, and for one that drains itself (it said so in a heartbeat: it is
// shutting down).
func (m *Master) Undrain(ctx context.Context, workerID string) error {
	if err := m.closedErr(); err != nil {
		return err
	}
	return m.ops.Undrain(ctx, workerID)
}

// Purge deletes the finished jobs that f selects, from memory and from the
// store, now, and returns how many it deleted. Live jobs are never
// touched, nor jobs from a jobs file. A job of a group whose on_done has
// not finished yet stays.
func (m *Master) Purge(ctx context.Context, f PurgeFilter) (int, error) {
	if err := m.closedErr(); err != nil {
		return 0, err
	}
	if err := f.check(); err != nil {
		return 0, err
	}
	return m.ops.Purge(ctx, f)
}
