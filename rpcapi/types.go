package rpcapi

import (
	"time"

	"github.com/drover/drover/jobs"
)

// Method names on the net/rpc services. XML-RPC names map onto the same calls.
const (
	MasterRegister    = "Master.Register"
	MasterHeartbeat   = "Master.Heartbeat"
	MasterComplete    = "Master.Complete"
	MasterLogout      = "Master.Logout"
	MasterStatus      = "Master.Status"
	MasterSubmit      = "Master.Submit"
	MasterGetJob      = "Master.GetJob"
	MasterListJobs    = "Master.ListJobs"
	MasterListWorkers = "Master.ListWorkers"
	MasterCancel      = "Master.Cancel"
	MasterWait        = "Master.Wait"
	MasterFetch       = "Master.Fetch"
	MasterSchedules   = "Master.ListSchedules"
	MasterPause       = "Master.PauseSchedule"
	MasterResume      = "Master.ResumeSchedule"
	MasterPurge       = "Master.PurgeJobs"
	MasterGetGroup    = "Master.GetGroup"
	MasterListGroups  = "Master.ListGroups"
	MasterListQueues  = "Master.ListQueues"

	WorkerAssign = "Worker.Assign"
	WorkerCancel = "Worker.Cancel"
	WorkerPing   = "Worker.Ping"
)

// Empty is the reply of calls that return nothing.
type Empty struct{}

// SubmitArgs carries a batch of job specs.
type SubmitArgs struct {
	Specs []jobs.Spec `xmlrpc:"specs"`
}

// SubmitReply returns one ID per spec, in order. Existing[i] is true when
// spec i carried a key already known, so no new job was made. ThenIDs has
// one entry per group whose follow-up job this call reserved an ID for
// (the call submitted the group's first job with a Then); it is empty,
// never nil, when there is none.
type SubmitReply struct {
	IDs      []string   `xmlrpc:"ids"`
	Existing []bool     `xmlrpc:"existing"`
	ThenIDs  []FollowUp `xmlrpc:"then_ids"`
}

// FollowUp names the job ID reserved for a group's follow-up job: the
// follow-up is made with it when every job of the group is final.
type FollowUp struct {
	Group string `xmlrpc:"group" json:"group"`
	ID    string `xmlrpc:"id" json:"id"`
}

// GetJobArgs names a job.
type GetJobArgs struct {
	ID string `xmlrpc:"id"`
}

// JobInfo is a job as get_job returns it, whole. Its View is the job as
// the JSON API and "drover job --json" show it.
type JobInfo struct {
	Job jobs.Job `xmlrpc:"job"`
	// Waiting explains why a pending job has not run yet; empty otherwise.
	Waiting string `xmlrpc:"waiting"`
}

// Paging of list_jobs and list_workers: a call returns one page, newest
// first unless Order is OrderAsc, and NextCursor, which the next call passes
// as Cursor to continue; an empty NextCursor is the end.
const (
	DefaultPageSize = 100  // a Limit of 0
	MaxPageSize     = 1000 // a larger Limit is ErrBadRequest
	OrderDesc       = "desc"
	OrderAsc        = "asc"
)

// ListJobsArgs selects a page of jobs. Empty fields match everything.
type ListJobsArgs struct {
	State jobs.State `xmlrpc:"state"`
	Type  string     `xmlrpc:"type"`
	Group string     `xmlrpc:"group"`
	// Limit is the page size: 0 means DefaultPageSize; at most
	// MaxPageSize.
	Limit int `xmlrpc:"limit"`
	// Cursor is the NextCursor of the previous page; "" starts at the
	// newest (or, in OrderAsc, the oldest) job.
	Cursor string `xmlrpc:"cursor"`
	// Order is OrderDesc (newest first; also "") or OrderAsc (submission
	// order).
	Order string `xmlrpc:"order"`
}

// ListJobsReply is one page of jobs. A page may hold fewer than Limit jobs,
// none even, and still have a NextCursor: the master stops a page early when
// its reply would pass max_reply_bytes, or after examining a bounded number
// of jobs that the filters skip.
type ListJobsReply struct {
	Jobs []jobs.Job `xmlrpc:"jobs"`
	// NextCursor continues the listing; "" on the last page.
	NextCursor string `xmlrpc:"next_cursor"`
}

// Worker states as the master sees them.
const (
	WorkerAlive    = "alive"
	WorkerDraining = "draining"
	WorkerDead     = "dead"
)

