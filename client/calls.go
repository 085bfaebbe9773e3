package client

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Submit submits specs in one call and returns their job IDs, in order. It
// returns after the master has committed the jobs to its store. A spec
// whose Key (or live UniqueKey) the master already knows makes no new job:
// its ID is the existing job's. A spec with a Schedule makes (or replaces)
// a cron schedule instead of a job, and its ID is "schedule:" + its Name.
// An invalid spec fails the whole call with ErrBadRequest, naming the
// spec; so does a call with no specs.
func (c *Client) Submit(ctx context.Context, specs ...jobs.Spec) ([]string, error) {
	for i, s := range specs {
		// Over XML-RPC an empty then reads as none (docs/protocol.md):
		// refused here, as the master refuses it over gob.
		if s.Then != nil && s.Then.Type == "" {
			return nil, fmt.Errorf("%w: spec %d: then: spec has no type", ErrBadRequest, i)
		}
	}
	var r rpcapi.SubmitReply
	if err := c.call(ctx, 0, rpcapi.MasterSubmit, &rpcapi.SubmitArgs{Specs: specs}, &r); err != nil {
		return nil, err
	}
	return r.IDs, nil
}

// JobInfo is one job with its history, as Job returns it: Job is the
// whole job, and Waiting says why a pending job has not run yet ("no live
// worker has type \"ocr\"", "retry backoff: eligible in 3.2s"); empty
// otherwise. Its View is the job as the JSON API and "drover job --json"
// show it; rpcapi.ViewJob does the same for a job of a listing.
type JobInfo = rpcapi.JobInfo

// Job returns the job with ID id, its attempts and its timeline, or
// ErrNotFound.
func (c *Client) Job(ctx context.Context, id string) (JobInfo, error) {
	var r JobInfo
	if err := c.call(ctx, 0, rpcapi.MasterGetJob, &rpcapi.GetJobArgs{ID: id}, &r); err != nil {
		return JobInfo{}, err
	}
	return r, nil
}

// Order is the order of a listing.
type Order int

// The orders of a listing.
const (
	// NewestFirst lists the latest submitted first (the default).
	NewestFirst Order = iota
	// OldestFirst lists in submission order.
	OldestFirst
)

// arg is o on the wire; an Order that is neither NewestFirst nor
// OldestFirst is an error wrapping ErrBadRequest.
func (o Order) arg() (string, error) {
	switch o {
	case NewestFirst:
		return "", nil // desc, and what a master from before paging expects
	case OldestFirst:
		return rpcapi.OrderAsc, nil
	}
	return "", fmt.Errorf("%w: order %d: want NewestFirst or OldestFirst", ErrBadRequest, int(o))
}

// Query selects jobs for Jobs and JobsPage. Empty fields match every job.
type Query struct {
	State jobs.State
	Type  string
	Group string
	// Order is NewestFirst (default) or OldestFirst; another value is
	// ErrBadRequest.
	Order Order
	// PageSize is how many jobs one call to the master asks for: 0 means
	// DefaultPageSize, and more than MaxPageSize is ErrBadRequest.
	PageSize int
	// Cursor starts the listing where a previous page ended (Page.Next);
	// empty starts at the first job in Order.
	Cursor string
}

// Page sizes of Query.PageSize.
const (
	DefaultPageSize = rpcapi.DefaultPageSize
	MaxPageSize     = rpcapi.MaxPageSize
)

// Page is one page of jobs.
type Page struct {
	Jobs []jobs.Job
	// Next is the Cursor of the next page; empty on the last page. A page
	// may hold fewer than PageSize jobs, none even, and still have a Next.
	Next string
}

func (q Query) args() (*rpcapi.ListJobsArgs, error) {
	order, err := q.Order.arg()
	return &rpcapi.ListJobsArgs{State: q.State, Type: q.Type, Group: q.Group,
		Limit: q.PageSize, Cursor: q.Cursor, Order: order}, err
}

// JobsPage returns one page of the jobs q selects, from q.Cursor on: a call
// for a UI that shows a page at a time.
func (c *Client) JobsPage(ctx context.Context, q Query) (Page, error) {
	a, err := q.args()
	if err != nil {
		return Page{}, err
	}
	var r rpcapi.ListJobsReply
	if err := c.call(ctx, 0, rpcapi.MasterListJobs, a, &r); err != nil {
		return Page{}, err
	}
	return Page{Jobs: r.Jobs, Next: r.NextCursor}, nil
}

