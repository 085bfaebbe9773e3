package drovertest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// warnHook keeps every log entry at warning level or above.
type warnHook struct {
	mu      sync.Mutex
	entries []string
}

func (h *warnHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (h *warnHook) Fire(e *logrus.Entry) error {
	s, _ := e.String()
	h.mu.Lock()
	h.entries = append(h.entries, s)
	h.mu.Unlock()
	return nil
}

// TestHealthyRunIsQuiet runs many short jobs through a cluster with no fault
// and fast heartbeats (50 ms, so beats cross reports often): no worker and no
// master logs a warning.
func TestHealthyRunIsQuiet(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	hook := &warnHook{}
	logger := func(node string) logrus.FieldLogger {
		l := logrus.New()
		l.SetLevel(logrus.WarnLevel)
		l.SetOutput(discard{})
		l.AddHook(hook)
		return l.WithField("node", node)
	}
	c := drovertest.Start(t, drovertest.Options{
		Workers:           4,
		Slots:             16,
		HeartbeatInterval: 50 * time.Millisecond,
		DeadAfter:         5 * time.Second,
		Handlers: map[string]worker.HandlerFunc{"noop": func(context.Context, *jobs.Job) (jobs.Result, error) {
			return jobs.Result{}, nil
		}},
		ConfigureWorker: func(i int, cfg *worker.Config) { cfg.Logger = logger(fmt.Sprint("worker", i)) },
		ConfigureMaster: func(cfg *master.Config) { cfg.Logger = logger("master") },
	})
	specs := make([]jobs.Spec, n)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "noop"}
	}
	var ids []string
	for len(specs) > 0 {
		k := min(len(specs), 1000)
		ids = append(ids, c.Submit(specs[:k]...)...)
		specs = specs[k:]
	}
	if r := c.WaitAll(ids, 2*time.Minute); r.Counts[jobs.Succeeded] != n {
		t.Fatalf("counts %v, want %d succeeded", r.Counts, n)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.entries) > 0 {
		t.Fatalf("%d warnings in a healthy run of %d jobs, first:\n%s", len(hook.entries), n,
			strings.Join(hook.entries[:min(5, len(hook.entries))], ""))
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
