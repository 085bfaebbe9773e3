package rpcapi

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/drover/drover/jobs"
)

// This file holds the JSON views of a job and of a schedule. A job has
// one shape that the JSON API (GET /api/v1/jobs, /api/v1/jobs/{id}, the
// event stream), the dashboard and "drover jobs --json" / "drover job
// --json" show. Over both RPC transports a job travels whole, as the
// jobs.Job of list_jobs and the JobInfo of get_job; ViewJob and
// JobInfo.View are the one mapping from those to the views, used by the
// master and by every client alike. A schedule is one type, ScheduleInfo,
// on every path; only its JSON encoding flattens its spec.

// MaxListError bounds the latest attempt's error in a JobView (in bytes,
// before the "…" that marks a cut); JobDetail's History has it whole.
const MaxListError = 200

// CutListError cuts an error to MaxListError bytes, marking the cut, as a
// listing shows it.
func CutListError(s string) string {
	if len(s) > MaxListError {
		return s[:MaxListError] + "…"
	}
	return s
}

// JobView is a job in a listing as every view shows it: GET /api/v1/jobs,
// the changes of the event stream and "drover jobs --json". The maps and
// lists are never nil.
type JobView struct {
	ID    string     `json:"id"`
	Type  string     `json:"type"`
	State jobs.State `json:"state"`
	// Attempts counts the attempt records; Attempt is the number of the
	// latest lease (a lease that never started leaves no record).
	Attempts int `json:"attempts"`
	Attempt  int `json:"attempt"`
	// Worker holds the job while it runs; empty otherwise.
	Worker    string            `json:"worker"`
	Args      map[string]string `json:"args"`
	Group     string            `json:"group"`
	Priority  int               `json:"priority"`
	Retries   int               `json:"retries"`
	Submitted time.Time         `json:"submitted"`
	Updated   time.Time         `json:"updated"`
	// NotBefore is set while a pending job waits for its time: its delay
	// or run_at, or a retry's backoff.
	NotBefore time.Time `json:"not_before,omitzero"`
	// Error is the latest attempt's error, or CancelledByRequest for a
	// job cancelled while pending (JobError), cut to MaxListError bytes.
	Error string `json:"error,omitempty"`
	// Waiting explains why a pending job has not run yet (the master's
	// listing and job page set it for the pending jobs it holds).
	Waiting string `json:"waiting,omitempty"`
}

// ViewJob returns j as a listing shows it. It copies what it keeps, so the
// view shares nothing with j.
func ViewJob(j *jobs.Job) JobView {
	v := JobView{ID: j.ID, Type: j.Spec.Type, State: j.State, Attempts: len(j.Attempts), Attempt: j.Attempt,
		Worker: j.Worker, Args: maps.Clone(j.Spec.Args), Group: j.Spec.Group, Priority: j.Spec.Priority,
		Retries: j.Spec.Retries, Submitted: j.Submitted, Updated: j.Updated}
	if j.State == jobs.Pending {
		v.NotBefore = j.NotBefore
	}
	if v.Args == nil {
		v.Args = map[string]string{}
	}
	v.Error = CutListError(JobError(j))
	return v
}

// CancelledByRequest is the error of a job cancelled by a client: the
// error of its cancelled attempt when it was running, and the job's own
// (JobError) when it was pending.
const CancelledByRequest = "cancelled by request"

// JobError returns the error a view shows for j: the latest attempt's
// error, except for a job cancelled while pending, which has no attempt
// of its own that ended so (none at all, or a failed one it was waiting
// to retry): CancelledByRequest; and for a job failed while pending (a
// broadcast copy whose worker left): why, as its timeline says.
func JobError(j *jobs.Job) string {
	switch j.State {
	case jobs.Cancelled:
		if n := len(j.Attempts); n == 0 || j.Attempts[n-1].Outcome != jobs.OutcomeCanceled {
			return CancelledByRequest
		}
	case jobs.Failed:
		// Failed while pending (jobs.Abandon): the last event says why.
		if n := len(j.Events); n > 0 && strings.HasPrefix(j.Events[n-1].Text, jobs.AbandonedNote) {
			return j.Events[n-1].Text
		}
	}
	return j.LastError()
}

