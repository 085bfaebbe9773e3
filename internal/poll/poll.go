// Package poll waits in tests for a condition, with a deadline. It
// imports nothing of drover's, so that the tests of every package can use
// it (rpcapi's and jobs' too, which internal/testproc imports); testproc's
// Poll and PollErr are Until and UntilErr.
package poll

import (
	"errors"
	"time"
)

// Interval is how often Until and UntilErr check their condition.
const Interval = 10 * time.Millisecond

// ErrStop, wrapped in the error of an UntilErr condition, fails the test
// at once: the condition can no longer come true (say, the process
// exited).
var ErrStop = errors.New("testproc: gave up")

// TB is the part of testing.TB that poll uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Until calls cond every Interval until it returns true, and fails the
// test ("timed out after TIMEOUT waiting for WHAT") if timeout passes
// first.
func Until(tb TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
			return
		}
		time.Sleep(Interval)
	}
}

// UntilErr is Until for a condition that says why it is not met yet:
// cond returns nil once it is, and the failure quotes its last error. An
// error that wraps ErrStop fails the test at once.
func UntilErr(tb TB, timeout time.Duration, what string, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		switch {
		case err == nil:
			return
		case errors.Is(err, ErrStop):
			tb.Fatalf("%s: %v", what, err)
			return
		case time.Now().After(deadline):
			tb.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
			return
		}
		time.Sleep(Interval)
	}
}
