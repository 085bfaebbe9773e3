package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// WaitResult is where awaited jobs stand.
type WaitResult struct {
	// Done says every awaited job is final.
	Done bool
	// Counts are the awaited jobs by state.
	Counts map[jobs.State]int
	// Failed lists the jobs that ended failed or cancelled, lowest ID
	// first; FailedMore counts those left out of Failed to keep the
	// master's reply within its size bound.
	Failed     []string
	FailedMore int
	// Then is the ID of the group's follow-up job (a wait for a group
	// awaits it too) once the master has made it, and ThenState its
	// state; ThenError says why the master could not make it. All are
	// empty for a group without a follow-up and for a wait for IDs.
	Then      string
	ThenState jobs.State
	ThenError string
}

// OK reports whether every awaited job is final and succeeded, and a
// group's follow-up job, if it has one, was made.
func (r WaitResult) OK() bool { return r.Done && r.NumFailed() == 0 && r.ThenError == "" }

// NumFailed is how many awaited jobs ended failed or cancelled.
func (r WaitResult) NumFailed() int { return len(r.Failed) + r.FailedMore }

// retryDelay is the pause before a Wait calls an unreachable master again.
const retryDelay = time.Second

// firstPoll is how long a Wait's first call blocks on the master (and its
// next, until one has answered): it returns at once with the counts, so
// that a Wait whose ctx ends during the next call has them. (0 would be
// the master's longest wait.)
const firstPoll = time.Millisecond

// pollMargin is the part of left, the time until ctx's deadline, that a
// Wait's call leaves for its round trip: the master answers that much
// before the deadline, so that the counts arrive before it. A fifth, at
// most a second.
func pollMargin(left time.Duration) time.Duration { return min(left/5, time.Second) }

// minPoll is the shortest call a Wait makes before ctx's deadline; with
// less time left, it makes the last call with all of it.
const minPoll = 100 * time.Millisecond

// Wait blocks until every job named by ids is final, or ctx ends. It calls
// the master as often as it takes: the first call returns at once with
// where the jobs stand, each later one blocks on the master up to the
// wait poll (see WithWaitPoll) and, when ctx has a deadline, until a
// fifth of the time left before it (at most 1 s) remains, for the reply.
// It rides out a master restart: while the master is unreachable
// (ErrUnavailable) it calls again every second, so give ctx a deadline.
// An unknown ID is ErrNotFound.
//
// When ctx ends first, Wait returns the last counts it had, with Done
// false, and an error that matches ctx's (context.DeadlineExceeded or
// context.Canceled); the counts are empty only if no call was answered
// (the master could not be reached). Jobs that failed are not an error:
// see WaitResult.OK and Failed.
func (c *Client) Wait(ctx context.Context, ids ...string) (WaitResult, error) {
	if len(ids) == 0 {
		return WaitResult{}, fmt.Errorf("%w: wait for no jobs", ErrBadRequest)
	}
	return c.wait(ctx, rpcapi.WaitArgs{IDs: ids})
}

// WaitGroup is Wait for every job of group and its follow-up job (a
// spec's Then): it returns when the group is final (every job in it is)
// and so is its follow-up, or ctx ends. A group with no jobs is
// ErrNotFound.
func (c *Client) WaitGroup(ctx context.Context, group string) (WaitResult, error) {
	if group == "" {
		return WaitResult{}, fmt.Errorf("%w: wait for an unnamed group", ErrBadRequest)
	}
	return c.wait(ctx, rpcapi.WaitArgs{Group: group})
}

func (c *Client) wait(ctx context.Context, a rpcapi.WaitArgs) (WaitResult, error) {
	var res WaitResult
	have := false // res holds the master's counts
	for {
		if ctx.Err() != nil {
			return res, c.waitErr(ctx, a)
		}
		a.Timeout = c.waitPoll
		if !have {
			a.Timeout = firstPoll
		} else if dl, ok := ctx.Deadline(); ok {
			left := time.Until(dl)
			if left <= 0 {
				return res, c.waitErr(ctx, a)
			}
			poll := left - pollMargin(left)
			if poll < minPoll {
				// The last call: its counts may come too late, and then
				// Wait returns those it had.
				poll = left
			}
			a.Timeout = min(a.Timeout, poll)
		}
		var r rpcapi.WaitReply
		err := c.call(ctx, a.Timeout, rpcapi.MasterWait, &a, &r)
		switch {
		case err == nil:
			res = WaitResult{Done: r.Done, Counts: r.Counts, Failed: r.Failed, FailedMore: r.FailedMore,
				Then: r.Then, ThenState: r.ThenState, ThenError: r.ThenError}
			have = true
			if r.Done {
				return res, nil
			}
		case ctx.Err() != nil:
			return res, c.waitErr(ctx, a)
		case errors.Is(err, ErrUnavailable) && !c.closed.Load():
			t := time.NewTimer(retryDelay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		default:
			return res, err
		}
	}
}

// waitErr is the error of a wait that ctx ended.
func (c *Client) waitErr(ctx context.Context, a rpcapi.WaitArgs) error {
	what := fmt.Sprintf("%d jobs", len(a.IDs))
	if a.Group != "" {
		what = fmt.Sprintf("group %q", a.Group)
	}
	err := ctx.Err()
	if err == nil {
		err = context.DeadlineExceeded // the deadline is here, ctx not yet done
	}
	return fmt.Errorf("client: wait for %s: not final: %w", what, err)
}
