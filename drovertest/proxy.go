package drovertest

import (
	"errors"
	"net"
	"sync"
	"time"
)

// proxyDialTimeout bounds the proxy's connection to its target.
const proxyDialTimeout = 2 * time.Second

// targetWait bounds how long a new connection waits for a target that is
// not set yet (a worker being restarted).
const targetWait = 5 * time.Second

// Proxy is a TCP proxy on loopback that stands for the network between two
// nodes: it forwards each connection it accepts to its target, and a test
// can cut the traffic (Partition), stall it (Pause) and restore it (Heal,
// Resume). The Cluster puts two in front of every worker, one for each
// direction. All methods are safe for concurrent use.
type Proxy struct {
	ln net.Listener

	mu        sync.Mutex // guards the fields below
	target    string
	targetSet chan struct{} // closed and replaced when target changes
	state     linkState
	gate      chan struct{} // closed and replaced on every state change
	conns     map[*proxyConn]struct{}
	held      map[net.Conn]struct{} // accepted while partitioned: never answered
	blocked   map[string]bool       // source IPs cut off (Block)
	closed    bool

	wg sync.WaitGroup
}

type linkState int

const (
	linkUp linkState = iota
	linkPaused
	linkPartitioned
)

func (s linkState) String() string {
	switch s {
	case linkPaused:
		return "paused"
	case linkPartitioned:
		return "partitioned"
	}
	return "up"
}

// proxyConn is one forwarded connection: the accepted side and the dialled
// side.
type proxyConn struct {
	client, server net.Conn
	once           sync.Once
	cut            bool // guarded by Proxy.mu
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		c.client.Close()
		if c.server != nil {
			c.server.Close()
		}
	})
}

// NewProxy listens on a free port of 127.0.0.1 and forwards every
// connection to target (host:port). An empty target is allowed: connections
// then wait (up to 5s) until SetTarget names one. Close stops it.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		ln:        ln,
		target:    target,
		targetSet: make(chan struct{}),
		gate:      make(chan struct{}),
		conns:     make(map[*proxyConn]struct{}),
		held:      make(map[net.Conn]struct{}),
	}
	p.wg.Go(p.acceptLoop)
	return p, nil
}

// Addr returns the proxy's own address, the one to dial instead of the
// target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target returns the address the proxy forwards to.
func (p *Proxy) Target() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// SetTarget changes where new connections go (a node restarted on another
// port). Connections already forwarded keep their target.
func (p *Proxy) SetTarget(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = addr
	close(p.targetSet)
	p.targetSet = make(chan struct{})
}

// Partition cuts the link: every forwarded connection is closed, and new
// connections are accepted but never answered (a black hole: the dialler
// waits for its own timeout, as across a real partition) until Heal.
func (p *Proxy) Partition() { p.change(linkPartitioned, p.cutConns) }

// cutConns closes every forwarded connection. The caller holds mu.
func (p *Proxy) cutConns() {
	for c := range p.conns {
		c.cut = true
		c.close()
	}
	clear(p.conns)
}

// closeHeld closes the connections held in the black hole. The caller
// holds mu.
func (p *Proxy) closeHeld() {
	for c := range p.held {
		c.Close()
	}
	clear(p.held)
}

// Block cuts the link for connections from the source IP ip alone, as a
// partition does for all: the forwarded ones are closed, new ones are
// black-holed, until Unblock. Nodes on distinct loopback addresses
// (127.0.0.2, 127.0.0.3, ...) so share a proxy and one of them is cut off.
func (p *Proxy) Block(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blocked == nil {
		p.blocked = make(map[string]bool)
	}
	p.blocked[ip] = true
	for c := range p.conns {
		if sourceIP(c.client) == ip {
			c.cut = true
			c.close()
			delete(p.conns, c)
		}
	}
}

// Unblock ends Block for ip: its black-holed connections are closed
// (their diallers see a reset and dial again) and new ones are forwarded.
func (p *Proxy) Unblock(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.blocked, ip)
	for c := range p.held {
		if sourceIP(c) == ip && p.state != linkPartitioned {
			c.Close()
			delete(p.held, c)
		}
	}
}

