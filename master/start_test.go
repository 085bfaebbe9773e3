package master

import (
	"io"
	"testing"

	"github.com/sirupsen/logrus"
)

// quietLog is a logger that writes nowhere.
func quietLog() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// startT starts a master on cfg and waits until it is ready; the test's
// cleanup closes it.
func startT(tb testing.TB, cfg Config) *Master {
	tb.Helper()
	m, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := m.Start(); err != nil {
		tb.Fatal(err)
	}
	awaitReadyT(m)
	tb.Cleanup(func() { m.Close() })
	return m
}

// awaitReadyT waits until m has loaded its whole store (or failed to:
// the test's next call says so).
func awaitReadyT(m *Master) {
	select {
	case <-m.Ready():
	case <-m.Failed():
	}
}
