// Package watchdog ends the processes of a worker's command jobs when the
// worker cannot: one small process per worker, the worker's own binary
// started again (/proc/self/exe) with Env set, which this package's init
// turns into the watchdog before the binary's main runs. It imports only
// the standard library.
//
// Every process of a command job carries a mark in its environment
// (MarkEnv): the worker's identity key (IdentityKey), its life (pid, start
// time, instance) and the job's number. The watchdog finds a job's
// processes by the mark with a scan of /proc, so it finds those that left
// the job's process group and session (setsid daemons) too; and by the
// job's process group (Group), which the worker tells it at the job's
// start, so it finds those that dropped the mark but stayed in the group.
// It ends:
//
//   - what a job left when the job's first process exited (End: SIGKILL);
//   - what a cancel or timeout stops (Term: SIGTERM; the worker sends End
//     once kill_grace has passed and the first process is gone);
//   - every job of the worker when the worker dies (its pipe to the
//     watchdog reads end-of-file): SIGTERM, then SIGKILL after the grace;
//   - every job of the worker at the worker's fence deadline (Deadline),
//     SIGTERM then SIGKILL after the grace, even while the worker itself
//     is stopped (SIGSTOP).
//
// The worker talks to it over one pipe of 9-byte records: an op byte and
// a big-endian uint64. Scans are batched: at most one every ScanGap (and
// never more than a tenth of the time), so a worker running many short
// jobs pays for one scan per batch, in the watchdog.
//
// KillDead, which a worker calls when it starts, ends what an earlier life
// of the same identity left when its watchdog died with it.
package watchdog

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

const (
	// Env is set in a watchdog's environment only:
	// "GRACE,FD,LIFE", the wait between SIGTERM and SIGKILL in
	// nanoseconds, the pipe's descriptor, and the life's mark prefix.
	Env = "DROVER_WATCHDOG"
	// Arg0 is a watchdog's argv[0], as ps shows it.
	Arg0 = "drover-watchdog"
	// MarkEnv names the variable every process of a command job
	// inherits: KEY.PID.START.INST.SEQ, the worker's identity key, its
	// pid, its start time (clock ticks since boot), the instance of the
	// worker in its process, and the job's number in that life.
	MarkEnv = "DROVER_JOB_MARK"
	// ScanGap is the least time between two scans of /proc.
	ScanGap = 50 * time.Millisecond
)

// Records on the pipe from the worker.
const (
	opDeadline = 'D' // the fence deadline: CLOCK_BOOTTIME ns, 0 for none
	opTerm     = 'T' // SIGTERM the processes of job N
	opEnd      = 'E' // SIGKILL the processes of job N; its group is the worker's again
	opGroup    = 'G' // job N's process group P: N<<pgidBits | P
)

// pgidBits is the width of a process group ID in an opGroup record: Linux
// process IDs are below 2^22 (PID_MAX_LIMIT).
const pgidBits = 22

// IdentityKey is the form of a worker identity that marks carry: 16 hex
// digits of its SHA-256.
func IdentityKey(identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return hex.EncodeToString(sum[:8])
}
