package rpcapi

// The calls a worker makes to its master (register, heartbeat,
// task_complete, logout) and the types they carry; the calls that carry
// tasks are in tasks.go, the method names in types.go.

import (
	"time"

	"github.com/drover/drover/jobs"
)

// JobRef names one attempt of one job.
type JobRef struct {
	JobID   string `xmlrpc:"job_id"`
	Attempt int    `xmlrpc:"attempt"`
}

// RegisterArgs is a worker announcing itself.
type RegisterArgs struct {
	Name  string   `xmlrpc:"name"`
	Addr  string   `xmlrpc:"addr"` // where the worker's endpoint listens, as the master must dial it
	Types []string `xmlrpc:"types"`
	Slots int      `xmlrpc:"slots"`
	// Tags describe the worker ("region=eu", "gpu"); a job that requires
	// tags goes only to workers that have them all.
	Tags []string `xmlrpc:"tags"`
	// Transport is how the master reaches the worker's endpoint: "gob"
	// (default) or "xmlrpc". Ignored in pull mode.
	Transport string `xmlrpc:"transport"`
	// Mode is "push" (default: the master calls the worker's Assign) or
	// "pull" (the worker has no endpoint and calls Fetch).
	Mode string `xmlrpc:"mode"`
	// Running lists what the worker already holds (after a master restart):
	// jobs running and results not yet acknowledged.
	Running []JobRef `xmlrpc:"running"`
	// Instance is a random string the worker process picks once, at
	// least MinInstance bytes, and sends with every registration; kept
	// as secret as the token. A registration takes over the attempts of a
	// live registration of the same name only when both carry the same
	// Instance: the worker registering again after a lost reply. Empty:
	// none; a live registration's attempts then stay its own.
	Instance string `xmlrpc:"instance"`
	// FenceGrace, when above zero, says the worker fences itself: once it
	// has had no heartbeat answered for dead_after it stops its running
	// jobs, and they are gone within FenceGrace after that. The master
	// then holds a reaped worker's jobs that long (plus a drift margin)
	// before it requeues them. Zero: the worker does not fence; its jobs
	// are requeued when it is reaped. At most MaxFenceGrace.
	FenceGrace time.Duration `xmlrpc:"fence_grace"`
}

// MinInstance and MaxInstance bound the length of RegisterArgs.Instance.
const (
	MinInstance = 16
	MaxInstance = 256
)

// MaxFenceGrace bounds RegisterArgs.FenceGrace.
const MaxFenceGrace = time.Hour

// RegisterReply tells a worker who it is and how often to beat.
type RegisterReply struct {
	WorkerID string `xmlrpc:"worker_id"`
	// Secret is this registration's secret (256 random bits, in hex).
	// Every later call for WorkerID (Heartbeat, Fetch, Complete, Logout)
	// must carry it, and the master sends it with every call to the
	// worker's endpoint (Assign, Cancel), so that a worker speaks only for
	// itself and runs only its master's work. It is good until WorkerID
	// is: a new registration gets a new one.
	Secret            string        `xmlrpc:"secret"`
	HeartbeatInterval time.Duration `xmlrpc:"heartbeat_interval"`
	DeadAfter         time.Duration `xmlrpc:"dead_after"`
	// MaxResultBytes is the master's max_result_bytes, or half its
	// max_request_body when that is less: a report whose output, data,
	// error and stats together are longer may fail its job or not reach
	// the master. The worker trims the output to fit. Zero from a master
	// that does not say.
	MaxResultBytes int `xmlrpc:"max_result_bytes"`
	// Cancel lists the held jobs the master did not adopt: the worker must
	// stop them and drop their results.
	Cancel []JobRef `xmlrpc:"cancel"`
	// Term is the raft term in which the master leads its group of
	// standby masters; 0 (and absent on XML-RPC) from a single master.
	// The same Term comes with every heartbeat, task_complete and
	// fetch_tasks reply and every assign_task and cancel_task call. A
	// worker keeps the highest Term it has seen and refuses work and
	// cancels that come with a lower one: they are from a master that has
	// been deposed (see docs/protocol.md, "Several masters").
	Term int64 `xmlrpc:"term,omitempty"`
}

