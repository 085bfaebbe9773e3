package master

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/crash"
	"github.com/drover/drover/worker"
)

// The test nodes that the tests of both packages (master and master_test,
// through export_test.go) start in process: a logger, and a worker that
// has registered.

// testLogWriter writes log lines to the test's log.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testLog returns a logger of node that writes to the test's log with -v,
// and nowhere otherwise.
func testLog(t testing.TB, node string) logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	if testing.Verbose() {
		l.SetOutput(testLogWriter{t})
	}
	l.SetLevel(logrus.InfoLevel)
	return l.WithField("node", node)
}

// startTestWorker starts a worker from cfg on loopback with handlers, and
// waits until it has registered; the test's cleanup kills it. It fills in
// Listen, and Logger (testLog) and KillGrace (200ms) when they are unset.
func startTestWorker(t testing.TB, cfg worker.Config, handlers map[string]worker.HandlerFunc) *worker.Worker {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = testLog(t, cfg.Name)
	}
	if cfg.KillGrace == 0 {
		cfg.KillGrace = 200 * time.Millisecond
	}
	if cfg.LogDir == "" {
		cfg.LogDir = t.TempDir()
	}
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for typ, h := range handlers {
		w.Handle(typ, h)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { crash.Worker(w) })
	select {
	case <-w.Registered():
	case <-time.After(10 * time.Second):
		t.Fatalf("worker %s did not register", cfg.Name)
	}
	return w
}
