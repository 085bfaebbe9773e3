package rpcapi

import "time"

// The calls that carry tasks between a master and its workers: a pull
// worker's fetch_tasks, a master's assign_task, cancel_task and ping of a
// push worker, and the Task they carry (task_complete's reply carries
// Tasks too; its types are in workerwire.go).

// FetchArgs is a pull-mode worker asking for work. The call blocks until
// tasks are leased to the worker or Timeout (at most MaxWait) passes.
type FetchArgs struct {
	WorkerID string        `xmlrpc:"worker_id"`
	Secret   string        `xmlrpc:"secret"` // the registration's (RegisterReply.Secret)
	Max      int           `xmlrpc:"max"`    // at most this many tasks; 0: the worker's free slots
	Timeout  time.Duration `xmlrpc:"timeout"`
}

// FetchReply carries leased tasks, and attempts the worker must stop.
type FetchReply struct {
	Tasks  []Task   `xmlrpc:"tasks"`
	Cancel []JobRef `xmlrpc:"cancel"`
	Term   int64    `xmlrpc:"term,omitempty"` // the master's raft term (RegisterReply.Term)
}

// Task is one job pushed to a worker.
type Task struct {
	JobID   string            `xmlrpc:"job_id"`
	Attempt int               `xmlrpc:"attempt"`
	Type    string            `xmlrpc:"type"`
	Args    map[string]string `xmlrpc:"args"`
	Timeout time.Duration     `xmlrpc:"timeout"`
	// Input is the job's input data (a group's follow-up gets the group's
	// results); subprocesses read it on stdin.
	Input string `xmlrpc:"input"`
	// Group is the job's group (Spec.Group); empty: none.
	Group string `xmlrpc:"group"`
}

// AssignArgs carries tasks for one worker. Secret is the worker's
// registration secret (RegisterReply.Secret): a worker refuses an Assign
// without it, and one with a Term below the highest it has seen.
type AssignArgs struct {
	WorkerID string `xmlrpc:"worker_id"`
	Secret   string `xmlrpc:"secret"`
	Tasks    []Task `xmlrpc:"tasks"`
	Term     int64  `xmlrpc:"term,omitempty"` // the master's raft term (RegisterReply.Term)
}

// AssignReply says which tasks the worker took. Rejected ones (no free slot,
// unknown type, shutting down) go back to the queue without a lost attempt.
type AssignReply struct {
	Accepted []JobRef    `xmlrpc:"accepted"`
	Rejected []Rejection `xmlrpc:"rejected"`
}

// Rejection is a task a worker refused and why.
type Rejection struct {
	JobRef
	Reason string `xmlrpc:"reason"`
}

// WorkerCancelArgs asks a worker to stop attempts. Secret and Term are
// checked as in AssignArgs.
type WorkerCancelArgs struct {
	Secret string   `xmlrpc:"secret"`
	Jobs   []JobRef `xmlrpc:"jobs"`
	Term   int64    `xmlrpc:"term,omitempty"` // the master's raft term (RegisterReply.Term)
}

// PingReply is the worker's self-description.
type PingReply struct {
	Name    string `xmlrpc:"name"`
	Running int    `xmlrpc:"running"`
	Slots   int    `xmlrpc:"slots"`
}
