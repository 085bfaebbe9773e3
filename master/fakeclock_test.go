package master_test

import (
	"context"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// startClockMaster starts a master as startMaster does, on a fake clock
// that moves only when the test advances it (master.FakeClock: Advance
// fires what came due, AwaitTimer waits until a loop waits for a time).
// Unless cfg sets them, heartbeats are due every 100 ms and dead_after is
// a day on that clock: workers that beat in real time are not reaped,
// however far a test moves it short of a day.
func startClockMaster(t testing.TB, cfg master.Config) (*master.Master, *master.FakeClock) {
	t.Helper()
	fc := master.NewFakeClock(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval, cfg.DeadAfter = 100*time.Millisecond, 24*time.Hour
	}
	return startMaster(t, master.OnClock(cfg, fc)), fc
}

// jobOf reads job id.
func jobOf(t testing.TB, mc rpcapi.MasterClient, id string) jobs.Job {
	t.Helper()
	info, err := mc.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return info.Job
}

// dispatchSlack: the dispatcher wakes for a job's time, but no sooner than
// a millisecond after its pass.
const dispatchSlack = time.Millisecond

// retryDue waits until job id waits out a retry's backoff and the
// dispatcher waits for its end, then moves fc there. It returns the
// failed attempts so far.
func retryDue(t testing.TB, mc rpcapi.MasterClient, fc *master.FakeClock, id string) []jobs.Attempt {
	t.Helper()
	var j jobs.Job
	pollT(t, 10*time.Second, "job "+id+" pending a retry", func() bool {
		j = jobOf(t, mc, id)
		return j.State == jobs.Pending && j.NotBefore.After(fc.Now())
	})
	fc.AdvanceTo(fc.AwaitTimer(t, "the retry of "+id, j.NotBefore, j.NotBefore.Add(dispatchSlack)))
	return j.Attempts
}

// driveRetries moves fc to each retry's time once the dispatcher waits
// for it, until every job of ids is final; it fails the test after d of
// real time.
func driveRetries(t testing.TB, mc rpcapi.MasterClient, fc *master.FakeClock, ids []string, d time.Duration) {
	t.Helper()
	pollT(t, d, "every job final, each retry's backoff advanced through", func() bool {
		final := true
		for _, id := range ids {
			j := jobOf(t, mc, id)
			if j.State.Final() {
				continue
			}
			final = false
			if at, ok := fc.TimerIn(j.NotBefore, j.NotBefore.Add(dispatchSlack)); j.State == jobs.Pending && ok {
				fc.AdvanceTo(at)
			}
		}
		return final
	})
}
