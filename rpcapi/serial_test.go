package rpcapi

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
)

// TestSerialCallEndsWithItsContext blocks a call on the server and ends
// its context: the call must return at once, whether the client watches
// the context (Watch) or registers with it per call, and whether the call
// runs under the context itself or a CallContext of it.
func TestSerialCallEndsWithItsContext(t *testing.T) {
	for _, tc := range []struct {
		name     string
		watch    bool
		callCtx  bool
		deadline bool // end it by the CallContext's deadline, not by cancelling
	}{
		{name: "watched/ctx", watch: true},
		{name: "watched/CallContext", watch: true, callCtx: true},
		{name: "watched/CallContext deadline", watch: true, callCtx: true, deadline: true},
		{name: "unwatched/CallContext", callCtx: true},
		{name: "unwatched/CallContext deadline", callCtx: true, deadline: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fm := newFakeMaster("gen1")
			srv := startRPC(t, "127.0.0.1:0", fm, nil)
			c := closedAtEnd(t, NewSerialClient(srv.addr), nil)
			t.Cleanup(func() { close(fm.release) }) // first: a call still in flight holds c's Close
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.watch {
				c.Watch(parent)
			}
			m := MasterClient{C: c}
			if _, err := m.Status(parent); err != nil { // connected: what follows is the call's alone
				t.Fatal(err)
			}
			timeout, want := time.Minute, context.Canceled
			if tc.deadline {
				timeout, want = 200*time.Millisecond, context.DeadlineExceeded
			}
			var ctx context.Context = parent
			if tc.callCtx {
				cc := NewCallContext(parent, timeout)
				defer cc.Release()
				ctx = cc
			}
			errc := make(chan error, 1)
			go func() {
				_, err := m.Wait(ctx, &WaitArgs{Group: "block"})
				errc <- err
			}()
			select {
			case <-fm.waiting:
			case <-time.After(10 * time.Second):
				t.Fatal("the server's Wait never started")
			}
			if !tc.deadline {
				cancel()
			}
			var err error
			select {
			case err = <-errc:
			case <-time.After(10 * time.Second):
				t.Fatalf("the call is still in flight 10s after its context ended (%v)", want)
			}
			wantUnavailable(t, err, MasterWait, want.Error())

			// A call under the ended context fails at once; one under
			// another context connects again.
			if !tc.deadline {
				if _, err := m.Status(ctx); !errors.Is(err, ErrUnavailable) {
					t.Errorf("Status under an ended context: %v, want ErrUnavailable", err)
				}
			}
			if _, err := m.Status(ctxT(t, 10*time.Second)); err != nil {
				t.Errorf("Status under a live context: %v", err)
			}
		})
	}
}

// TestCallContext checks that a CallContext behaves as a
// context.WithDeadline of its parent once asked.
func TestCallContext(t *testing.T) {
	t.Run("parent cancelled", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		cc := NewCallContext(parent, time.Hour)
		defer cc.Release()
		if err := cc.Err(); err != nil {
			t.Fatalf("Err before the end = %v", err)
		}
		done := cc.Done()
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Done not closed 10s after the parent ended")
		}
		if err := cc.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("Err = %v, want context.Canceled", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		cc := NewCallContext(context.Background(), 50*time.Millisecond)
		defer cc.Release()
		dl, ok := cc.Deadline()
		if !ok || time.Until(dl) > 50*time.Millisecond {
			t.Fatalf("Deadline = %v, %v", dl, ok)
		}
		select {
		case <-cc.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("Done not closed 10s after the deadline")
		}
		if err := cc.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err = %v, want context.DeadlineExceeded", err)
		}
		if err := context.Cause(cc); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Cause = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("deadline without Done", func(t *testing.T) {
		cc := NewCallContext(context.Background(), time.Millisecond)
		defer cc.Release()
		poll.Until(t, 10*time.Second, "Err after the deadline", func() bool { return cc.Err() != nil })
		if err := cc.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("parent's earlier deadline", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pd, _ := parent.Deadline()
		cc := NewCallContext(parent, time.Hour)
		defer cc.Release()
		if dl, _ := cc.Deadline(); !dl.Equal(pd) {
			t.Errorf("Deadline = %v, want the parent's %v", dl, pd)
		}
	})
	t.Run("value", func(t *testing.T) {
		type key struct{}
		cc := NewCallContext(context.WithValue(context.Background(), key{}, "v"), time.Hour)
		defer cc.Release()
		if v := cc.Value(key{}); v != "v" {
			t.Errorf("Value = %v, want the parent's", v)
		}
	})
}

// BenchmarkSerialCall is one get_master_status call after another on a
// serial client, as a worker's runner makes its reports: under a
// context.WithTimeout per call, or a CallContext of a context the client
// watches.
func BenchmarkSerialCall(b *testing.B) {
	srv := startRPC(b, "127.0.0.1:0", newFakeMaster("gen1"), nil)
	for _, callCtx := range []bool{false, true} {
		name := "WithTimeout"
		if callCtx {
			name = "CallContext"
		}
		b.Run(name, func(b *testing.B) {
			life, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := closedAtEnd(b, NewSerialClient(srv.addr), nil)
			c.Watch(life)
			m := MasterClient{C: c}
			call := func() error {
				if callCtx {
					ctx := NewCallContext(life, 10*time.Second)
					defer ctx.Release()
					_, err := m.Status(ctx)
					return err
				}
				ctx, cancel := context.WithTimeout(life, 10*time.Second)
				defer cancel()
				_, err := m.Status(ctx)
				return err
			}
			if err := call(); err != nil { // connected
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