// Jobs returns an iterator over the jobs q selects, from q.Cursor to the
// end. It calls the master for one page at a time, as the loop reaches it,
// and stops calling when the loop breaks. A failed call ends the iteration
// with one (zero Job, err) pair. Each call has its own timeout; ctx bounds
// the whole.
func (c *Client) Jobs(ctx context.Context, q Query) iter.Seq2[jobs.Job, error] {
	return pages(q.Cursor, func(cursor string) ([]jobs.Job, string, error) {
		a, err := q.args()
		if err != nil {
			return nil, "", err
		}
		a.Cursor = cursor
		var r rpcapi.ListJobsReply
		err = c.call(ctx, 0, rpcapi.MasterListJobs, a, &r)
		return r.Jobs, r.NextCursor, err
	})
}

// pages returns an iterator over the items of a listing, from cursor
// first on, that calls fetch for one page at a time, as the loop reaches
// it: fetch returns the page at cursor and the cursor of the next ("" on
// the last page). A failed fetch ends the iteration with one (zero, err)
// pair.
func pages[T any](first string, fetch func(cursor string) ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for cursor := first; ; {
			items, next, err := fetch(cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			cursor = next
		}
	}
}

// Worker is a worker as the master lists it.
type Worker = rpcapi.WorkerInfo

// Worker states (Worker.State).
const (
	WorkerAlive    = rpcapi.WorkerAlive
	WorkerDraining = rpcapi.WorkerDraining
	WorkerDead     = rpcapi.WorkerDead
)

// Workers returns an iterator over the workers the master knows (live ones
// and the latest dead ones), the latest registered first, one page a call,
// as Jobs does.
func (c *Client) Workers(ctx context.Context) iter.Seq2[Worker, error] {
	return pages("", func(cursor string) ([]Worker, string, error) {
		var r rpcapi.ListWorkersReply
		err := c.call(ctx, 0, rpcapi.MasterListWorkers, &rpcapi.ListWorkersArgs{Cursor: cursor}, &r)
		return r.Workers, r.NextCursor, err
	})
}

// Group is a group's progress as the master computes it from its jobs.
type Group = rpcapi.GroupInfo

// Group returns the group name with its failed and cancelled jobs (at most
// rpcapi.MaxUnsuccessful of them), or ErrNotFound when it has no jobs.
func (c *Client) Group(ctx context.Context, name string) (Group, error) {
	var r Group
	if err := c.call(ctx, 0, rpcapi.MasterGetGroup, &rpcapi.GetGroupArgs{Name: name}, &r); err != nil {
		return Group{}, err
	}
	r.AsDetail()
	return r, nil
}

// Groups returns an iterator over the master's groups (without their
// Unsuccessful lists), the latest started first, one page a call, as Jobs
// does.
func (c *Client) Groups(ctx context.Context) iter.Seq2[Group, error] {
	return pages("", func(cursor string) ([]Group, string, error) {
		var r rpcapi.ListGroupsReply
		err := c.call(ctx, 0, rpcapi.MasterListGroups, &rpcapi.ListGroupsArgs{Cursor: cursor}, &r)
		return r.Groups, r.NextCursor, err
	})
}

// Status is the master at a glance.
type Status struct {
	// Counts are the master's jobs by state.
	Counts  map[jobs.State]int
	Workers []Worker
	// Started is when the master started.
	Started time.Time
	// Dropped counts the stale reports dropped by attempt fencing since
	// the master started; Reaped the workers it declared dead.
	Dropped, Reaped int64
}

// Status returns the master's job counts and workers.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var r rpcapi.StatusReply
	if err := c.call(ctx, 0, rpcapi.MasterStatus, &rpcapi.Empty{}, &r); err != nil {
		return Status{}, err
	}
	return Status{Counts: r.Counts, Workers: r.Workers, Started: r.Started, Dropped: r.Dropped, Reaped: r.Reaped}, nil
}

// Cancelled says what a cancel did.
type Cancelled struct {
	// IDs are the jobs cancelled; More counts those left out of IDs to
	// keep the master's reply within its size bound.
	IDs  []string
	More int
	// Errors say why jobs were not cancelled ("7: already succeeded", "9:
	// no such job"); ErrorsMore counts those left out.
	Errors     []string
	ErrorsMore int
	// Skipped counts the live jobs of the group that a client token on a
	// master with client_cancel "own" left alone: other tokens submitted
	// them.
	Skipped int
}

