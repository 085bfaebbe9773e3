// Package testnet holds network helpers for drover's tests. It imports
// nothing of drover's, so that any package's tests can use it.
package testnet

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Listener is a net.Listener that remembers every connection it accepts,
// so that a test can cut them all, hijacked ones included
// (http.Server.Close does not close hijacked connections, and net/rpc
// hijacks), and go on listening. It is safe for concurrent use.
type Listener struct {
	net.Listener

	mu    sync.Mutex // guards conns
	conns []net.Conn
}

// Accept accepts a connection and remembers it.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// Accepted is the number of connections accepted since the last Cut.
func (l *Listener) Accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Cut closes every connection accepted since the last Cut. The listener
// goes on accepting.
func (l *Listener) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// TB is the part of testing.TB that Do, Listen and DeadAddr use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// CleanupTB is TB with Cleanup, for what lives until the test ends.
type CleanupTB interface {
	TB
	Cleanup(func())
}

// Do sends req with http.DefaultClient and returns the status code and
// the body of the answer; it fails the test when there is no answer.
func Do(tb TB, req *http.Request) (int, []byte) {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading the answer: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, b
}

// Listen listens on a port of 127.0.0.1 that the kernel picks, failing
// the test if it cannot. The caller closes the listener.
func Listen(tb TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen on 127.0.0.1: %v", err)
		return nil
	}
	return ln
}

// Serve serves h over HTTP on a port of 127.0.0.1 that the kernel picks
// until the test ends (the server closed, its goroutine waited for), and
// returns the address.
func Serve(tb interface {
	TB
	Cleanup(func())
}, h http.Handler) string {
	tb.Helper()
	ln := Listen(tb)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// DeadAddr returns an address of 127.0.0.1 where nothing listens: a port
// the kernel gave out and that was closed again.
func DeadAddr(tb TB) string {
	tb.Helper()
	return DeadAddrs(tb, 1)[0]
}

// DeadAddrs returns n distinct addresses as DeadAddr does. Each port is
// held until all are given out: a port closed at once may come back from
// the kernel for the next one, and a raft group refuses two members at
// one address.
func DeadAddrs(tb TB, n int) []string {
	tb.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln := Listen(tb)
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs
}
