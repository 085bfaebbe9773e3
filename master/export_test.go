package master

import "time"

// FakeClock is the package's test clock (clock_test.go), for the tests
// outside the package: they run a master on it with OnClock.
type FakeClock = fakeClock

// NewFakeClock returns a fake clock that reads now until it is advanced.
func NewFakeClock(now time.Time) *FakeClock { return newFakeClock(now) }

// OnClock returns cfg with the master's clock set to c.
func OnClock(cfg Config, c *FakeClock) Config {
	cfg.clock = c
	return cfg
}

// Notice is the JSON body of a webhook notice (notify.go), for the tests
// outside the package to decode what their webhooks receive.
type Notice = notice