// MaxSlots is the most slots a worker may register with.
const MaxSlots = 100000

// Heartbeat answers.
const (
	BeatOK      = "ok"
	BeatUnknown = "unknown" // re-register: the master restarted or reaped you
	BeatDrain   = "drain"   // finish what you run, take nothing new
)

// HeartbeatArgs is a worker's periodic beat.
type HeartbeatArgs struct {
	WorkerID  string   `xmlrpc:"worker_id"`
	Secret    string   `xmlrpc:"secret"` // the registration's (RegisterReply.Secret)
	Running   []JobRef `xmlrpc:"running"`
	FreeSlots int      `xmlrpc:"free_slots"`
	// Draining says the worker is shutting down: the master sends it no
	// more jobs and lists it as draining.
	Draining bool `xmlrpc:"draining"`
}

// HeartbeatReply answers a beat.
type HeartbeatReply struct {
	Status string `xmlrpc:"status"`
	// Cancel lists held jobs the worker must stop and drop.
	Cancel []JobRef `xmlrpc:"cancel"`
	Term   int64    `xmlrpc:"term,omitempty"` // the master's raft term (RegisterReply.Term)
}

// Report is one finished attempt, sent by the worker.
type Report struct {
	JobID     string       `xmlrpc:"job_id"`
	Attempt   int          `xmlrpc:"attempt"`
	Outcome   jobs.Outcome `xmlrpc:"outcome"`
	ExitCode  int          `xmlrpc:"exit_code"`
	Error     string       `xmlrpc:"error"`
	Output    string       `xmlrpc:"output"`
	Data      string       `xmlrpc:"data"`
	Permanent bool         `xmlrpc:"permanent"`
	// Stats are figures the job reported about itself, such as a Scrapy
	// crawl's closing stats (item_scraped_count, finish_reason, ...);
	// empty: none.
	Stats map[string]string `xmlrpc:"stats"`
	// Timeout is the bound the worker applied to the attempt, and
	// TimeoutFrom where it came from: "job" (the job's timeout) or
	// "template" (the command template's, shorter than the job's or the
	// only one). Zero and empty: no bound.
	Timeout     time.Duration `xmlrpc:"timeout"`
	TimeoutFrom string        `xmlrpc:"timeout_from"`
}

// CompleteArgs carries a batch of finished attempts. Want asks a push
// worker's next tasks in the reply: up to that many (its free slots), so
// that a busy slot gets its next job without an assign_task call; 0 asks
// none.
type CompleteArgs struct {
	WorkerID string   `xmlrpc:"worker_id"`
	Secret   string   `xmlrpc:"secret"` // the registration's (RegisterReply.Secret)
	Reports  []Report `xmlrpc:"reports"`
	Want     int      `xmlrpc:"want"`
}

// CompleteReply says how many reports were recorded, how many were
// dropped as stale (attempt fencing) and how many were refused because
// their attempt is leased to another worker.
//
// Tasks are leased to the worker for the Want of the call. A reply that
// carries tasks may come before the accepted reports are on disk: then
// Commit is nonzero, and the reports are durable once a reply to this
// registration has Durable ≥ Commit. Every reply carries Durable; Commit
// is 0 when the reports were on disk before the reply.
type CompleteReply struct {
	Accepted int    `xmlrpc:"accepted"`
	Dropped  int    `xmlrpc:"dropped"`
	Refused  int    `xmlrpc:"refused"`
	Tasks    []Task `xmlrpc:"tasks"`
	Commit   int64  `xmlrpc:"commit"`
	Durable  int64  `xmlrpc:"durable"`
	Term     int64  `xmlrpc:"term,omitempty"` // the master's raft term (RegisterReply.Term)
	// Beat is true when the master took the call as a heartbeat: it came
	// from a live (alive or draining) registration, so the master reaps
	// the worker no earlier than dead_after after it, and the worker's
	// fence may count from when it sent the call. A master of an earlier
	// release leaves it out (false).
	Beat bool `xmlrpc:"beat"`
}

// LogoutArgs is a worker leaving cleanly.
type LogoutArgs struct {
	WorkerID string `xmlrpc:"worker_id"`
	Secret   string `xmlrpc:"secret"` // the registration's (RegisterReply.Secret)
}
