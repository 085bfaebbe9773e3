// Package jobs holds drover's job model and its storage.
//
// A Spec says what to run: a type (the worker's handler or command
// template), string args, and how to run it (priority, retries, timeout,
// group, idempotency key, required worker tags, a limit key, a delay, a
// follow-up job for its group, or a cron schedule). A program builds Specs
// and submits them with package client; a jobs file (package conf) holds
// them too. The master turns each into a Job: the Spec with an ID, a State
// and the history of its Attempts and Events. A worker's handler gets the
// Job and returns a Result.
//
//	spec := jobs.Spec{
//		Type:    "crawl",
//		Args:    map[string]string{"url": "https://example.com/"},
//		Group:   "example.com",
//		Retries: 3,
//		Timeout: 10 * time.Minute,
//	}
//
// A job is Pending, then Running on a worker, and ends Succeeded, Failed or
// Cancelled; a failed attempt puts it back to Pending while it has retries
// left. Job's methods (Lease, Finish, Revoke, Cancel) are that state
// machine, with attempt fencing: a report counts only for the job's
// current attempt.
//
// The rest of the package is the master's: the ready Queue, and the Store
// interface with a memory store (NewMemStore) and the default durable store
// (OpenBolt: a bbolt file behind a write-ahead log), which keep jobs in a
// compact binary record (AppendRecord, DecodeRecord).
package jobs
