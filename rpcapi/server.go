package rpcapi

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/drover/drover/internal/gopool"
)

// GoRPCPath is where net/rpc (gob) is served, over an HTTP CONNECT.
const GoRPCPath = "/_goRPC_"

// connected is net/rpc's answer to the CONNECT.
const connected = "200 Connected to Go RPC"

// NewGoRPCHandler returns an http.Handler serving the given APIs over
// net/rpc's wire protocol at GoRPCPath. Either may be nil.
//
// The protocol is net/rpc's own (after the CONNECT, a gob stream of
// rpc.Request headers and args one way, rpc.Response headers and replies
// the other), so net/rpc clients call it unchanged. The server is ours: a
// method table instead of reflection, and calls that never wait (a
// heartbeat, an Assign, a status read) run on the connection's reading
// goroutine instead of a goroutine of their own, which spares a goroutine
// and a thread wake-up per call. Calls that can wait (a commit, a
// long poll) get their own goroutine, as in net/rpc, so they hold up no
// other call on the connection. A call's context ends when its connection
// closes, and carries the connection's remote address (PeerAddr).
//
// The connection's messages and calls in flight are bounded by the
// defaults of GoRPCOptions; NewGoRPCHandlerOptions sets them.
func NewGoRPCHandler(m MasterAPI, w WorkerAPI) (http.Handler, error) {
	return NewGoRPCHandlerOptions(m, w, GoRPCOptions{})
}

// NewGoRPCHandlerOptions is NewGoRPCHandler with the bounds of opts.
func NewGoRPCHandlerOptions(m MasterAPI, w WorkerAPI, opts GoRPCOptions) (http.Handler, error) {
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = DefaultMaxBody
	}
	if opts.MaxCallsInFlight <= 0 {
		opts.MaxCallsInFlight = DefaultMaxCallsInFlight
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultGoRPCIdleTimeout
	}
	if opts.Stats == nil {
		opts.Stats = new(GoRPCStats)
	}
	s := &goServer{methods: make(map[string]goMethod), opts: opts}
	if m != nil {
		for name, gm := range masterGoMethods(m) {
			s.methods[name] = gm
		}
	}
	if w != nil {
		for name, gm := range workerGoMethods(w) {
			s.methods[name] = gm
		}
	}
	return s, nil
}

// goMethod is one method of the table. read decodes the call's args from
// the stream and returns the call itself.
type goMethod struct {
	mode callMode
	read func(dec *gob.Decoder) (call func(ctx context.Context) (reply any, err error), err error)
}

// goBind makes a goMethod of an API method.
func goBind[A, R any](fn func(context.Context, *A, *R) error, mode callMode) goMethod {
	return goMethod{mode: mode, read: func(dec *gob.Decoder) (func(context.Context) (any, error), error) {
		a := new(A)
		if err := dec.Decode(a); err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) {
			r := new(R)
			return r, encode(fn(ctx, a, r))
		}, nil
	}}
}

// callMode is how the gob server runs a method's calls.
type callMode int

const (
	// waits: on a goroutine of its own (of the connection's pool), so
	// that the connection reads on while it waits on I/O or other calls.
	waits callMode = iota
	// inline: in the connection's reading goroutine; for the methods that
	// never wait on I/O or on other calls.
	inline
	// defers: inline, but a call that has to wait hands the wait to a
	// goroutine of the pool with Defer, which answers when it ends.
	defers
)

// deferral is where a call run in the defers mode leaves its wait.
type deferral struct {
	fn   func() error
	wrap func(error) error
}

type deferKey struct{}

// Defer hands fn, the rest of a call, to another goroutine, which sends
// the call's reply when fn returns, with fn's error: the method returns
// at once (nil), and must not touch its reply after, except from fn. It
// reports false, and does nothing, where the call cannot be deferred
// (XML-RPC, or a method the gob server runs on its own goroutine): then
// the method waits itself. The gob server runs task_complete so, and a
// call that does not wait costs no hand-off between goroutines.
func Defer(ctx context.Context, fn func() error) bool {
	d, ok := ctx.Value(deferKey{}).(*deferral)
	if ok {
		d.fn = fn
	}
	return ok
}

// OnDeferred makes wrap see, and may change, the error of the call's
// deferred rest (Defer) when it ends; for the layers around a method,
// such as counting its errors.
func OnDeferred(ctx context.Context, wrap func(error) error) {
	if d, ok := ctx.Value(deferKey{}).(*deferral); ok {
		d.wrap = wrap
	}
}

