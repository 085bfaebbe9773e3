package rpcapi

import (
	"bufio"
	"cmp"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"reflect"
	"sync"
	"time"
)

// SerialClient is a net/rpc (gob) client that makes one call at a time
// on a connection of its own and reads the reply in the calling
// goroutine. Client does too while a call is alone in flight, but it
// registers each call that reads with the call's context; a SerialClient
// that watches its caller's context (Watch) registers nothing, which is
// what a worker's runner wants for the report it sends after every job.
// Calls wait for each other: use Client for calls that long-poll or that
// many goroutines make at once. It connects on first use and again after
// a failed call. It is safe for concurrent use.
type SerialClient struct {
	goTarget

	mu     sync.Mutex // held for a whole call; guards the fields up to wmu
	conn   net.Conn
	w      *bufio.Writer
	enc    *gob.Encoder
	dec    *gob.Decoder
	seq    uint64
	req    rpc.Request  // the call's header, reused
	resp   rpc.Response // the reply's header, reused
	used   time.Time    // when the last call ended
	closed bool
	// watch is the Done channel of the context Watch was given (nil:
	// none); unwatch, closed by Close, ends its watcher.
	watch   <-chan struct{}
	unwatch chan struct{}
	watcher sync.WaitGroup

	wmu  sync.Mutex // guards live and cut, for the watcher
	live net.Conn   // the connection of the call in flight under the watched context
	cut  bool       // the watched context ended
}

// serialIdle is how long a SerialClient's connection may have been idle
// before a call connects again instead: the master closes gob
// connections idle for gob_idle_timeout (5 minutes by default).
const serialIdle = time.Minute

// NewSerialClient returns a serial client for the node at addr
// (host:port, or an http:// or https:// address). It does not connect
// until the first call.
func NewSerialClient(addr string, opts ...Option) *SerialClient {
	return &SerialClient{goTarget: newGoTarget(addr, opts)}
}

// Call implements Caller: server errors come back with their sentinel
// (errors.Is works); a broken connection, or ctx ending, is
// ErrUnavailable, and the next call connects again.
func (c *SerialClient) Call(ctx context.Context, method string, args, reply any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("%w: client closed", ErrUnavailable)
	}
	if c.conn != nil && time.Since(c.used) > serialIdle {
		c.reset()
	}
	if c.conn == nil {
		conn, err := c.dial(ctx)
		if err != nil {
			return err
		}
		c.conn, c.w = conn, bufio.NewWriter(conn)
		c.enc, c.dec = gob.NewEncoder(c.w), gob.NewDecoder(bufio.NewReader(conn))
	}
	err := c.roundTrip(ctx, method, args, reply)
	c.used = time.Now()
	if err == nil {
		return nil
	}
	if se := (rpc.ServerError)(""); errors.As(err, &se) {
		return decode(string(se))
	}
	c.reset()
	if dl, ok := ctx.Deadline(); ctx.Err() != nil || ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
		err = cmp.Or(ctx.Err(), context.DeadlineExceeded) // the connection's deadline is ctx's
	}
	return fmt.Errorf("%w: %s to %s: %v", ErrUnavailable, method, c.addr, err)
}