// WorkerInfo is a worker as every view shows it: list_workers over both
// transports, the JSON API, the dashboard and "drover workers --json". The
// master never sends nil slices.
type WorkerInfo struct {
	ID            string    `xmlrpc:"id" json:"id"`
	Name          string    `xmlrpc:"name" json:"name"`
	Addr          string    `xmlrpc:"addr" json:"addr"`
	State         string    `xmlrpc:"state" json:"state"`
	Slots         int       `xmlrpc:"slots" json:"slots"`
	Running       int       `xmlrpc:"running" json:"running"`
	Types         []string  `xmlrpc:"types" json:"types"`
	Tags          []string  `xmlrpc:"tags" json:"tags"`
	Registered    time.Time `xmlrpc:"registered" json:"registered"`
	LastHeartbeat time.Time `xmlrpc:"last_heartbeat" json:"last_heartbeat"`
	// Died is when the master declared the worker dead (reaped or logged
	// out); zero while it lives.
	Died time.Time   `xmlrpc:"died" json:"died,omitzero"`
	Jobs []WorkerJob `xmlrpc:"jobs" json:"jobs"`
}

// WorkerJob is one attempt a worker holds: the job, the attempt, and the
// job's type and state.
type WorkerJob struct {
	JobID   string     `xmlrpc:"job_id" json:"id"`
	Attempt int        `xmlrpc:"attempt" json:"attempt"`
	Type    string     `xmlrpc:"type" json:"type"`
	State   jobs.State `xmlrpc:"state" json:"state"`
}

// ListWorkersArgs selects a page of workers, ordered by registration:
// the latest registered first unless Order is OrderAsc. Paging is as for
// ListJobsArgs.
type ListWorkersArgs struct {
	// State is WorkerAlive, WorkerDraining, WorkerDead, or "" for all.
	State  string `xmlrpc:"state"`
	Limit  int    `xmlrpc:"limit"`
	Cursor string `xmlrpc:"cursor"`
	Order  string `xmlrpc:"order"`
}

// ListWorkersReply is one page of workers.
type ListWorkersReply struct {
	Workers []WorkerInfo `xmlrpc:"workers"`
	// NextCursor continues the listing; "" on the last page.
	NextCursor string `xmlrpc:"next_cursor"`
}

// StatusReply is the master at a glance.
type StatusReply struct {
	Counts map[jobs.State]int `xmlrpc:"counts"`
	// Workers lists the workers, live first, as many as fit in the
	// master's max_reply_bytes; WorkersMore counts the others
	// (list_workers pages through them all).
	Workers     []WorkerInfo `xmlrpc:"workers"`
	WorkersMore int          `xmlrpc:"workers_more"`
	// Alive counts the live workers (draining ones included), listed
	// or not.
	Alive   int       `xmlrpc:"alive"`
	Started time.Time `xmlrpc:"started"`
	// Dropped counts stale reports dropped by attempt fencing since start.
	Dropped int64 `xmlrpc:"dropped"`
	// Reaped counts workers declared dead since start.
	Reaped int64 `xmlrpc:"reaped"`
	// Version is what the master's binary was built from.
	Version BuildInfo `xmlrpc:"version"`
	// Attention lists what needs a person, most pressing first, as GET
	// /api/v1/status has it, as many items as fit in half the master's
	// max_reply_bytes; AttentionMore counts the others. The master sends
	// an empty list when nothing needs a person (gob delivers it as nil).
	Attention     []Attention `xmlrpc:"attention"`
	AttentionMore int         `xmlrpc:"attention_more"`
}

// BuildInfo is what a drover binary was built from: the drover module's
// version ("(devel)" for an untagged build of its own tree, "unknown"
// without build information), the VCS commit with "+dirty" for a
// modified tree ("unknown" when the build did not record it), and the Go
// version.
type BuildInfo struct {
	Version   string `xmlrpc:"version" json:"version"`
	Commit    string `xmlrpc:"commit" json:"commit"`
	GoVersion string `xmlrpc:"go_version" json:"go_version"`
}

// CancelArgs names jobs to cancel.
type CancelArgs struct {
	IDs []string `xmlrpc:"ids"`
	// Group cancels every live job of the group as well.
	Group string `xmlrpc:"group"`
}