// run runs the deferred rest of a call and returns its error, encoded.
func (d *deferral) run() error {
	err := d.fn()
	if d.wrap != nil {
		err = d.wrap(err)
	}
	return encode(err)
}

func masterGoMethods(m MasterAPI) map[string]goMethod {
	return map[string]goMethod{
		MasterRegister:    goBind(m.Register, waits), // an adoption waits for its commit
		MasterHeartbeat:   goBind(m.Heartbeat, inline),
		MasterComplete:    goBind(m.Complete, defers), // waits for its commit unless it hands out tasks
		MasterLogout:      goBind(m.Logout, inline),
		MasterStatus:      goBind(m.Status, inline),
		MasterSubmit:      goBind(m.Submit, waits),
		MasterGetJob:      goBind(m.GetJob, inline),
		MasterListJobs:    goBind(m.ListJobs, inline),
		MasterListWorkers: goBind(m.ListWorkers, inline),
		MasterCancel:      goBind(m.Cancel, waits),
		MasterWait:        goBind(m.Wait, waits),
		MasterFetch:       goBind(m.Fetch, waits),
		MasterSchedules:   goBind(m.ListSchedules, inline),
		MasterPause:       goBind(m.PauseSchedule, waits), // writes the store
		MasterResume:      goBind(m.ResumeSchedule, waits),
		MasterPurge:       goBind(m.PurgeJobs, waits), // deletes from the store
		MasterGetGroup:    goBind(m.GetGroup, waits),  // may read the store
		MasterListGroups:  goBind(m.ListGroups, waits),
		MasterListQueues:  goBind(m.ListQueues, inline), // O(lanes) under the lock, as a status
	}
}

func workerGoMethods(w WorkerAPI) map[string]goMethod {
	return map[string]goMethod{
		WorkerAssign: goBind(w.Assign, inline), // WorkerAPI: never blocks on a job
		WorkerCancel: goBind(w.Cancel, inline),
		WorkerPing:   goBind(w.Ping, inline),
		// It reads a file: not on the connection's reading goroutine.
		WorkerReadLog: goBind(w.ReadLog, waits),
	}
}

// goServer serves net/rpc's wire protocol from a method table.
type goServer struct {
	methods map[string]goMethod
	opts    GoRPCOptions
}

// ServeHTTP answers the CONNECT and serves the connection, as net/rpc's
// Server.ServeHTTP does.
func (s *goServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != "CONNECT" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusMethodNotAllowed)
		io.WriteString(w, "405 must CONNECT\n")
		return
	}
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.0 "+connected+"\n\n"); err != nil {
		conn.Close()
		return
	}
	s.serveConn(req.Context(), conn)
}

// goConn is one served connection.
type goConn struct {
	conn    net.Conn
	mu      sync.Mutex // guards the writing side
	enc     *gob.Encoder
	buf     *bufio.Writer
	broken  bool
	pending *gopool.Pool  // runs the calls that are not inline
	slots   chan struct{} // a token for each call running on a goroutine of its own
	idleMu  sync.Mutex    // guards busy and the read deadline
	busy    int           // calls in flight
	idle    time.Duration
}

// begin counts a call in flight: the connection is not idle.
func (c *goConn) begin() {
	c.idleMu.Lock()
	c.busy++
	if c.busy == 1 {
		c.conn.SetReadDeadline(time.Time{})
	}
	c.idleMu.Unlock()
}

// end ends a call; with none left in flight the idle timeout starts.
func (c *goConn) end() {
	c.idleMu.Lock()
	c.busy--
	if c.busy == 0 {
		c.conn.SetReadDeadline(time.Now().Add(c.idle))
	}
	c.idleMu.Unlock()
}

// noReply is the body sent with an error, as net/rpc's invalidRequest.
type noReply struct{}