// roundTrip writes one request and reads its response, bounded by ctx. A
// server error is an rpc.ServerError, after which the connection is still
// good. The caller holds mu.
func (c *SerialClient) roundTrip(ctx context.Context, method string, args, reply any) error {
	conn := c.conn
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	switch done := cancelOf(ctx); {
	case done == nil: // the deadline alone ends ctx
	case done == c.watch:
		// The watcher breaks the connection when ctx ends: set after the
		// deadline above, so that it is not undone.
		c.wmu.Lock()
		cut := c.cut
		if !cut {
			c.live = conn
		}
		c.wmu.Unlock()
		if cut {
			return os.ErrDeadlineExceeded // as if the watcher had broken the connection
		}
		defer func() {
			c.wmu.Lock()
			c.live = nil
			c.wmu.Unlock()
		}()
	default:
		stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	c.seq++
	c.req = rpc.Request{ServiceMethod: method, Seq: c.seq}
	if err := c.enc.Encode(&c.req); err != nil {
		return err
	}
	if err := c.enc.Encode(args); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	resp := &c.resp
	*resp = rpc.Response{} // gob leaves a field the reply does not carry (a zero one) as it was
	if err := c.dec.Decode(resp); err != nil {
		return err
	}
	if resp.Seq != c.seq {
		return fmt.Errorf("reply %d to call %d", resp.Seq, c.seq)
	}
	if resp.Error != "" {
		if err := c.dec.DecodeValue(reflect.Value{}); err != nil { // the body, which carries nothing
			return err
		}
		return rpc.ServerError(resp.Error)
	}
	return c.dec.Decode(reply)
}

// reset closes the connection; the next call connects again. The caller
// holds mu.
func (c *SerialClient) reset() {
	if c.conn != nil {
		c.conn.Close()
	}
	c.conn, c.w, c.enc, c.dec = nil, nil, nil, nil
}

// Close closes the connection; later calls fail.
func (c *SerialClient) Close() error {
	c.mu.Lock()
	if c.unwatch != nil && !c.closed {
		close(c.unwatch)
	}
	c.closed = true
	c.reset()
	c.mu.Unlock()
	c.watcher.Wait()
	return nil
}

// Watch makes the end of ctx break the call in flight of a caller whose
// own context ends only with ctx or at its deadline: ctx itself, or a
// CallContext of ctx. Such a call then costs no registration with its
// context, as a context.AfterFunc would; one goroutine watches ctx until
// it ends or the client is closed. A call under ctx once it has ended
// fails at once, as ErrUnavailable. Other contexts are watched call by
// call. Call Watch at most once, before the first call.
func (c *SerialClient) Watch(ctx context.Context) {
	done := ctx.Done()
	if done == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watch != nil || c.closed {
		return
	}
	c.watch, c.unwatch = done, make(chan struct{})
	unwatch := c.unwatch
	c.watcher.Go(func() {
		select {
		case <-done:
		case <-unwatch:
			return
		}
		c.wmu.Lock()
		defer c.wmu.Unlock()
		c.cut = true
		if c.live != nil {
			c.live.SetDeadline(time.Unix(1, 0))
		}
	})
}

// cancelOf returns the channel whose closing ends ctx before its
// deadline: a CallContext's parent's Done channel, or ctx's own.
func cancelOf(ctx context.Context) <-chan struct{} {
	if cc, ok := ctx.(*CallContext); ok {
		return cc.parent.Done()
	}
	return ctx.Done()
}

// CallContext is the context of one call: it ends when its parent ends
// or at its deadline, as a context.WithDeadline of the parent does, but
// it starts no timer and registers nothing with its parent until its Done
// channel is asked for (or its Err is, once it has ended). A SerialClient
// that watches the parent (Watch) never asks: the connection's deadline
// bounds the call, and the watcher breaks it when the parent ends. Make
// it with NewCallContext; Release it when the call has returned.
type CallContext struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex // guards inner and cancel
	inner  context.Context
	cancel context.CancelFunc
}

var _ context.Context = (*CallContext)(nil)

// NewCallContext returns a context that ends when parent ends or timeout
// from now, whichever comes first.
func NewCallContext(parent context.Context, timeout time.Duration) *CallContext {
	dl := time.Now().Add(timeout)
	if pd, ok := parent.Deadline(); ok && pd.Before(dl) {
		dl = pd
	}
	return &CallContext{parent: parent, deadline: dl}
}

// Deadline returns the context's deadline.
func (c *CallContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done returns a channel closed when the context ends. The first call
// makes the context.WithDeadline that closes it.
func (c *CallContext) Done() <-chan struct{} { return c.made().Done() }

// Err returns nil until the context has ended, then why it ended:
// context.Canceled (or the parent's error) or context.DeadlineExceeded.
func (c *CallContext) Err() error {
	c.mu.Lock()
	inner := c.inner
	c.mu.Unlock()
	if inner == nil && c.parent.Err() == nil && time.Now().Before(c.deadline) {
		return nil
	}
	return c.made().Err() // from then on, what the inner context says
}

// Value returns the parent's value for key (once the context has ended,
// the inner context's, so that context.Cause sees why it ended).
func (c *CallContext) Value(key any) any {
	if c.Err() != nil {
		return c.made().Value(key)
	}
	return c.parent.Value(key)
}

// Release frees what Done made. Call it when the call has returned.
func (c *CallContext) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
}

// made returns the context.WithDeadline of the parent, making it first.
func (c *CallContext) made() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil {
		c.inner, c.cancel = context.WithDeadline(c.parent, c.deadline)
	}
	return c.inner
}
