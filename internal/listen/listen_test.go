package listen

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
)

// dialFrom connects to addr from the loopback address local (any port).
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", local, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPreAuthPerAddress: a flood of anonymous connections from one source
// address closes only its own oldest ones (PerAddress), never those of
// another address on their way to authenticating, which then
// authenticate and are served.
func TestPreAuthPerAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := NewPreAuthListener(ln, 0, PreAuth{Max: 8, PerAddress: 3, Timeout: time.Minute})
	srv := &http.Server{ConnContext: ConnContext, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Authenticate(w, r) {
			io.WriteString(w, "served")
		}
	})}
	go srv.Serve(tl)
	t.Cleanup(func() { srv.Close(); tl.CloseAll() })
	addr := ln.Addr().String()

	victims := []net.Conn{dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.2", addr)}
	poll.Until(t, 5*time.Second, "the two connections from 127.0.0.2 accepted", func() bool { return tl.Anonymous() == 2 })
	const flood = 100
	for range flood {
		dialFrom(t, "127.0.0.3", addr)
	}
	poll.Until(t, 10*time.Second, "the flood from 127.0.0.3 evicting its own", func() bool {
		return tl.Stats.EvictedPerAddress.Load() == flood-3
	})
	if e, p := tl.Stats.Evicted.Load(), tl.Stats.EvictedPerAddress.Load(); e != p {
		t.Errorf("evicted %d, of them for their address %d: a connection of another address was closed", e, p)
	}
	if n := tl.Anonymous(); n != 5 {
		t.Errorf("anonymous connections %d, want 5 (2 from 127.0.0.2, the newest 3 from 127.0.0.3)", n)
	}
	for i, c := range victims {
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(bufio.NewReader(c))
		if err != nil || !strings.HasSuffix(string(b), "served") {
			t.Fatalf("connection %d from 127.0.0.2, after the flood: %q, %v; want it served", i+1, b, err)
		}
	}
	if n := tl.Anonymous(); n != 3 {
		t.Errorf("anonymous connections %d after the two authenticated, want 3", n)
	}
}
