package testproc

import (
	"errors"
	"time"
)

// PollInterval is how often Poll and PollErr check their condition.
const PollInterval = 10 * time.Millisecond

// ErrStop, wrapped in the error of a PollErr condition, fails the test at
// once: the condition can no longer come true (say, the process exited).
var ErrStop = errors.New("testproc: gave up")

// Poll calls cond every PollInterval until it returns true, and fails the
// test ("timed out after TIMEOUT waiting for WHAT") if timeout passes
// first.
func Poll(tb TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
			return
		}
		time.Sleep(PollInterval)
	}
}

// PollErr is Poll for a condition that says why it is not met yet: cond
// returns nil once it is, and the failure quotes its last error. An error
// that wraps ErrStop fails the test at once.
func PollErr(tb TB, timeout time.Duration, what string, cond func() error) {
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
		time.Sleep(PollInterval)
	}
}
