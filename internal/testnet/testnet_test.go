package testnet

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestListenAndDeadAddr: Listen's listener takes a connection on
// 127.0.0.1; a dial to DeadAddr's address is refused.
func TestListenAndDeadAddr(t *testing.T) {
	ln := Listen(t)
	defer ln.Close()
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); host != "127.0.0.1" {
		t.Fatalf("Listen on %s, want 127.0.0.1", ln.Addr())
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial the listener: %v", err)
	}
	c.Close()
	addr := DeadAddr(t)
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Fatalf("DeadAddr %s, want one of 127.0.0.1", addr)
	}
	if c, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Errorf("dial DeadAddr %s: %v, want connection refused", addr, err)
	}
}

// TestRefusedAddr: a connection to RefusedAddr's address is refused, and
// no listener can take its port while the test runs.
func TestRefusedAddr(t *testing.T) {
	addr := RefusedAddr(t)
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Fatalf("a connection to %s was accepted", addr)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("a listener took %s", addr)
	}
}