// serveConn serves conn; parent is the CONNECT's context, whose values
// (the token's identity: Authorize) every call's context keeps.
func (s *goServer) serveConn(parent context.Context, conn net.Conn) {
	buf := bufio.NewWriter(conn)
	c := &goConn{conn: conn, enc: gob.NewEncoder(buf), buf: buf, slots: make(chan struct{}, s.opts.MaxCallsInFlight),
		pending: gopool.New(), idle: s.opts.IdleTimeout}
	conn.SetReadDeadline(time.Now().Add(c.idle))
	cr := &capReader{r: conn, max: uint64(s.opts.MaxMessage)}
	dec := gob.NewDecoder(bufio.NewReader(cr))
	ctx, cancel := context.WithCancel(withPeer(context.WithoutCancel(parent), conn.RemoteAddr().String()))
	idle := false
	defer func() {
		cancel()
		c.pending.Wait()
		conn.Close()
		if idle { // counted once closed: a client that sees the count sees the close
			s.opts.Stats.Idle.Add(1)
		}
	}()
	for {
		var req rpc.Request
		if err := dec.Decode(&req); err != nil {
			idle = errors.Is(err, os.ErrDeadlineExceeded)
			s.oversize(conn, cr)
			return // idle, EOF, a broken connection, a message too large, or a stream we cannot follow
		}
		m, ok := s.methods[req.ServiceMethod]
		if !ok {
			if dec.DecodeValue(reflect.Value{}) != nil { // discards the args
				s.oversize(conn, cr)
				return
			}
			c.send(&req, noReply{}, fmt.Errorf("rpc: can't find method %s", req.ServiceMethod))
			continue
		}
		call, err := m.read(dec)
		if err != nil {
			if s.oversize(conn, cr) {
				// The header came whole: tell the caller why, then
				// close. The deadline spares us a client that reads
				// nothing.
				conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				c.send(&req, noReply{}, encode(fmt.Errorf("%w: args of %s: %v", ErrBadRequest, req.ServiceMethod, cr.err)))
				return
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				return
			}
			// As net/rpc: the body did not decode into the args; answer
			// and read on.
			c.send(&req, noReply{}, encode(fmt.Errorf("%w: args of %s: %v", ErrBadRequest, req.ServiceMethod, err)))
			continue
		}
		if err := Authorize(ctx, req.ServiceMethod); err != nil {
			c.send(&req, noReply{}, encode(err))
			continue
		}
		s.run(ctx, c, &req, m.mode, call)
	}
}

// run makes one call read from c, as its method's mode says, and sends
// its reply.
func (s *goServer) run(ctx context.Context, c *goConn, req *rpc.Request, mode callMode, call func(context.Context) (any, error)) {
	c.begin()
	switch mode {
	case inline:
		reply, err := call(ctx)
		c.send(req, reply, err)
		c.end()
	case defers:
		d := new(deferral)
		reply, err := call(context.WithValue(ctx, deferKey{}, d))
		if d.fn == nil || err != nil {
			c.send(req, reply, err)
			c.end()
			return
		}
		s.hold(c)
		c.pending.Go(func() {
			c.send(req, reply, d.run())
			c.end()
			<-c.slots
		})
	default:
		s.hold(c)
		c.pending.Go(func() {
			reply, err := call(ctx)
			c.send(req, reply, err)
			c.end()
			<-c.slots
		})
	}
}

// hold takes one of c's slots for a call that runs on its own goroutine:
// with MaxCallsInFlight calls running, the connection reads no more until
// one ends.
func (s *goServer) hold(c *goConn) {
	select {
	case c.slots <- struct{}{}:
	default:
		s.opts.Stats.HeldBack.Add(1)
		c.slots <- struct{}{}
	}
}

// oversize reports whether the connection's reading failed on a message
// over MaxMessage, and if so counts and logs it.
func (s *goServer) oversize(conn net.Conn, cr *capReader) bool {
	if cr.err == nil {
		return false
	}
	s.opts.Stats.Oversize.Add(1)
	if s.opts.Log != nil {
		s.opts.Log(conn.RemoteAddr().String(), cr.err)
	}
	return true
}

// send writes one response. A write that fails breaks the connection.
func (c *goConn) send(req *rpc.Request, reply any, err error) {
	resp := rpc.Response{ServiceMethod: req.ServiceMethod, Seq: req.Seq}
	if err != nil {
		resp.Error = err.Error()
		reply = noReply{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return
	}
	werr := c.enc.Encode(&resp)
	if werr == nil {
		werr = c.enc.Encode(reply)
	}
	if werr == nil {
		werr = c.buf.Flush()
	}
	if werr != nil {
		c.broken = true
		c.conn.Close() // the reading loop ends and the deferred cleanup runs
	}
}
