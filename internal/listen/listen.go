// Package listen is the listener both drover nodes serve on: it tracks
// the connections it accepted (so a stop can cut the hijacked gob ones),
// answers 503 beyond max_connections, and keeps connections that have not
// yet authenticated apart, with a budget of their own, a share per source
// address and a deadline (NewPreAuthListener; RequireToken and Auth in
// rpcapi mark a connection authenticated through Authenticate).
package listen

import (
	"container/list"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover/drover/internal/rawsock"
)

// Defaults of PreAuth.
const (
	// DefaultAnonymousConnections is how many connections may be open at
	// once before their first authenticated request.
	DefaultAnonymousConnections = 64
	// DefaultPreAuthTimeout is how long a connection may stay open
	// without an authenticated request.
	DefaultPreAuthTimeout = 10 * time.Second
	// DefaultAnonymousPerAddress is how many of the anonymous connections
	// may come from one source address.
	DefaultAnonymousPerAddress = 32
)

// PreAuth bounds the connections that have not yet authenticated (made a
// request that passed the token check; see RequireToken).
type PreAuth struct {
	// Max is how many may be open at once; 0: DefaultAnonymousConnections.
	// A new connection beyond them closes the oldest, so that a flood of
	// connections that never authenticate cannot keep out one that does.
	Max int
	// Timeout closes one that has not authenticated this long after it
	// was accepted; 0: DefaultPreAuthTimeout.
	Timeout time.Duration
	// PerAddress is how many may come from one source IP address; a new
	// one beyond them closes that address's oldest, so that a flood from
	// one address churns only its own connections, not those of others
	// still on their way to authenticating. 0: DefaultAnonymousPerAddress
	// (never more than Max).
	PerAddress int
}

// Stats counts what a TrackingListener's limits did.
type Stats struct {
	// Refused counts connections answered 503 because max_connections
	// authenticated ones were open.
	Refused atomic.Uint64
	// Evicted counts anonymous connections closed to make room for a new
	// one: when PreAuth.Max were open (the oldest goes), or PerAddress
	// from the new one's address (that address's oldest goes).
	Evicted atomic.Uint64
	// PreAuthClosed counts connections closed for not authenticating
	// within PreAuth.Timeout.
	PreAuthClosed atomic.Uint64
	// EvictedPerAddress counts those of Evicted closed for a new one
	// from the same address, when PreAuth.PerAddress of its were open.
	EvictedPerAddress atomic.Uint64
}

// TrackingListener remembers accepted connections so CloseAll can cut the
// hijacked net/rpc ones, which http.Server does not track.
type TrackingListener struct {
	net.Listener
	max     int // open authenticated connections allowed; 0: no limit
	preAuth *PreAuth
	Stats   Stats
	mu      sync.Mutex // guards conns, anon, anonBy and the conns' authed and elem
	conns   map[net.Conn]struct{}
	anon    list.List      // the conns that have not authenticated, oldest first
	anonBy  map[string]int // how many of anon come from each source address
}

// NewTrackingListener wraps l, with no limit on open connections.
func NewTrackingListener(l net.Listener) *TrackingListener { return NewLimitedListener(l, 0) }

// NewLimitedListener wraps l. With max > 0, a connection beyond max open
// ones is answered "HTTP/1.0 503" and closed at once.
func NewLimitedListener(l net.Listener, max int) *TrackingListener {
	return &TrackingListener{Listener: l, max: max, conns: make(map[net.Conn]struct{})}
}

// NewPreAuthListener is NewLimitedListener where a connection starts
// anonymous: it counts against p.Max, not max, until its first request
// that passes the token check (Authenticate), and is closed if that has
// not come p.Timeout after it was accepted. Serve it with an http.Server
// whose ConnContext is ConnContext.
func NewPreAuthListener(l net.Listener, max int, p PreAuth) *TrackingListener {
	if p.Max <= 0 {
		p.Max = DefaultAnonymousConnections
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultPreAuthTimeout
	}
	if p.PerAddress <= 0 {
		p.PerAddress = DefaultAnonymousPerAddress
	}
	p.PerAddress = min(p.PerAddress, p.Max)
	tl := NewLimitedListener(l, max)
	tl.preAuth = &p
	tl.anonBy = make(map[string]int)
	return tl
}

const refusal = "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\ndrover: too many open connections\n"

