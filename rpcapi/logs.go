package rpcapi

import "context"

// WorkerReadLog is read_log, a push worker's method that reads the full
// log of one attempt it ran (see ReadLogArgs).
const WorkerReadLog = "Worker.ReadLog"

// Log streams: what a command job wrote to its standard output and to its
// standard error, kept apart.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// MaxReadLog bounds ReadLogArgs.Max: one read_log call returns at most
// this many bytes.
const MaxReadLog = 1 << 20

// ReadLogArgs asks a worker for bytes of the full log of one attempt.
// Secret is the worker's registration secret, as in AssignArgs: only its
// master reads its logs.
type ReadLogArgs struct {
	Secret  string `xmlrpc:"secret"`
	JobID   string `xmlrpc:"job_id"`
	Attempt int    `xmlrpc:"attempt"`
	// Stream is StreamStdout or StreamStderr.
	Stream string `xmlrpc:"stream"`
	// Offset is the first byte to read, from 0.
	Offset int64 `xmlrpc:"offset"`
	// Max is how many bytes to read at most: 1 to MaxReadLog, 0 for
	// MaxReadLog.
	Max int `xmlrpc:"max"`
}

// ReadLogReply carries the bytes read (none at or past the end), the
// stream's size now, and whether the attempt has ended, so the size is
// final.
type ReadLogReply struct {
	Data []byte `xmlrpc:"data"`
	Size int64  `xmlrpc:"size"`
	Done bool   `xmlrpc:"done"`
}

// ReadLog reads bytes of an attempt's full log (read_log).
func (w WorkerClient) ReadLog(ctx context.Context, a *ReadLogArgs) (*ReadLogReply, error) {
	return invoke[ReadLogReply](ctx, w.C, WorkerReadLog, a)
}
