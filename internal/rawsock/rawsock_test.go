package rawsock_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/internal/rawsock"
)

// pair returns both ends of a loopback TCP connection, the dialed one
// wrapped, with 30 s deadlines, and closes them when the test ends.
func pair(t *testing.T) (wrapped net.Conn, peer *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := <-accepted
	if p == nil {
		t.Fatal("accept failed")
	}
	w := rawsock.Wrap(c)
	// Nothing here takes long: a test that goes wrong fails at this bound
	// instead of hanging.
	w.SetDeadline(time.Now().Add(30 * time.Second))
	p.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { w.Close(); p.Close() })
	return w, p.(*net.TCPConn)
}

func TestWrapOnlyTakesTCP(t *testing.T) {
	w, _ := pair(t)
	if _, ok := w.(*rawsock.Conn); !ok && runtime.GOOS == "linux" {
		t.Fatalf("Wrap of a *net.TCPConn on linux = %T, want *rawsock.Conn", w)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := rawsock.Wrap(a); got != a {
		t.Fatalf("Wrap of a pipe = %T, want the pipe itself", got)
	}
	// A TLS connection leads to its socket through NetConn; raw reads of
	// that socket would hand TLS records to the reader.
	_, peer := pair(t)
	tc := tls.Client(peer, &tls.Config{InsecureSkipVerify: true})
	if got := rawsock.Wrap(tc); got != net.Conn(tc) {
		t.Fatalf("Wrap of a *tls.Conn = %T, want the TLS connection itself", got)
	}
}

// TestBytesBothWays sends 8 MiB each way at once, more than the socket
// buffers hold, so both sides' writes wait on the poller part way.
func TestBytesBothWays(t *testing.T) {
	w, p := pair(t)
	const size = 8 << 20
	out, back := make([]byte, size), make([]byte, size)
	rand.Read(out)
	rand.Read(back)
	var wg sync.WaitGroup
	var gotAtPeer, gotAtW []byte
	var errs [4]error
	var wrote int
	wg.Go(func() { wrote, errs[0] = w.Write(out) })
	wg.Go(func() { _, errs[1] = p.Write(back) })
	wg.Go(func() { gotAtPeer = make([]byte, size); _, errs[2] = io.ReadFull(p, gotAtPeer) })
	wg.Go(func() { gotAtW = make([]byte, size); _, errs[3] = io.ReadFull(w, gotAtW) })
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	if wrote != size {
		t.Fatalf("Write = %d, want %d", wrote, size)
	}
	if !bytes.Equal(gotAtPeer, out) || !bytes.Equal(gotAtW, back) {
		t.Fatal("bytes differ after the round trip")
	}
}

func TestReadDeadline(t *testing.T) {
	w, _ := pair(t)
	w.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	n, err := w.Read(make([]byte, 10))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline = %d, %v; want 0, a deadline error", n, err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v is not a net.Error with Timeout()", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("%v: want a *net.OpError with Op read", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("Read returned after %v, before its deadline", d)
	}
	// A deadline in the past fails at once; one cleared lets data through.
	w.SetReadDeadline(time.Unix(1, 0))
	if _, err := w.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with a past deadline = %v", err)
	}
}

func TestWriteDeadlineWithFullBuffers(t *testing.T) {
	w, _ := pair(t) // the peer never reads
	w.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := w.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write into full buffers = %d, %v; want a deadline error", n, err)
	}
	if n <= 0 || n >= 64<<20 {
		t.Fatalf("Write reported %d bytes written; want part of the 64 MiB", n)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	w, _ := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := w.Read(make([]byte, 10))
		errc <- err
	}()
	w.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read on a closed connection = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still blocked 10 s after Close")
	}
}

func TestPeerCloseAndReset(t *testing.T) {
	w, p := pair(t)
	p.Write([]byte("last"))
	p.Close()
	got, err := io.ReadAll(w)
	if err != nil || string(got) != "last" {
		t.Fatalf("ReadAll after the peer closed = %q, %v; want \"last\", nil", got, err)
	}

	w, p = pair(t)
	p.SetLinger(0) // close with a reset
	p.Close()
	deadline := time.Now().Add(10 * time.Second)
	var werr error
	for werr == nil && time.Now().Before(deadline) {
		_, werr = w.Write([]byte("x"))
		if werr == nil {
			_, werr = w.Read(make([]byte, 1))
		}
	}
	if !errors.Is(werr, syscall.ECONNRESET) && !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, io.EOF) {
		t.Fatalf("after a reset: %v, want ECONNRESET, EPIPE or EOF", werr)
	}
}

// TestConcurrentWritesStayWhole: writes from many goroutines do not
// interleave, as with the standard library's connection.
func TestConcurrentWritesStayWhole(t *testing.T) {
	w, p := pair(t)
	const writers, block, rounds = 8, 256 << 10, 4
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			b := bytes.Repeat([]byte{byte('a' + i)}, block)
			for range rounds {
				if _, err := w.Write(b); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	buf := make([]byte, block)
	for n := range writers * rounds {
		if _, err := io.ReadFull(p, buf); err != nil {
			t.Fatal(err)
		}
		if c := bytes.Count(buf, buf[:1]); c != block {
			t.Fatalf("block %d mixes writers: %d of %d bytes are %q", n, c, block, buf[0])
		}
	}
	wg.Wait()
}

// TestPeerClosed checks the peek a client makes before it sends on a
// connection it has not used for a while: open while the peer is, and
// while bytes wait (which it leaves for the reader); closed after the
// peer closes, with or without bytes still unread before the close.
func TestPeerClosed(t *testing.T) {
	type peeker interface{ PeerClosed() bool }
	c, peer := pair(t)
	pc, ok := c.(peeker)
	if !ok {
		t.Skipf("%T has no PeerClosed on %s", c, runtime.GOOS)
	}
	if pc.PeerClosed() {
		t.Fatal("PeerClosed on an open, quiet connection")
	}
	if _, err := peer.Write([]byte("xy")); err != nil {
		t.Fatal(err)
	}
	// On loopback the write has put the bytes in c's receive queue.
	if pc.PeerClosed() {
		t.Fatal("PeerClosed with bytes waiting")
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "xy" {
		t.Fatalf("read after the peek = %q, %v; want the bytes the peek left", buf, err)
	}
	peer.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !pc.PeerClosed() {
		if time.Now().After(deadline) {
			t.Fatal("PeerClosed never saw the peer's close")
		}
		time.Sleep(time.Millisecond) // poll interval
	}
}