// CancelReply lists what was cancelled and why the rest was not.
type CancelReply struct {
	Cancelled []string `xmlrpc:"cancelled"`
	Errors    []string `xmlrpc:"errors"` // "ID: reason"
	// CancelledMore and ErrorsMore count the jobs cancelled and the
	// errors left out of the lists above to keep the reply within the
	// master's max_reply_bytes.
	CancelledMore int `xmlrpc:"cancelled_more"`
	ErrorsMore    int `xmlrpc:"errors_more"`
	// Skipped counts the live jobs of the group that were not cancelled
	// because another token submitted them: a client token on a master
	// with client_cancel "own" cancels only its own.
	Skipped int `xmlrpc:"skipped"`
}

// PurgeArgs selects finished jobs (succeeded, failed or cancelled) to
// delete now, from the master's memory and from its store. Every field
// set must match. At least one of State, Type, Group and OlderThan must be
// set, or All alone (every finished job). Live jobs are never deleted,
// nor are finished jobs of a group that still has live ones or whose
// on_done has not finished.
type PurgeArgs struct {
	// State is succeeded, failed, cancelled, or "" for any of them.
	State jobs.State `xmlrpc:"state"`
	Type  string     `xmlrpc:"type"`
	Group string     `xmlrpc:"group"`
	// OlderThan keeps the jobs that finished less than this long ago;
	// 0 sets no age filter, and negative is ErrBadRequest.
	OlderThan time.Duration `xmlrpc:"older_than"`
	// All purges every finished job; it excludes the other fields.
	All bool `xmlrpc:"all"`
}

// PurgeReply says how many jobs were deleted.
type PurgeReply struct {
	Purged int `xmlrpc:"purged"`
}

// WaitArgs blocks until the named jobs (or the group's jobs) are final, or
// Timeout passes. The master caps Timeout at MaxWait per call.
type WaitArgs struct {
	IDs     []string      `xmlrpc:"ids"`
	Group   string        `xmlrpc:"group"`
	Timeout time.Duration `xmlrpc:"timeout"`
}

// MaxWait caps one Wait call; clients loop for longer waits.
const MaxWait = 30 * time.Second

// WaitReply reports where the awaited jobs stand. A wait for a group
// awaits the group's follow-up job (Spec.Then) too: the group's jobs,
// then the follow-up once the group is final.
type WaitReply struct {
	Done   bool               `xmlrpc:"done"` // every awaited job is final
	Counts map[jobs.State]int `xmlrpc:"counts"`
	// Failed lists the IDs that ended failed or cancelled, lowest first;
	// FailedMore counts those left out to keep the reply within the
	// master's max_reply_bytes.
	Failed     []string `xmlrpc:"failed"`
	FailedMore int      `xmlrpc:"failed_more"`
	// Then is the ID of the group's follow-up job once the master has
	// made it ("" before, and for a group without one); ThenState is its
	// state. Counts and Failed count it with the group's jobs.
	Then      string     `xmlrpc:"then"`
	ThenState jobs.State `xmlrpc:"then_state"`
	// ThenError says why the group's follow-up job could not be made
	// (the spec was refused); "" otherwise.
	ThenError string `xmlrpc:"then_error"`
}

// Transports and worker modes.
const (
	TransportGob    = "gob"
	TransportXMLRPC = "xmlrpc"
	ModePush        = "push"
	ModePull        = "pull"
)

// ScheduleInfo is a cron schedule as every view shows it: list_schedules,
// pause_schedule and resume_schedule over both transports, GET
// /api/v1/schedules, the dashboard and "drover schedules --json". In JSON
// (MarshalJSON) the spec shows as its type, args and group.
type ScheduleInfo struct {
	Name     string `xmlrpc:"name" json:"name"`
	Schedule string `xmlrpc:"schedule" json:"schedule"`
	Timezone string `xmlrpc:"timezone" json:"timezone"`
	Overlap  string `xmlrpc:"overlap" json:"overlap"`
	CatchUp  string `xmlrpc:"catch_up" json:"catch_up"`
	Paused   bool   `xmlrpc:"paused" json:"paused"`
	// Next is the next fire; zero while paused.
	Next     time.Time `xmlrpc:"next" json:"next,omitzero"`
	LastFire time.Time `xmlrpc:"last_fire" json:"last_fire,omitzero"`
	// LastJob is the ID of the job the last fire submitted, if any.
	LastJob string `xmlrpc:"last_job" json:"last_job,omitempty"`
	// Spec is the job each fire submits.
	Spec jobs.Spec `xmlrpc:"spec" json:"-"`
}