// JobDetail is one job as every view shows it: GET /api/v1/jobs/{id} (and
// the replies of cancel and retry), the dashboard's job page and "drover
// job --json". It is the listing's fields plus the rest of the spec that
// matters to a reader, why a pending job waits, every attempt and the
// timeline. The lists are never nil.
type JobDetail struct {
	JobView
	// Submitter names who submitted the job (jobs.Job.Submitter): a
	// token's name, "schedule:NAME" for a schedule's fire; empty for a
	// master without tokens.
	Submitter string `json:"submitter"`
	// Timeout bounds one attempt, as a Go duration ("30s"); empty: none.
	Timeout string `json:"timeout,omitempty"`
	Key     string `json:"key,omitempty"`
	// Tags are the tags a worker must have to get the job.
	Tags []string `json:"tags"`
	// LimitKey is counted against the master's [limits].
	LimitKey string `json:"limit_key,omitempty"`
	// OutputTail is the output of the latest attempt that has any.
	OutputTail string `json:"output_tail"`
	// Stats are the stats of the latest attempt that has any (a Scrapy
	// crawl's closing stats); StatsAttempt is that attempt's number.
	Stats        map[string]string `json:"stats,omitempty"`
	StatsAttempt int               `json:"stats_attempt,omitempty"`
	// TimeoutApplied is the bound the worker applied to the latest
	// attempt that says, as a Go duration ("1m0s"), and TimeoutFrom where
	// it came from: "job" or "template" (see jobs.Attempt).
	TimeoutApplied string         `json:"timeout_applied,omitempty"`
	TimeoutFrom    string         `json:"timeout_from,omitempty"`
	History        []jobs.Attempt `json:"history"`
	Timeline       []jobs.Event   `json:"timeline"`
}

// View returns the job of info as its detail shows it. It copies what it
// keeps, so the view shares nothing with info.
func (info *JobInfo) View() JobDetail {
	j := &info.Job
	d := JobDetail{JobView: ViewJob(j), Submitter: j.Submitter, Key: j.Spec.Key, Tags: slices.Clone(j.Spec.Tags), LimitKey: j.Spec.LimitKey,
		History: slices.Clone(j.Attempts), Timeline: slices.Clone(j.Events)}
	d.Waiting = info.Waiting
	if j.Spec.Timeout > 0 {
		d.Timeout = j.Spec.Timeout.String()
	}
	for i := len(j.Attempts) - 1; i >= 0; i-- {
		if j.Attempts[i].Output != "" {
			d.OutputTail = j.Attempts[i].Output
			break
		}
	}
	for i := len(j.Attempts) - 1; i >= 0; i-- {
		if a := &j.Attempts[i]; len(a.Stats) > 0 {
			d.Stats, d.StatsAttempt = maps.Clone(a.Stats), a.N
			break
		}
	}
	for i := len(j.Attempts) - 1; i >= 0; i-- {
		if a := &j.Attempts[i]; a.Timeout != "" {
			d.TimeoutApplied, d.TimeoutFrom = a.Timeout, a.TimeoutFrom
			break
		}
	}
	for i := range d.History {
		d.History[i].Stats = maps.Clone(d.History[i].Stats)
	}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	if d.History == nil {
		d.History = []jobs.Attempt{}
	}
	if d.Timeline == nil {
		d.Timeline = []jobs.Event{}
	}
	return d
}

// scheduleJSON is ScheduleInfo as JSON shows it: its own members, then
// the type, args and group of its spec (the whole spec would show its
// durations as nanoseconds, where the JSON API shows "30s").
type scheduleJSON struct {
	scheduleFields
	Type  string            `json:"type"`
	Args  map[string]string `json:"args"`
	Group string            `json:"group,omitempty"`
}

// scheduleFields is ScheduleInfo without its JSON methods.
type scheduleFields ScheduleInfo

// MarshalJSON encodes s as the JSON API shows a schedule.
func (s ScheduleInfo) MarshalJSON() ([]byte, error) {
	args := s.Spec.Args
	if args == nil {
		args = map[string]string{}
	}
	return json.Marshal(scheduleJSON{scheduleFields(s), s.Spec.Type, args, s.Spec.Group})
}

// UnmarshalJSON reads a schedule as MarshalJSON writes it; of the spec,
// only the type, args and group are there to read.
func (s *ScheduleInfo) UnmarshalJSON(b []byte) error {
	var v scheduleJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = ScheduleInfo(v.scheduleFields)
	s.Spec = jobs.Spec{Type: v.Type, Args: v.Args, Group: v.Group}
	return nil
}

