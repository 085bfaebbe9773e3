package drovertest

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer echoes every line back until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { io.Copy(c, c); c.Close() })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// newProxy starts a proxy to target, closed at the test's cleanup.
func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// dial connects to addr; the connection is closed at the test's cleanup.
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// roundTrip writes a line and reads the echo, within d.
func roundTrip(c net.Conn, r *bufio.Reader, line string, d time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	s, err := r.ReadString('\n')
	if len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s, err
}

// echoLink starts a proxy to an echo server and dials it, and fails the
// test unless a line makes the round trip.
func echoLink(t *testing.T) (*Proxy, net.Conn, *bufio.Reader) {
	t.Helper()
	p := newProxy(t, echoServer(t))
	c, r := dial(t, p.Addr())
	if got, err := roundTrip(c, r, "one", 2*time.Second); err != nil || got != "one" {
		t.Fatalf("before any fault: %q, %v", got, err)
	}
	return p, c, r
}

func TestProxyPauseResume(t *testing.T) {
	p, c, r := echoLink(t)

	p.Pause()
	if _, err := roundTrip(c, r, "two", 200*time.Millisecond); err == nil {
		t.Fatal("a paused link answered")
	}
	// A new connection is accepted but stalls too.
	c2, r2 := dial(t, p.Addr())
	if _, err := roundTrip(c2, r2, "new", 200*time.Millisecond); err == nil {
		t.Fatal("a new connection through a paused link answered")
	}

	// Resume delivers what was held, in order, on the same connections.
	p.Resume()
	for _, want := range []string{"two", "three"} {
		if want == "three" {
			io.WriteString(c, "three\n")
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		got, err := r.ReadString('\n')
		if err != nil || got != want+"\n" {
			t.Fatalf("after resume: %q, %v; want %q", got, err, want)
		}
	}
	c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	if got, err := r2.ReadString('\n'); err != nil || got != "new\n" {
		t.Fatalf("new connection after resume: %q, %v", got, err)
	}
}

func TestProxyPartitionHeal(t *testing.T) {
	p, c, r := echoLink(t)

	p.Partition()
	if p.State() != "partitioned" {
		t.Fatalf("state %s", p.State())
	}
	// The open connection is cut.
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := r.ReadString('\n'); err == nil || isTimeout(err) {
		t.Fatalf("open connection not cut by the partition: %v", err)
	}
	// A new one is a black hole: accepted, never answered.
	c2, r2 := dial(t, p.Addr())
	if _, err := roundTrip(c2, r2, "lost", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("black-holed connection: %v; want a timeout", err)
	}

	// Heal closes the black-holed connection and forwards new ones.
	p.Heal()
	c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := r2.ReadString('\n'); err == nil || isTimeout(err) {
		t.Fatalf("black-holed connection not closed by Heal: %v", err)
	}
	c3, r3 := dial(t, p.Addr())
	if got, err := roundTrip(c3, r3, "healed", 2*time.Second); err != nil || got != "healed" {
		t.Fatalf("after heal: %q, %v", got, err)
	}
}

func TestProxyTargetLater(t *testing.T) {
	p := newProxy(t, "")
	c, r := dial(t, p.Addr())
	io.WriteString(c, "early\n")
	p.SetTarget(echoServer(t))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || got != "early\n" {
		t.Fatalf("%q, %v", got, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
