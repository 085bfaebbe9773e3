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

	WorkerAssign = "Worker.Assign"
	WorkerCancel = "Worker.Cancel"
	WorkerPing   = "Worker.Ping"
)

// JobRef names one attempt of one job.
type JobRef struct {
	JobID   string
	Attempt int
}

// RegisterArgs is a worker announcing itself.
type RegisterArgs struct {
	Name  string
	Addr  string // where the worker's endpoint listens, as the master must dial it
	Types []string
	Slots int
	// Running lists what the worker already holds (after a master restart):
	// jobs running and results not yet acknowledged.
	Running []JobRef
}

// RegisterReply tells a worker who it is and how often to beat.
type RegisterReply struct {
	WorkerID          string
	HeartbeatInterval time.Duration
	DeadAfter         time.Duration
	// Cancel lists the held jobs the master did not adopt: the worker must
	// stop them and drop their results.
	Cancel []JobRef
}

// Heartbeat answers.
const (
	BeatOK      = "ok"
	BeatUnknown = "unknown" // re-register: the master restarted or reaped you
	BeatDrain   = "drain"   // finish what you run, take nothing new
)

// HeartbeatArgs is a worker's periodic beat.
type HeartbeatArgs struct {
	WorkerID  string
	Running   []JobRef
	FreeSlots int
	// Draining says the worker is shutting down: the master sends it no
	// more jobs and lists it as draining.
	Draining bool
}

// HeartbeatReply answers a beat.
type HeartbeatReply struct {
	Status string
	// Cancel lists held jobs the worker must stop and drop.
	Cancel []JobRef
}

// Report is one finished attempt, sent by the worker.
type Report struct {
	JobID     string
	Attempt   int
	Outcome   jobs.Outcome
	ExitCode  int
	Error     string
	Output    string
	Data      string
	Permanent bool
}

// CompleteArgs carries a batch of finished attempts.
type CompleteArgs struct {
	WorkerID string
	Reports  []Report
}

// CompleteReply says how many reports were recorded and how many were
// dropped as stale (attempt fencing).
type CompleteReply struct {
	Accepted int
	Dropped  int
}

// LogoutArgs is a worker leaving cleanly.
type LogoutArgs struct {
	WorkerID string
}

// Empty is the reply of calls that return nothing.
type Empty struct{}

// SubmitArgs carries a batch of job specs.
type SubmitArgs struct {
	Specs []jobs.Spec
}

// SubmitReply returns one ID per spec, in order. Existing[i] is true when
// spec i carried a key already known, so no new job was made.
type SubmitReply struct {
	IDs      []string
	Existing []bool
}

// GetJobArgs names a job.
type GetJobArgs struct {
	ID string
}

// JobInfo is a job as clients see it.
type JobInfo struct {
	Job jobs.Job
	// Waiting explains why a pending job has not run yet; empty otherwise.
	Waiting string
}

// ListJobsArgs filters a job listing. Empty fields match everything.
type ListJobsArgs struct {
	State jobs.State
	Type  string
	Group string
	// Limit bounds the result; zero means all.
	Limit int
}

// ListJobsReply is a listing in submission order.
type ListJobsReply struct {
	Jobs []jobs.Job
}

// Worker states as the master sees them.
const (
	WorkerAlive    = "alive"
	WorkerDraining = "draining"
	WorkerDead     = "dead"
)

// WorkerInfo is a worker as clients see it.
type WorkerInfo struct {
	ID            string
	Name          string
	Addr          string
	State         string
	Slots         int
	Running       int
	Types         []string
	Registered    time.Time
	LastHeartbeat time.Time
	// Died is when the master declared the worker dead (reaped or logged
	// out); zero while it lives.
	Died time.Time
	Jobs []JobRef
}

// ListWorkersReply lists known workers, live first.
type ListWorkersReply struct {
	Workers []WorkerInfo
}

// StatusReply is the master at a glance.
type StatusReply struct {
	Counts  map[jobs.State]int
	Workers []WorkerInfo
	Started time.Time
	// Dropped counts stale reports dropped by attempt fencing since start.
	Dropped int64
	// Reaped counts workers declared dead since start.
	Reaped int64
}

// CancelArgs names jobs to cancel.
type CancelArgs struct {
	IDs []string
}

// CancelReply lists what was cancelled and why the rest was not.
type CancelReply struct {
	Cancelled []string
	Errors    []string // "ID: reason"
}

// WaitArgs blocks until the named jobs (or the group's jobs) are final, or
// Timeout passes. The master caps Timeout at MaxWait per call.
type WaitArgs struct {
	IDs     []string
	Group   string
	Timeout time.Duration
}

// MaxWait caps one Wait call; clients loop for longer waits.
const MaxWait = 30 * time.Second

// WaitReply reports where the awaited jobs stand.
type WaitReply struct {
	Done   bool // every awaited job is final
	Counts map[jobs.State]int
	// Failed lists the IDs that ended failed or cancelled.
	Failed []string
}

// Task is one job pushed to a worker.
type Task struct {
	JobID   string
	Attempt int
	Type    string
	Args    map[string]string
	Timeout time.Duration
}

// AssignArgs carries tasks for one worker.
type AssignArgs struct {
	WorkerID string
	Tasks    []Task
}

// AssignReply says which tasks the worker took. Rejected ones (no free slot,
// unknown type, shutting down) go back to the queue without a lost attempt.
type AssignReply struct {
	Accepted []JobRef
	Rejected []Rejection
}

// Rejection is a task a worker refused and why.
type Rejection struct {
	JobRef
	Reason string
}

// WorkerCancelArgs asks a worker to stop attempts.
type WorkerCancelArgs struct {
	Jobs []JobRef
}

// PingReply is the worker's self-description.
type PingReply struct {
	Name    string
	Running int
	Slots   int
}
