package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/rpcapi"
)

// TestUnreadEventStreamIsDropped: a client of /api/v1/events that does
// not read an event within the write timeout is dropped (its browser
// reconnects), so a stream nobody reads does not hold the event it was
// sent, and the master's memory, for as long as its connection is open.
func TestUnreadEventStreamIsDropped(t *testing.T) {
	old := eventWriteTimeout
	eventWriteTimeout = 200 * time.Millisecond
	t.Cleanup(func() { eventWriteTimeout = old })
	m, _ := clockMaster(t, Config{})
	// Workers with many types make the first event some MB: more than
	// the kernel buffers of a client that does not read.
	types := make([]string, 1000)
	for i := range types {
		types[i] = fmt.Sprintf("type-%04d-%s", i, strings.Repeat("x", 40))
	}
	for i := range 300 {
		var reg rpcapi.RegisterReply
		if err := m.wire.Register(context.Background(), &rpcapi.RegisterArgs{Name: fmt.Sprintf("w%d", i), Types: types, Slots: 1,
			Mode: rpcapi.ModePull}, &reg); err != nil {
			t.Fatal(err)
		}
	}
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/events HTTP/1.1\r\nHost: %s\r\n\r\n", m.Addr())
	// Read nothing for a while: the first event's write times out.
	time.Sleep(10 * eventWriteTimeout)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the stream is still open after 20 s of reading (%d bytes read): an unread stream was not dropped", n)
	}
	t.Logf("the stream ended after %d bytes (%v)", n, err)
}
