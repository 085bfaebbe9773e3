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
// goroutine. Client hands each reply from its reading goroutine to the
// caller; for a caller that keeps one call in flight (a worker's runner
// sending its own report and taking its next task from the reply) that
// hand-off is a good part of the call's cost. Calls wait for each other:
// use Client for calls that long-poll or that many goroutines make at
// once. It connects on first use and again after a failed call. It is
// safe for concurrent use.
type SerialClient struct {
	goTarget

	mu     sync.Mutex // held for a whole call; guards the rest
	conn   net.Conn
	w      *bufio.Writer
	enc    *gob.Encoder
	dec    *gob.Decoder
	seq    uint64
	used   time.Time // when the last call ended
	closed bool
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
	var se rpc.ServerError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
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
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.seq++
	if err := c.enc.Encode(&rpc.Request{ServiceMethod: method, Seq: c.seq}); err != nil {
		return err
	}
	if err := c.enc.Encode(args); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	var resp rpc.Response
	if err := c.dec.Decode(&resp); err != nil {
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
	defer c.mu.Unlock()
	c.closed = true
	c.reset()
	return nil
}
