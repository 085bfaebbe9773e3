package worker

import (
	"testing"
	"time"
)

// TestReportTimeout: a task_complete call waits for the master's
// dead_after, at least 2 s and at most callTimeout (docs/ha.md: a
// stopped leader's reports go to the next leader within that).
func TestReportTimeout(t *testing.T) {
	for _, c := range []struct{ deadAfter, want time.Duration }{
		{0, callTimeout},
		{500 * time.Millisecond, 2 * time.Second},
		{3 * time.Second, 3 * time.Second},
		{time.Minute, callTimeout},
	} {
		if got := reportTimeout(c.deadAfter); got != c.want {
			t.Errorf("reportTimeout(%s) = %s, want %s", c.deadAfter, got, c.want)
		}
	}
	var w Worker
	if got := w.reportDeadline(); got != callTimeout {
		t.Errorf("before registration: %s, want %s", got, callTimeout)
	}
}