// GroupInfo is a group as every view shows it: get_group and list_groups
// over both transports, GET /api/v1/groups and /api/v1/groups/{name}, the
// dashboard, "drover group --json" and the client package. It is computed
// from the group's jobs, those in the master's memory and those that left
// it.
type GroupInfo struct {
	Name   string             `xmlrpc:"name" json:"name"`
	Total  int                `xmlrpc:"total" json:"total"`
	Counts map[jobs.State]int `xmlrpc:"counts" json:"counts"`
	// Done counts the final jobs; the group is Final when all are.
	Done  int  `xmlrpc:"done" json:"done"`
	Final bool `xmlrpc:"final" json:"final"`
	// Progress is Done / Total, from 0 to 1.
	Progress  float64   `xmlrpc:"progress" json:"progress"`
	Submitted time.Time `xmlrpc:"submitted" json:"submitted"` // the first job's
	Updated   time.Time `xmlrpc:"updated" json:"updated"`     // the latest change to any job
	// Unsuccessful lists the IDs of the failed and cancelled jobs, lowest
	// first, at most MaxUnsuccessful: a list in one group (get_group),
	// nil in a listing.
	Unsuccessful []string `xmlrpc:"unsuccessful" json:"unsuccessful,omitzero"`
	// OnDone is the progress of the group's on_done (follow-up job and
	// notices) once it has fired; nil before.
	OnDone *GroupOnDone `xmlrpc:"on_done" json:"on_done,omitempty"`
}

// MaxUnsuccessful bounds GroupInfo.Unsuccessful.
const MaxUnsuccessful = 100

// GroupOnDone is the progress of a group's on_done: its follow-up job and
// its notices.
type GroupOnDone struct {
	// State is "pending" until every action is done or given up, then
	// "done".
	State string    `xmlrpc:"state" json:"state"`
	Since time.Time `xmlrpc:"since" json:"since"`
	Ended time.Time `xmlrpc:"ended" json:"ended,omitzero"`
	// Result is the group's state when on_done ran: succeeded or failed.
	Result jobs.State `xmlrpc:"result" json:"result,omitempty"`
	// Then is the ID of the follow-up job, if any, and ThenState its
	// state.
	Then      string     `xmlrpc:"then" json:"then,omitempty"`
	ThenState jobs.State `xmlrpc:"then_state" json:"then_state,omitempty"`
	// Done lists the finished actions ("then", "webhook HOST/HASH",
	// "email"); Errors has one line per action given up on.
	Done   []string `xmlrpc:"done" json:"done,omitempty"`
	Errors []string `xmlrpc:"errors" json:"errors,omitempty"`
}

// GetGroupArgs names a group.
type GetGroupArgs struct {
	Name string `xmlrpc:"name"`
}

// ListGroupsArgs selects a page of groups, ordered by each group's first
// job: the group started last first unless Order is OrderAsc. Paging is as
// for ListJobsArgs.
type ListGroupsArgs struct {
	Limit  int    `xmlrpc:"limit"`
	Cursor string `xmlrpc:"cursor"`
	Order  string `xmlrpc:"order"`
}

// ListGroupsReply is one page of groups, without their Unsuccessful
// (get_group has them).
type ListGroupsReply struct {
	Groups []GroupInfo `xmlrpc:"groups"`
	// NextCursor continues the listing; "" on the last page.
	NextCursor string `xmlrpc:"next_cursor"`
}

// ListSchedulesReply lists the schedules by name.
type ListSchedulesReply struct {
	Schedules []ScheduleInfo `xmlrpc:"schedules"`
}

// ListQueuesArgs selects the rows of the queues view (QueueView): the
// lanes of Type ("" for every type), biggest first unless Order is
// OrderAsc, at most Limit of them (0 means DefaultPageSize; at most
// MaxPageSize). The view is one page: there is no cursor.
type ListQueuesArgs struct {
	Type  string `xmlrpc:"type"`
	Order string `xmlrpc:"order"`
	Limit int    `xmlrpc:"limit"`
}

// ListQueuesReply is the queues view: a row per lane, and how many rows
// the limit left out.
type ListQueuesReply struct {
	Queues []QueueView `xmlrpc:"queues"`
	More   int         `xmlrpc:"more"`
}

// ScheduleArgs names a schedule.
type ScheduleArgs struct {
	Name string `xmlrpc:"name"`
}