// sourceIP is the IP address a connection came from.
func sourceIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return ""
}

// Heal ends a partition or a pause: connections held in the black hole are
// closed (their diallers see a reset and dial again) and traffic flows.
func (p *Proxy) Heal() { p.change(linkUp, p.closeHeld) }

// Pause stalls the link without closing anything, as a stopped process or
// a congested network would: bytes already read wait in the proxy, new
// connections are accepted and wait too, until Resume. Paused traffic is
// delivered late, in order, on the same connections.
func (p *Proxy) Pause() { p.change(linkPaused, nil) }

// Resume ends a pause (or a partition, as Heal does).
func (p *Proxy) Resume() { p.Heal() }

// State returns "up", "paused" or "partitioned".
func (p *Proxy) State() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.String()
}

// change moves the link to state s and then, if not nil, runs then (both
// under mu), unless the proxy is closed; a partitioned link is not paused.
func (p *Proxy) change(s linkState, then func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || (s == linkPaused && p.state == linkPartitioned) {
		return
	}
	p.setState(s)
	if then != nil {
		then()
	}
}

// setState changes the state and wakes everyone waiting on the gate. The
// caller holds mu.
func (p *Proxy) setState(s linkState) {
	p.state = s
	close(p.gate)
	p.gate = make(chan struct{})
}

// Close stops the proxy: the listener and every connection. It waits for
// the proxy's goroutines and is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.setState(linkPartitioned)
	err := p.ln.Close()
	p.cutConns()
	p.closeHeld()
	close(p.targetSet)
	p.targetSet = make(chan struct{})
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		p.mu.Lock()
		switch {
		case p.closed:
			c.Close()
		case p.state == linkPartitioned || p.blocked[sourceIP(c)]:
			p.held[c] = struct{}{}
			p.wg.Go(func() { p.drain(c) })
		default:
			pc := &proxyConn{client: c}
			p.conns[pc] = struct{}{}
			p.wg.Go(func() { p.forward(pc) })
		}
		p.mu.Unlock()
	}
}

// drain swallows what a black-holed connection sends until it is closed
// (by its dialler, or by Heal or Close).
func (p *Proxy) drain(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	c.Close()
	p.mu.Lock()
	delete(p.held, c)
	p.mu.Unlock()
}

// forward dials the target for pc and pumps bytes both ways until either
// side ends or the link is cut.
func (p *Proxy) forward(pc *proxyConn) {
	defer func() {
		pc.close()
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	}()
	if !p.wait(pc) {
		return
	}
	target, ok := p.waitTarget(pc)
	if !ok {
		return
	}
	s, err := net.DialTimeout("tcp", target, proxyDialTimeout)
	if err != nil {
		return // the client sees its connection closed, as if refused
	}
	p.mu.Lock()
	if pc.cut {
		p.mu.Unlock()
		s.Close()
		return
	}
	pc.server = s
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { p.pump(pc, pc.client, s) })
	wg.Go(func() { p.pump(pc, s, pc.client) })
	wg.Wait()
}

// waitTarget returns the target, waiting a while for one to be set.
func (p *Proxy) waitTarget(pc *proxyConn) (string, bool) {
	deadline := time.NewTimer(targetWait)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		t, ch, cut := p.target, p.targetSet, pc.cut || p.closed
		p.mu.Unlock()
		switch {
		case cut:
			return "", false
		case t != "":
			return t, true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return "", false
		}
	}
}

// pump copies src to dst, holding each chunk while the link is paused.
func (p *Proxy) pump(pc *proxyConn, src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(pc) {
				break
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	pc.close()
}

// wait blocks while the link is paused. It returns false when pc was cut.
func (p *Proxy) wait(pc *proxyConn) bool {
	for {
		p.mu.Lock()
		cut, state, gate := pc.cut, p.state, p.gate
		p.mu.Unlock()
		switch {
		case cut:
			return false
		case state != linkPaused:
			return true
		}
		<-gate
	}
}
