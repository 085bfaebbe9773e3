package master

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Bulk actions: retry, cancel and purge of every job a filter selects
// (POST /api/v1/jobs/retry, /cancel and /purge), with the filter of the
// jobs listing (GET /api/v1/jobs). Each walks the jobs a page at a time,
// oldest first, over the same walk as the listing (memory, then the
// store's indexes), and acts on a page under the lock before it reads
// the next, so that no call holds more than a page of jobs.

// bulkBatch is the jobs one page of a bulk action holds and acts on
// under the lock.
const bulkBatch = 1000

// jobFilter is the filter of the jobs listing and of the bulk actions:
// the listing's query parameters and the bulk actions' body members,
// under the same names.
type jobFilter struct {
	State     jobs.State `json:"state"`
	Type      string     `json:"type"`
	Group     string     `json:"group"`
	Worker    string     `json:"worker"`
	Error     string     `json:"error"`      // a substring of the latest attempt's error, any case
	Q         string     `json:"q"`          // a substring of some key=value of the args, any case
	OlderThan string     `json:"older_than"` // a Go duration: last changed at least this long ago
}

// filterParams are the query parameters of jobFilter.
var filterParams = []string{"state", "type", "group", "worker", "error", "q", "older_than"}

// filterOf reads a jobFilter from query parameters.
func filterOf(p url.Values) jobFilter {
	return jobFilter{State: jobs.State(p.Get("state")), Type: p.Get("type"), Group: p.Get("group"),
		Worker: p.Get("worker"), Error: p.Get("error"), Q: p.Get("q"), OlderThan: p.Get("older_than")}
}

func (f *jobFilter) empty() bool { return *f == jobFilter{} }

// query checks f and returns the jobQuery that selects its jobs at now.
func (f *jobFilter) query(now time.Time) (jobQuery, error) {
	q := jobQuery{State: f.State, Type: f.Type, Group: f.Group, Worker: f.Worker,
		Error: strings.ToLower(f.Error), Text: strings.ToLower(f.Q)}
	if q.State != "" && !q.State.Valid() {
		return q, fmt.Errorf("%w: unknown state %q (want one of %v)", rpcapi.ErrBadRequest, q.State, jobs.States)
	}
	if f.OlderThan != "" {
		d, err := time.ParseDuration(f.OlderThan)
		if err != nil || d <= 0 {
			return q, fmt.Errorf("%w: older_than %q: want a duration above 0 such as \"24h\" or \"30m\"", rpcapi.ErrBadRequest, f.OlderThan)
		}
		q.Before = now.Add(-d)
	}
	return q, nil
}

// bulkBody is the body of a bulk action: a filter, or all alone, and
// dry_run to count the jobs instead of acting on them.
type bulkBody struct {
	jobFilter
	All    bool `json:"all"`
	DryRun bool `json:"dry_run"`
}

// bulkReply is the reply of a bulk action.
type bulkReply struct {
	// Count is how many jobs it acted on; with DryRun, how many it would
	// act on now.
	Count  int  `json:"count"`
	DryRun bool `json:"dry_run"`
	// Skipped counts the jobs a client token may not cancel
	// (client_cancel = "own"): others submitted them.
	Skipped int `json:"skipped,omitempty"`
}

// bulkQuery decodes a bulk action's body. It refuses an empty filter
// without all, all with a filter, and a state outside states (the ones
// the action applies to).
func (a httpAPI) bulkQuery(w http.ResponseWriter, r *http.Request, action string, states ...jobs.State) (jobQuery, bool, error) {
	if _, err := queryParams(r); err != nil {
		return jobQuery{}, false, err
	}
	var b bulkBody
	if err := a.decodeBody(w, r, &b, false, `a filter as JSON, such as {"state": "failed", "type": "crawl"}, or {"all": true}`); err != nil {
		return jobQuery{}, false, err
	}
	switch {
	case b.All && !b.empty():
		return jobQuery{}, false, fmt.Errorf("%w: %s: all takes no other filter (state, type, group, worker, error, q, older_than)", rpcapi.ErrBadRequest, action)
	case !b.All && b.empty():
		return jobQuery{}, false, fmt.Errorf("%w: %s needs a filter: state, type, group, worker, error, q or older_than (or all for every job it applies to)", rpcapi.ErrBadRequest, action)
	case b.State != "" && b.State.Valid() && !slices.Contains(states, b.State):
		return jobQuery{}, false, fmt.Errorf("%w: %s: state %q: want %s", rpcapi.ErrBadRequest, action, b.State, orStates(states))
	}
	q, err := b.query(a.view.now())
	return q, b.DryRun, err
}