// AsDetail makes g, as get_group returned it, show as one group does:
// with an Unsuccessful list, empty when no job failed (gob sends an empty
// list as none).
func (g *GroupInfo) AsDetail() {
	if g.Unsuccessful == nil {
		g.Unsuccessful = []string{}
	}
}

// QueueView is one lane of work as every view shows it: GET
// /api/v1/queues, list_queues over both transports, "drover queues
// --json" and the dashboard's queues page.
// A lane is the pending jobs that share every dispatch constraint: type,
// tags, limit key, and for a broadcast's copy its worker. The lists are
// never nil.
type QueueView struct {
	Type     string   `xmlrpc:"type" json:"type"`
	Tags     []string `xmlrpc:"tags" json:"tags"`
	LimitKey string   `xmlrpc:"limit_key" json:"limit_key"`
	// Pin is the worker name a broadcast's copies wait for; empty for
	// other lanes.
	Pin string `xmlrpc:"pin" json:"pin,omitempty"`
	// Pending is Ready plus Delayed: Ready jobs may be dispatched now,
	// Delayed ones wait for their not_before time (a retry's backoff,
	// run_at or delay).
	Pending int `xmlrpc:"pending" json:"pending"`
	Ready   int `xmlrpc:"ready" json:"ready"`
	Delayed int `xmlrpc:"delayed" json:"delayed"`
	Running int `xmlrpc:"running" json:"running"`
	// OldestPendingSeconds is how long the ready job that has waited
	// longest has waited, by the master's clock, since it became ready
	// (submitted or requeued, or its not_before passed); 0 with no ready
	// job. OldestPendingSince is when that was.
	OldestPendingSeconds float64   `xmlrpc:"oldest_pending_seconds" json:"oldest_pending_seconds"`
	OldestPendingSince   time.Time `xmlrpc:"oldest_pending_since" json:"oldest_pending_since,omitzero"`
	// Finished counts the lane's jobs that became final in the last
	// ThroughputMinutes minutes (the current one included), Failed those
	// of them that failed; PerMinute is Finished over ThroughputMinutes.
	Finished  int     `xmlrpc:"finished" json:"finished"`
	Failed    int     `xmlrpc:"failed" json:"failed"`
	PerMinute float64 `xmlrpc:"per_minute" json:"per_minute"`
	// Waiting counts the pending jobs by why they wait: the same words a
	// job's own "waiting" gives.
	Waiting []WaitCount `xmlrpc:"waiting" json:"waiting"`
}

// ThroughputMinutes is the window of QueueView's Finished and PerMinute.
const ThroughputMinutes = 5

// WaitCount is a reason pending jobs wait and how many do.
type WaitCount struct {
	Reason string `xmlrpc:"reason" json:"reason"`
	Count  int    `xmlrpc:"count" json:"count"`
}

// The kinds of Attention.
const (
	// AttentionNoWorker: pending jobs that no live worker can run.
	AttentionNoWorker = "no_worker"
	// AttentionScheduleFailing: a schedule whose latest fires all failed.
	AttentionScheduleFailing = "schedule_failing"
	// AttentionWorkerFlapping: a worker that keeps registering again.
	AttentionWorkerFlapping = "worker_flapping"
)

// Attention is one thing that needs a person, at the top of the status
// (GET /api/v1/status, get_master_status over both transports, "drover
// status" and the dashboard's overview): what kind, a sentence, how many
// (jobs, failed fires or registrations) and the dashboard page that
// shows it.
type Attention struct {
	Kind  string `xmlrpc:"kind" json:"kind"`
	Text  string `xmlrpc:"text" json:"text"`
	Count int    `xmlrpc:"count" json:"count"`
	Link  string `xmlrpc:"link" json:"link"`
}

// AsView makes r, as list_queues returned it, show as the JSON API does:
// with lists, empty when there is nothing in them (gob sends an empty
// list as none).
func (r *ListQueuesReply) AsView() {
	if r.Queues == nil {
		r.Queues = []QueueView{}
	}
	for i := range r.Queues {
		v := &r.Queues[i]
		if v.Tags == nil {
			v.Tags = []string{}
		}
		if v.Waiting == nil {
			v.Waiting = []WaitCount{}
		}
	}
}
