package master

import "time"

// clock is the master's source of time: every job and worker change,
// dispatch and its hold-backs, leases, the reaper, retry and notification
// backoff, the history sweep and the scheduler read it, and the loops that
// wait for one of those times wait on its timers. Production uses
// systemClock; tests set Config.clock to a fake that moves only when told.
//
// Waits that a caller or the machine measures in real time stay on the
// time package: the timeout of a wait or fetch call (its caller's RPC
// deadline runs on the wall clock), RPC deadlines, store-failure retries,
// the live view's pacing, idle memory and metrics.
type clock interface {
	Now() time.Time
	// Timer returns a channel that receives once d has passed (at once if
	// d <= 0) and a func that stops the timer.
	Timer(d time.Duration) (<-chan time.Time, func() bool)
	// At is Timer for the time t: its channel receives once the clock
	// reads t or later. A loop that waits for a time it computed uses it,
	// so that time that passed meanwhile is not waited for again.
	At(t time.Time) (<-chan time.Time, func() bool)
	// Ticker returns a channel that receives every d (d > 0), dropping
	// ticks a slow receiver misses as time.Ticker does, and a func that
	// stops it.
	Ticker(d time.Duration) (<-chan time.Time, func())
}

// systemClock is the time package.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

func (c systemClock) At(t time.Time) (<-chan time.Time, func() bool) {
	return c.Timer(time.Until(t))
}

func (systemClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
