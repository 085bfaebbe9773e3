package drovertest

import (
	"io"
	"net"
	"testing"
	"time"
)

// Block cuts one source address off a proxy and leaves the others.
func TestProxyBlocksOneSource(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := NewProxy(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dial := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
		c, err := d.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	echoes := func(c net.Conn) bool {
		c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Write([]byte("x")); err != nil {
			return false
		}
		b := make([]byte, 1)
		_, err := io.ReadFull(c, b)
		return err == nil
	}
	a, b := dial("127.0.0.2"), dial("127.0.0.3")
	defer a.Close()
	defer b.Close()
	if !echoes(a) || !echoes(b) {
		t.Fatal("the proxy does not forward")
	}
	p.Block("127.0.0.2")
	if echoes(a) {
		t.Fatal("a connection from the blocked address still flows")
	}
	if !echoes(b) {
		t.Fatal("a connection from another address was cut")
	}
	a2 := dial("127.0.0.2")
	defer a2.Close()
	if echoes(a2) {
		t.Fatal("a new connection from the blocked address was forwarded")
	}
	p.Unblock("127.0.0.2")
	a3 := dial("127.0.0.2")
	defer a3.Close()
	if !echoes(a3) {
		t.Fatal("after Unblock a new connection is not forwarded")
	}
}