// Cancel cancels the jobs named by ids: a pending job never runs, and a
// running job's worker is told to stop it. A job that is already final, or
// unknown, is not an error of the call: it is listed in Cancelled.Errors.
// A client token on a master with client_cancel "own" that names a live
// job another token submitted gets ErrForbidden, and nothing is cancelled.
// No ids is ErrBadRequest.
func (c *Client) Cancel(ctx context.Context, ids ...string) (Cancelled, error) {
	return c.cancel(ctx, &rpcapi.CancelArgs{IDs: ids})
}

// CancelGroup cancels every live job of group, or returns ErrNotFound if
// the group has no jobs (ErrBadRequest for the group ""). A client token on a master with client_cancel
// "own" cancels only the group's jobs it submitted (Cancelled.Skipped
// counts the others), and gets ErrForbidden when none of them is its own.
func (c *Client) CancelGroup(ctx context.Context, group string) (Cancelled, error) {
	return c.cancel(ctx, &rpcapi.CancelArgs{Group: group})
}

func (c *Client) cancel(ctx context.Context, a *rpcapi.CancelArgs) (Cancelled, error) {
	var r rpcapi.CancelReply
	if err := c.call(ctx, 0, rpcapi.MasterCancel, a, &r); err != nil {
		return Cancelled{}, err
	}
	return Cancelled{IDs: r.Cancelled, More: r.CancelledMore, Errors: r.Errors, ErrorsMore: r.ErrorsMore, Skipped: r.Skipped}, nil
}

// PurgeFilter selects finished jobs (succeeded, failed or cancelled) for
// Purge. Every field set must match. Set at least one of State, Type,
// Group and OlderThan, or All alone.
type PurgeFilter struct {
	// State is jobs.Succeeded, jobs.Failed, jobs.Cancelled, or "" for any.
	State jobs.State
	Type  string
	Group string
	// OlderThan keeps the jobs that finished less than this long ago.
	OlderThan time.Duration
	// All selects every finished job; it excludes the other fields.
	All bool
}

// Purge deletes the finished jobs f selects now, from the master's memory
// and store, and returns how many it deleted. Live jobs are never deleted,
// nor are the jobs of a group that still has live ones. An empty or
// inconsistent filter is ErrBadRequest.
func (c *Client) Purge(ctx context.Context, f PurgeFilter) (int, error) {
	a := rpcapi.PurgeArgs{State: f.State, Type: f.Type, Group: f.Group, OlderThan: f.OlderThan, All: f.All}
	var r rpcapi.PurgeReply
	if err := c.call(ctx, 0, rpcapi.MasterPurge, &a, &r); err != nil {
		return 0, err
	}
	return r.Purged, nil
}

// Schedule is a cron schedule as the master lists it.
type Schedule = rpcapi.ScheduleInfo

// Schedules returns the master's cron schedules, by name.
func (c *Client) Schedules(ctx context.Context) ([]Schedule, error) {
	var r rpcapi.ListSchedulesReply
	if err := c.call(ctx, 0, rpcapi.MasterSchedules, &rpcapi.Empty{}, &r); err != nil {
		return nil, err
	}
	return r.Schedules, nil
}

// PauseSchedule stops the schedule name from firing, until ResumeSchedule;
// the pause outlives a master restart. It returns the schedule, or
// ErrNotFound.
func (c *Client) PauseSchedule(ctx context.Context, name string) (Schedule, error) {
	return c.schedule(ctx, rpcapi.MasterPause, name)
}

// ResumeSchedule lets a paused schedule fire again from its next instant
// (the instants passed while paused do not fire). It returns the schedule,
// or ErrNotFound.
func (c *Client) ResumeSchedule(ctx context.Context, name string) (Schedule, error) {
	return c.schedule(ctx, rpcapi.MasterResume, name)
}

func (c *Client) schedule(ctx context.Context, method, name string) (Schedule, error) {
	var r rpcapi.ScheduleInfo
	if err := c.call(ctx, 0, method, &rpcapi.ScheduleArgs{Name: name}, &r); err != nil {
		return Schedule{}, err
	}
	return r, nil
}
