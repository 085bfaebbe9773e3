package rpcapi

import (
	"net"
	"sync"
)

// TrackingListener remembers accepted connections so CloseAll can cut the
// hijacked net/rpc ones, which http.Server does not track.
type TrackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func NewTrackingListener(l net.Listener) *TrackingListener {
	return &TrackingListener{Listener: l, conns: make(map[net.Conn]struct{})}
}

func (l *TrackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
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
