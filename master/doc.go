// Package master is drover's master, for programs that run one inside
// themselves (the drover binary's "drover master" is one such program).
// A master holds the queue and the truth about every job: it takes jobs in,
// hands them to workers, records what the workers report and reaps the
// workers that go silent.
//
// Jobs come in three ways: Config.Jobs (a jobs file, submitted at every
// Start; each spec's Key keeps a restart from submitting it twice), calls
// (remote clients over RPC, the JSON API, and the typed calls below), and
// the cron scheduler (a spec with a Schedule is kept as a schedule, and
// each fire submits a job). Workers register over RPC and heartbeat. The
// master dispatches each pending job to a worker that handles its type,
// within its limits (Config.Limits, DefaultLimit, TypeLimits), pushed in
// batches or fetched by pull-mode workers. A failed attempt is retried with backoff while
// Spec.Retries allow; a worker silent for Config.DeadAfter is reaped and
// its running jobs requeued.
//
// New validates a Config (a zero field takes its documented default) and
// returns a master that is not yet started; Start opens the store, loads
// the live jobs, binds the listener and serves the workers, while it reads
// the rest of the store (the typed calls and every non-worker RPC wait for
// that; Ready is closed when it is done, Failed if it failed); Addr returns
// the listener's address (the real port when Listen used port 0); Close
// stops it all and closes the store. A Master starts once: Start again,
// after Close or a failed Start, is an error (make a new one with New).
// Close is safe in every state, and more than once.
//
//	m, err := master.New(master.Config{Listen: "127.0.0.1:7070", DataDir: "/var/lib/drover"})
//	if err != nil {
//		return err
//	}
//	if err := m.Start(); err != nil {
//		return err
//	}
//	defer m.Close()
//
// The one listener serves net/rpc (gob) at /_goRPC_, XML-RPC at /RPC2,
// Prometheus metrics at /metrics, the JSON API at /api/v1/ and the
// dashboard at /.
//
// A program that embeds a master submits and reads through typed calls:
// Submit, Job, Jobs (one page of a JobQuery), Wait and WaitGroup (block
// until the jobs are final, or ctx ends), Cancel, CancelGroup and Counts,
// and the operator's Retry, Drain, Undrain and Purge. Their errors wrap the rpcapi
// sentinels (rpcapi.ErrNotFound, rpcapi.ErrBadRequest, ...) and
// ErrConflict, for errors.Is. Once Close is called they return at once an
// error that wraps rpcapi.ErrUnavailable, and change nothing.
//
// Every job is in the store: a bbolt file in Config.DataDir by default,
// so that a restart comes back with every job, or nothing on disk with
// StoreMemory. Memory holds the live jobs and, for Config.Retain (default
// 1h, at most RetainJobs of them), the finished ones; the store keeps a
// finished job for Config.History (default 30 days, at most HistoryJobs).
// Job, Jobs, Wait and WaitGroup read the jobs that have left memory from
// the store.
//
// The wire contract, what workers and remote clients call, is described
// for any language in docs/protocol.md; package rpcapi holds its Go types
// and errors. The wire's methods are not methods of Master: a remote
// program uses package client, a worker package worker.
package master
