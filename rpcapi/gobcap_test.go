package rpcapi

import (
	"bytes"
	"encoding/gob"
	"errors"
	"io"
	"net/rpc"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/jobs"
)

// TestCapReaderFraming passes a real gob stream (messages of 0 to 70,000
// bytes, so lengths of one to three bytes) through capReader, a byte at a
// time and in one piece: under a cap above the largest message it decodes
// unchanged; under a cap below it the read of that message's length fails.
func TestCapReaderFraming(t *testing.T) {
	var stream bytes.Buffer
	enc := gob.NewEncoder(&stream)
	sizes := []int{0, 1, 100, 127, 128, 255, 256, 4000, 70000, 3}
	for _, n := range sizes {
		if err := enc.Encode(strings.Repeat("x", n)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		max     uint64
		wantErr bool
	}{
		{"above", 70100, false},
		{"below", 60000, true},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(stream.Bytes())
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			cr := &capReader{r: r, max: tc.max}
			dec := gob.NewDecoder(cr)
			var err error
			got := 0
			for range sizes {
				var s string
				if err = dec.Decode(&s); err != nil {
					break
				}
				if len(s) != sizes[got] {
					t.Fatalf("%s: message %d: %d bytes, want %d", tc.name, got, len(s), sizes[got])
				}
				got++
			}
			if tc.wantErr {
				if !errors.Is(cr.err, ErrMessageTooLarge) || got != 8 {
					t.Errorf("%s (one byte %v): decoded %d, capReader error %v; want 8 and ErrMessageTooLarge", tc.name, oneByte, got, cr.err)
				}
			} else if err != nil || got != len(sizes) {
				t.Errorf("%s (one byte %v): decoded %d of %d: %v", tc.name, oneByte, got, len(sizes), err)
			}
		}
	}
}

// TestCapReaderBadPrefix refuses a length prefix of more than 8 bytes.
func TestCapReaderBadPrefix(t *testing.T) {
	cr := &capReader{r: bytes.NewReader([]byte{0xf0, 1, 2, 3}), max: 1 << 20}
	if _, err := cr.Read(make([]byte, 16)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Read = %v, want ErrMessageTooLarge", err)
	}
}

// TestGoRPCCallsInFlight pipelines five blocking calls on one connection
// to a server that allows two at once: two run, the server holds the rest
// back (no error), and all five are answered once the first ones end.
func TestGoRPCCallsInFlight(t *testing.T) {
	fm := newFakeMaster("g")
	stats := new(GoRPCStats)
	s := startGoRPC(t, "127.0.0.1:0", fm, nil, GoRPCOptions{MaxCallsInFlight: 2, Stats: stats})
	cl := rawGoRPC(t, s.addr)
	done := make(chan *rpc.Call, 5)
	for range 5 {
		cl.Go(MasterWait, &WaitArgs{Group: "block"}, new(WaitReply), done)
	}
	for range 2 {
		select {
		case <-fm.waiting:
		case <-time.After(5 * time.Second):
			t.Fatal("the first two calls did not start")
		}
	}
	poll.Until(t, 5*time.Second, "the server to hold the connection back", func() bool { return stats.HeldBack.Load() != 0 })
	select {
	case <-fm.waiting:
		t.Fatal("a third call ran while two were in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(fm.release)
	for range 5 {
		answered(t, done, "a held-back call")
	}
}

// answered waits up to 5s for a call to end on done and fails t unless it
// ends without an error.
func answered(t *testing.T, done <-chan *rpc.Call, what string) {
	t.Helper()
	select {
	case c := <-done:
		if c.Error != nil {
			t.Fatalf("%s: %v", what, c.Error)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s was never answered", what)
	}
}

// TestGoRPCOversizeArgs sends a Submit whose args are over MaxMessage:
// the call fails with ErrBadRequest naming the cap, and the connection
// is closed, counted once.
func TestGoRPCOversizeArgs(t *testing.T) {
	fm := newFakeMaster("g")
	stats := new(GoRPCStats)
	s := startGoRPC(t, "127.0.0.1:0", fm, nil, GoRPCOptions{MaxMessage: 64 << 10, Stats: stats})
	m := MasterClient{C: newTestClient(t, s.addr)}
	specs := make([]jobs.Spec, 100)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "t", Input: strings.Repeat("i", 1000)}
	}
	_, err := m.Submit(ctxT(t, 10*time.Second), &SubmitArgs{Specs: specs})
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "max_request_body") {
		t.Fatalf("Submit of 100 KB = %v, want ErrBadRequest naming max_request_body", err)
	}
	if fm.submits() != 0 || stats.Oversize.Load() != 1 {
		t.Errorf("submits %d, oversize %d; want 0 and 1", fm.submits(), stats.Oversize.Load())
	}
	// The client may learn that the connection is closed from its next
	// call (ErrUnavailable); the one after dials again.
	_, err = m.Submit(ctxT(t, 10*time.Second), &SubmitArgs{Specs: specs[:10]})
	if errors.Is(err, ErrUnavailable) {
		_, err = m.Submit(ctxT(t, 10*time.Second), &SubmitArgs{Specs: specs[:10]})
	}
	if err != nil {
		t.Errorf("Submit of 10 KB after: %v", err)
	}
}

// BenchmarkGoRPCCalls measures calls over one gob connection: an inline
// one (Status) and one on a goroutine of its own (Submit), the two paths
// the caps sit on.
func BenchmarkGoRPCCalls(b *testing.B) {
	s := startRPC(b, "127.0.0.1:0", newFakeMaster("g"), nil)
	cl := rawGoRPC(b, s.addr)
	b.Run("inline", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := cl.Call(MasterStatus, &Empty{}, new(StatusReply)); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("goroutine", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := cl.Call(MasterWait, &WaitArgs{IDs: []string{"a"}}, new(WaitReply)); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// TestGoRPCIdleTimeout: a Wait in flight for longer than IdleTimeout keeps
// its connection open; once no call is in flight, the connection closes
// after IdleTimeout, counted once.
func TestGoRPCIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	fm := newFakeMaster("g")
	stats := new(GoRPCStats)
	s := startGoRPC(t, "127.0.0.1:0", fm, nil, GoRPCOptions{IdleTimeout: idle, Stats: stats})
	cl := rawGoRPC(t, s.addr)
	done := make(chan *rpc.Call, 1)
	cl.Go(MasterWait, &WaitArgs{Group: "block"}, new(WaitReply), done)
	select {
	case <-fm.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("the Wait did not start")
	}
	select {
	case c := <-done:
		t.Fatalf("the Wait ended while blocked: %v", c.Error)
	case <-time.After(4 * idle):
	}
	close(fm.release)
	answered(t, done, "the Wait in flight for 4×IdleTimeout")
	if stats.Idle.Load() != 0 {
		t.Fatalf("idle closes %d while a call was in flight", stats.Idle.Load())
	}
	poll.Until(t, 5*time.Second, "the idle connection closed", func() bool { return stats.Idle.Load() != 0 })
	if n := stats.Idle.Load(); n != 1 {
		t.Fatalf("idle closes %d after the last call; want 1", n)
	}
	if err := cl.Call(MasterStatus, &Empty{}, new(StatusReply)); err == nil {
		t.Error("a call on the idle-closed connection succeeded")
	}
}