// Accept implements net.Listener.
func (l *TrackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: rawsock.Wrap(c), l: l, authed: l.preAuth == nil, from: sourceOf(c)}
		l.mu.Lock()
		full := l.max > 0 && len(l.conns)-l.anon.Len() >= l.max
		var evict *trackedConn
		var sameAddr bool
		if !full {
			l.conns[tc] = struct{}{}
			if !tc.authed {
				evict, sameAddr = l.makeRoom(tc.from)
				tc.elem = l.anon.PushBack(tc)
				l.anonBy[tc.from]++
				tc.timer = time.AfterFunc(l.preAuth.Timeout, tc.expire)
			}
		}
		l.mu.Unlock()
		if evict != nil {
			l.Stats.Evicted.Add(1)
			if sameAddr {
				l.Stats.EvictedPerAddress.Add(1)
			}
			evict.Conn.Close()
		}
		if full {
			l.Stats.Refused.Add(1)
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, refusal)
			c.Close()
			continue
		}
		return tc, nil
	}
}

// makeRoom picks the anonymous connection a new one from address from
// replaces, if any: the oldest from the same address when PerAddress of
// its are open (sameAddr), else the oldest of all when Max are. It drops
// it from the books and returns it. Called with l.mu held.
func (l *TrackingListener) makeRoom(from string) (c *trackedConn, sameAddr bool) {
	if l.anonBy[from] >= l.preAuth.PerAddress {
		for e := l.anon.Front(); e != nil; e = e.Next() {
			if c := e.Value.(*trackedConn); c.from == from {
				c.drop()
				return c, true
			}
		}
	}
	if l.anon.Len() >= l.preAuth.Max {
		c := l.anon.Front().Value.(*trackedConn)
		c.drop()
		return c, false
	}
	return nil, false
}

// sourceOf returns the IP address c comes from (its whole remote address
// if that has no port).
func sourceOf(c net.Conn) string {
	a := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(a); err == nil {
		return host
	}
	return a
}

// Open returns the number of open accepted connections.
func (l *TrackingListener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Anonymous returns how many open connections have not authenticated.
func (l *TrackingListener) Anonymous() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.anon.Len()
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
	for e := l.anon.Front(); e != nil; e = e.Next() {
		e.Value.(*trackedConn).timer.Stop()
	}
	l.anon.Init()
	clear(l.anonBy)
}

type trackedConn struct {
	net.Conn
	l      *TrackingListener
	once   sync.Once
	from   string        // the source IP address
	authed bool          // guarded by l.mu
	timer  *time.Timer   // the pre-auth deadline, while anonymous
	elem   *list.Element // in l.anon, while anonymous
}

// drop removes c from its listener's books; it reports whether c was still
// there. Called with l.mu held.
func (c *trackedConn) drop() bool {
	if _, ok := c.l.conns[c]; !ok {
		return false
	}
	delete(c.l.conns, c)
	if !c.authed {
		c.l.unanon(c)
	}
	return true
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.drop()
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// expire closes c if it has not authenticated.
func (c *trackedConn) expire() {
	c.l.mu.Lock()
	expired := !c.authed && c.drop()
	c.l.mu.Unlock()
	if expired {
		c.l.Stats.PreAuthClosed.Add(1)
		c.Conn.Close()
	}
}

// authenticate moves c to the authenticated connections; it reports false
// if max of those are already open (c stays anonymous).
func (c *trackedConn) authenticate() bool {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.authed {
		return true
	}
	if _, ok := l.conns[c]; !ok {
		return true // closing anyway
	}
	if l.max > 0 && len(l.conns)-l.anon.Len() >= l.max {
		return false
	}
	c.authed = true
	l.unanon(c)
	return true
}

// unanon takes c out of the anonymous connections' books. Called with
// l.mu held.
func (l *TrackingListener) unanon(c *trackedConn) {
	l.anon.Remove(c.elem)
	c.timer.Stop()
	if l.anonBy[c.from]--; l.anonBy[c.from] <= 0 {
		delete(l.anonBy, c.from)
	}
}

type connKey struct{}

// ConnContext, as an http.Server's ConnContext, lets Authenticate find the
// connection a request came on.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// Authenticate marks the connection r came on as authenticated (see
// NewPreAuthListener). It reports false, having answered 503 and asked
// for the connection to close, if the listener's max authenticated
// connections are already open; the caller must then not serve r.
// Connections of other listeners always pass.
func Authenticate(w http.ResponseWriter, r *http.Request) bool {
	c, ok := r.Context().Value(connKey{}).(*trackedConn)
	if !ok || c.authenticate() {
		return true
	}
	c.l.Stats.Refused.Add(1)
	w.Header().Set("Connection", "close")
	http.Error(w, "drover: too many open connections", http.StatusServiceUnavailable)
	return false
}
