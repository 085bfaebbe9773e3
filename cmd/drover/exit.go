package main

import (
	"errors"
	"fmt"

	"github.com/drover/drover/rpcapi"
)

// The exit codes of every drover command (README, "drover help").
const (
	exitOK = 0
	// exitFailed: some job failed or was cancelled, or the command failed
	// for a reason that has no code of its own (a cancel refused, damage
	// in a data dir, a file that does not read).
	exitFailed      = 1
	exitUsage       = 2 // bad flags or arguments; nothing was done
	exitTimeout     = 3 // a wait ran out of its --timeout
	exitUnreachable = 4 // the master cannot be reached, or refused the call (token, role)
	exitNotFound    = 5 // no such job, group, schedule or attempt
)

// exitCodes is the table of exit codes as "drover help" prints it.
const exitCodes = `Exit codes:
  0  done, and every job waited for succeeded
  1  some job failed or was cancelled, or the command failed otherwise
  2  usage: bad flags or arguments (nothing was done)
  3  timed out (wait --timeout)
  4  the master cannot be reached, or refused the call (token, role)
  5  not found: no such job, group, schedule or attempt`

// exitError carries a process exit code, and the error to print (nil:
// nothing to print, the output said it).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError is err as a usage error (exit 2).
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

// usagef is a usage error (exit 2) of a formatted message.
func usagef(format string, a ...any) error { return usageError(fmt.Errorf(format, a...)) }

// exitCode maps the error a command returned to its exit code: the code
// of an exitError, else the code of the master's (or the connection's)
// error, else exitFailed.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, rpcapi.ErrUnavailable), errors.Is(err, rpcapi.ErrUnauthorized), errors.Is(err, rpcapi.ErrForbidden),
		errors.Is(err, rpcapi.ErrNotLeader): // no master of the group leads, or the one asked does not
		return exitUnreachable
	case errors.Is(err, rpcapi.ErrNotFound):
		return exitNotFound
	case errors.Is(err, rpcapi.ErrBadRequest):
		return exitUsage // the master refused the arguments
	}
	return exitFailed
}