// orStates words states as "a, b or c".
func orStates(states []jobs.State) string {
	s := make([]string, len(states))
	for i, st := range states {
		s[i] = string(st)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// bulkItem is a job a bulk walk selected: its ID and submitter, and the
// job as read from the store when it was not in memory.
type bulkItem struct {
	id, submitter string
	stored        *jobs.Job
}

// bulkWalk calls fn with the jobs q selects (and keep, when not nil,
// keeps), a page of at most bulkBatch at a time, oldest first, in each
// of states in turn (q's own state when states is empty). fn runs
// without mu.
func (o *operator) bulkWalk(ctx context.Context, q jobQuery, states []jobs.State, keep func(*jobs.Job) bool, fn func([]bulkItem) error) error {
	if len(states) == 0 {
		states = []jobs.State{q.State}
	}
	q.Asc, q.Limit, q.MaxBytes = true, bulkBatch, 0
	q.Size = func(*jobs.Job) int { return 0 }
	for _, s := range states {
		q.State, q.Cursor = s, ""
		for {
			var page []bulkItem
			next, err := o.core.pageJobs(&q, func(j *jobs.Job) { // under mu
				if keep != nil && !keep(j) {
					return
				}
				it := bulkItem{id: j.ID, submitter: j.Submitter}
				if o.core.job(j.ID) != j {
					it.stored = j // decoded from the store: nobody else has it
				}
				page = append(page, it)
			})
			if err != nil {
				return err
			}
			if len(page) > 0 {
				if err := fn(page); err != nil {
					return err
				}
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("%w: %v", rpcapi.ErrUnavailable, err)
			}
			if next == "" {
				break
			}
			q.Cursor = next
		}
	}
	return nil
}

// retryJobs retries every failed or cancelled job q selects, as Retry
// does one, and returns how many; with dry, it only counts them.
func (o *operator) retryJobs(ctx context.Context, q jobQuery, dry bool) (int, error) {
	if err := o.core.awaitReady(ctx); err != nil {
		return 0, err
	}
	states := []jobs.State{jobs.Failed, jobs.Cancelled}
	if q.State != "" {
		states = nil
	}
	n := 0
	err := o.bulkWalk(ctx, q, states, nil, func(page []bulkItem) error {
		if dry {
			n += len(page)
			return nil
		}
		k, err := o.retryPage(page)
		n += k
		return err
	})
	if !dry && n > 0 {
		o.log.WithFields(logrus.Fields{"jobs": n}).Info("jobs retried by request")
	}
	return n, err
}

// retryPage retries the jobs of page that are still failed or cancelled,
// under one hold of mu, and returns once the changes are durable. A job
// that left memory since the walk read it is read again from the store.
func (o *operator) retryPage(page []bulkItem) (int, error) {
	n, missed, err := o.retryLocked(page)
	if err != nil || len(missed) == 0 {
		return n, err
	}
	again := make([]bulkItem, 0, len(missed))
	for _, id := range missed {
		j, err := o.core.fromHistory(id)
		if err != nil {
			return n, err
		}
		if j != nil {
			again = append(again, bulkItem{id: id, stored: j})
		}
	}
	k, _, err := o.retryLocked(again)
	return n + k, err
}

// retryLocked is retryPage's work under mu. It returns the IDs of the
// jobs it found neither in memory nor in page.
func (o *operator) retryLocked(page []bulkItem) (int, []string, error) {
	now := o.core.now()
	if err := o.core.lockOpen(); err != nil {
		return 0, nil, err
	}
	var last *batch
	var missed []string
	n := 0
	for _, it := range page {
		j := o.core.job(it.id)
		if j == nil && it.stored != nil {
			j = o.core.readmit(it.stored) // it had left memory: it comes back to run again
		}
		if j == nil {
			missed = append(missed, it.id)
			continue
		}
		if j.State != jobs.Failed && j.State != jobs.Cancelled {
			continue // changed since the walk read it
		}
		if _, b, err := o.core.apply(jobChange{kind: changeRetry, job: j.ID, at: now}); err == nil {
			last = b
			n++
		}
	}
	o.core.unlock()
	if last != nil {
		o.core.kick()
		if err := last.wait(); err != nil {
			return n, nil, fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
		}
	}
	return n, missed, nil
}

// cancelJobs cancels every pending or running job q selects, as cancel
// does, and returns how many, and how many it skipped: a client token
// bound to its own jobs (client_cancel = "own") leaves the others', and
// is refused when they are all others'. With dry, it only counts.
func (o *operator) cancelJobs(ctx context.Context, q jobQuery, dry bool) (n, skipped int, err error) {
	if err := o.core.awaitReady(ctx); err != nil {
		return 0, 0, err
	}
	owner, err := o.core.cancelOwnerOf(ctx)
	if err != nil {
		return 0, 0, err
	}
	states := []jobs.State{jobs.Pending, jobs.Running}
	if q.State != "" {
		states = nil
	}
	err = o.bulkWalk(ctx, q, states, nil, func(page []bulkItem) error {
		ids := make([]string, 0, len(page))
		for _, it := range page {
			if owner != nil && it.submitter != owner.id.Name {
				skipped++
				continue
			}
			ids = append(ids, it.id)
		}
		if dry || len(ids) == 0 {
			n += len(ids)
			return nil
		}
		var r rpcapi.CancelReply
		err := o.cancel(ctx, &rpcapi.CancelArgs{IDs: ids}, &r)
		n += len(r.Cancelled) + r.CancelledMore
		return err
	})
	if err == nil && n == 0 && skipped > 0 {
		err = fmt.Errorf("%w: token %q of role client may cancel only the jobs it submitted (client_cancel = %q): none of the %d live jobs the filter selects is its own; nothing was cancelled",
			rpcapi.ErrForbidden, owner.id.Name, ClientCancelOwn, skipped)
	}
	return n, skipped, err
}

// purgeJobs deletes the finished jobs q selects, as Purge does, and
// returns how many; with dry, it only counts them.
func (o *operator) purgeJobs(ctx context.Context, q jobQuery, dry bool) (int, error) {
	f := PurgeFilter{State: q.State, Type: q.Type, Group: q.Group, Worker: q.Worker, Error: q.Error, Text: q.Text, Before: q.Before}
	if !dry {
		return o.core.purge(ctx, f)
	}
	if err := o.core.awaitReady(ctx); err != nil {
		return 0, err
	}
	f.keep = o.core.lastFires()
	n := 0
	err := o.bulkWalk(ctx, q, nil, f.match, func(page []bulkItem) error {
		n += len(page)
		return nil
	})
	return n, err
}

// rest reports whether j matches f's fields that a record's head does
// not hold: worker, error and args text.
func (f *PurgeFilter) rest(j *jobs.Job) bool {
	q := jobQuery{Worker: f.Worker, Error: strings.ToLower(f.Error), Text: strings.ToLower(f.Text)}
	return q.match(j)
}

// decodes reports whether f has fields that only a decoded record holds.
func (f *PurgeFilter) decodes() bool { return f.Worker != "" || f.Error != "" || f.Text != "" }

// matchRecord reports whether the stored record data matches f's fields
// that only a decoded record holds (true when f has none).
func (f *PurgeFilter) matchRecord(data []byte) bool {
	if !f.decodes() {
		return true
	}
	j, err := jobs.DecodeRecord(data)
	return err == nil && f.rest(j)
}

// apiBulkRetry is POST /api/v1/jobs/retry.
func (a httpAPI) apiBulkRetry(w http.ResponseWriter, r *http.Request) error {
	q, dry, err := a.bulkQuery(w, r, "retry", jobs.Failed, jobs.Cancelled)
	if err != nil {
		return err
	}
	n, err := a.oper.retryJobs(r.Context(), q, dry)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, bulkReply{Count: n, DryRun: dry})
}

// apiBulkCancel is POST /api/v1/jobs/cancel.
func (a httpAPI) apiBulkCancel(w http.ResponseWriter, r *http.Request) error {
	q, dry, err := a.bulkQuery(w, r, "cancel", jobs.Pending, jobs.Running)
	if err != nil {
		return err
	}
	n, skipped, err := a.oper.cancelJobs(r.Context(), q, dry)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, bulkReply{Count: n, DryRun: dry, Skipped: skipped})
}

// apiBulkPurge is POST /api/v1/jobs/purge.
func (a httpAPI) apiBulkPurge(w http.ResponseWriter, r *http.Request) error {
	q, dry, err := a.bulkQuery(w, r, "purge", jobs.Succeeded, jobs.Failed, jobs.Cancelled)
	if err != nil {
		return err
	}
	n, err := a.oper.purgeJobs(r.Context(), q, dry)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, bulkReply{Count: n, DryRun: dry})
}
