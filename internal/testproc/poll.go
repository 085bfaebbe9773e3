package testproc

import (
	"time"

	"github.com/drover/drover/internal/poll"
)

// PollInterval is how often Poll and PollErr check their condition.
const PollInterval = poll.Interval

// ErrStop, wrapped in the error of a PollErr condition, fails the test at
// once: the condition can no longer come true (say, the process exited).
var ErrStop = poll.ErrStop

// Poll calls cond every PollInterval until it returns true, and fails the
// test ("timed out after TIMEOUT waiting for WHAT") if timeout passes
// first. It is poll.Until, for the tests that import testproc anyway.
func Poll(tb TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	poll.Until(tb, timeout, what, cond)
}

// PollErr is Poll for a condition that says why it is not met yet: cond
// returns nil once it is, and the failure quotes its last error. An error
// that wraps ErrStop fails the test at once. It is poll.UntilErr.
func PollErr(tb TB, timeout time.Duration, what string, cond func() error) {
	tb.Helper()
	poll.UntilErr(tb, timeout, what, cond)
}
