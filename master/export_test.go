package master

import (
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

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

// PurgeGroupOnceFinal is purgeGroupOnceFinal (groupback_test.go).
func PurgeGroupOnceFinal(t testing.TB, mc rpcapi.MasterClient, g string, want int) {
	t.Helper()
	purgeGroupOnceFinal(t, mc, g, want)
}

// LogTo is testLog: a logger of node that writes to the test's log with -v.
func LogTo(t testing.TB, node string) logrus.FieldLogger { return testLog(t, node) }

// StartTestWorker is startTestWorker: a worker on loopback that has
// registered, killed at the test's cleanup.
func StartTestWorker(t testing.TB, cfg worker.Config, handlers map[string]worker.HandlerFunc) *worker.Worker {
	t.Helper()
	return startTestWorker(t, cfg, handlers)
}

// StartTestMaster is startT: a master started on cfg and ready, closed at
// the test's cleanup.
func StartTestMaster(t testing.TB, cfg Config) *Master {
	t.Helper()
	return startT(t, cfg)
}
