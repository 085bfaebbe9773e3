package rpcapi

import (
	"io"
	"net"
	"sync"
	"time"
)

// TrackingListener remembers accepted connections so CloseAll can cut the
// hijacked net/rpc ones, which http.Server does not track.
type TrackingListener struct {
	net.Listener
	max   int        // open connections allowed; 0: no limit
	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

// NewTrackingListener wraps l, with no limit on open connections.
func NewTrackingListener(l net.Listener) *TrackingListener { return NewLimitedListener(l, 0) }

// NewLimitedListener wraps l. With max > 0, a connection beyond max open
// ones is answered "HTTP/1.0 503" and closed at once.
func NewLimitedListener(l net.Listener, max int) *TrackingListener {
	return &TrackingListener{Listener: l, max: max, conns: make(map[net.Conn]struct{})}
}

// Accept implements net.Listener.
func (l *TrackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, l: l}
		l.mu.Lock()
		full := l.max > 0 && len(l.conns) >= l.max
		if !full {
			l.conns[tc] = struct{}{}
		}
		l.mu.Unlock()
		if full {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\ndrover: too many open connections\n")
			c.Close()
			continue
		}
		return tc, nil
	}
}

// Open returns the number of open accepted connections.
func (l *TrackingListener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// CloseAll closes the listener and every connection it accepted.
func (l *TrackingListener) CloseAll() {
	l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.(*trackedConn).Conn.Close()
	}
	clear(l.conns)
}

type trackedConn struct {
	net.Conn
	l    *TrackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
