package master

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
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

// TestLifecycle: Close is safe in every state of a master (never started,
// Start failed, started, closed), and a master starts once: Start again,
// on a started, failed or closed master, is an error and changes nothing.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	mustNew := func(t *testing.T, cfg Config) *Master {
		t.Helper()
		cfg.Logger = testLog(t, "master")
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	closeTwice := func(t *testing.T, m *Master) {
		t.Helper()
		for i := range 2 {
			if err := m.Close(); err != nil {
				t.Fatalf("Close #%d: %v", i+1, err)
			}
		}
		err := m.Start()
		t.Logf("Start after Close: %v", err)
		if err == nil {
			m.Close()
			t.Fatal("Start after Close: no error")
		}
		if _, err := m.Submit(ctx, jobs.Spec{Type: "t"}); !errors.Is(err, rpcapi.ErrUnavailable) {
			t.Fatalf("Submit after Close: %v, want unavailable", err)
		}
	}

	t.Run("never started", func(t *testing.T) {
		m := mustNew(t, Config{Store: StoreMemory, Listen: "127.0.0.1:0"})
		closeTwice(t, m)
		if c := m.Counts(); c != nil {
			t.Fatalf("Counts of a master closed unstarted: %v, want nil", c)
		}
	})

	t.Run("start failed", func(t *testing.T) {
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer taken.Close()
		dir := t.TempDir()
		m := mustNew(t, Config{DataDir: dir, Listen: taken.Addr().String()})
		err = m.Start()
		t.Logf("Start on a port in use: %v", err)
		if err == nil {
			m.Close()
			t.Fatal("Start on a port in use: no error")
		}
		if err := m.Start(); err == nil {
			m.Close()
			t.Fatal("Start after a failed Start: no error")
		}
		closeTwice(t, m)
		// The failed Start released the store: a new master opens it.
		m2 := startT(t, Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: testLog(t, "master2")})
		if _, err := m2.Submit(ctx, jobs.Spec{Type: "t"}); err != nil {
			t.Fatalf("Submit to a new master on the same data dir: %v", err)
		}
	})

	t.Run("started", func(t *testing.T) {
		m := mustNew(t, Config{Store: StoreMemory, Listen: "127.0.0.1:0"})
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		awaitReadyT(m)
		addr := m.Addr()
		err := m.Start()
		t.Logf("Start of a started master: %v", err)
		if err == nil {
			t.Fatal("Start of a started master: no error")
		}
		if m.Addr() != addr {
			t.Fatalf("Start of a started master moved it from %s to %s", addr, m.Addr())
		}
		if _, err := m.Submit(ctx, jobs.Spec{Type: "t"}); err != nil {
			t.Fatalf("Submit after the second Start: %v", err)
		}
		closeTwice(t, m)
	})
}

// returnsT runs call with a context of 2s and fails the test unless it
// returns within 20s (a call that ignored its context and stayed stuck).
// It returns call's error.
func returnsT(t *testing.T, name string, call func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- call(ctx) }()
	select {
	case err := <-done:
		t.Logf("%s: %v (after %v)", name, err, time.Since(t0))
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: still blocked 20s later, its context ended after 2s", name)
		return nil
	}
}

// TestWireAfterClose: the wire's calls that reach the core during or
// after Close (a call in flight on a connection that Close ends) return
// promptly: those that would change jobs are unavailable and change
// nothing, and a Wait in flight ends.
func TestWireAfterClose(t *testing.T) {
	m := startT(t, Config{Store: StoreMemory, Listen: "127.0.0.1:0", Logger: testLog(t, "master")})
	c := m.core
	ctx := context.Background()
	ids, err := m.Submit(ctx, jobs.Spec{Type: "nobody", Group: "g"}, jobs.Spec{Type: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Cancel(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		var r rpcapi.WaitReply
		waited <- m.wire.Wait(ctx, &rpcapi.WaitArgs{IDs: ids[:1], Timeout: rpcapi.MaxWait}, &r)
	}()
	testproc.Poll(t, 20*time.Second, "the wait to block", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.changed != nil
	})
	before := m.Counts()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	returnsT(t, "wait_jobs in flight at Close", func(context.Context) error { return <-waited })

	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"cancel_jobs", func(ctx context.Context) error {
			return m.wire.Cancel(ctx, &rpcapi.CancelArgs{IDs: ids[:1]}, &rpcapi.CancelReply{})
		}},
		{"cancel_jobs of a group", func(ctx context.Context) error {
			return m.wire.Cancel(ctx, &rpcapi.CancelArgs{Group: "g"}, &rpcapi.CancelReply{})
		}},
		{"purge_jobs", func(ctx context.Context) error {
			return m.wire.PurgeJobs(ctx, &rpcapi.PurgeArgs{State: jobs.Cancelled}, &rpcapi.PurgeReply{})
		}},
		{"submit_jobs", func(ctx context.Context) error {
			return m.wire.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "nobody"}}}, &rpcapi.SubmitReply{})
		}},
	} {
		if err := returnsT(t, tc.name+" after Close", tc.call); !errors.Is(err, rpcapi.ErrUnavailable) {
			t.Errorf("%s after Close: %v, want unavailable", tc.name, err)
		}
	}
	returnsT(t, "wait_jobs after Close", func(ctx context.Context) error {
		return m.wire.Wait(ctx, &rpcapi.WaitArgs{IDs: ids[:1], Timeout: rpcapi.MaxWait}, &rpcapi.WaitReply{})
	})
	if after := m.Counts(); !maps.Equal(before, after) {
		t.Fatalf("counts changed after Close: %v, were %v", after, before)
	}
}
