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

// muxConn is the one gob connection a Client's calls share, with no
// reading goroutine of its own: a call whose reply has not come takes the
// reader's part if no one has it, reads replies (handing the other calls
// theirs) until its own is in, and then passes the part to a call still
// waiting, if any. A caller with one call in flight thus reads its own
// reply, with no hand-off between goroutines, as SerialClient does, while
// many calls still share one connection as on net/rpc's client.
//
// While replies are still to come and no call waits for one (calls still
// writing their requests, or calls that gave up), a goroutine reads them
// (drain), so that unread replies never fill the socket and stall the
// node, and a close is seen as soon as it comes.
//
// Over a connection whose socket it cannot peek at (TLS), a goroutine
// reads every reply, as net/rpc's client does: only reading tells a
// closed TLS connection from one with bytes waiting.
type muxConn struct {
	conn  net.Conn
	peer  peerCloser     // conn's peek, nil if it has none (then a goroutine reads)
	reads sync.WaitGroup // the reading goroutine (readAll or drain), if any

	wmu sync.Mutex // guards w, enc and req: one request written at a time
	w   *bufio.Writer
	enc *gob.Encoder
	req rpc.Request

	mu       sync.Mutex // guards the fields up to in
	seq      uint64
	pending  map[uint64]*muxCall // sent (or being sent), reply not yet read
	reading  bool                // someone holds the reader's part
	reader   *muxCall            // the call that holds it (nil: a goroutine)
	deadline bool                // an interrupted reader left a deadline set
	orphans  int                 // replies still to come for calls that gave up
	err      error               // the connection is broken: every call fails

	// The reader's part: only its holder touches these.
	in   frames
	dec  *gob.Decoder
	resp rpc.Response
}

// peerCloser is a connection that can tell, without reading, that its
// peer closed it (rawsock.Conn).
type peerCloser interface{ PeerClosed() bool }

// muxCall is one call in flight on a muxConn.
type muxCall struct {
	seq     uint64
	reply   any
	done    bool  // its reply was read (or the connection broke); guarded by mu
	waiting bool  // it waits for its reply (its request is written); guarded by mu
	err     error // set before done
	// wake is signalled once: when its reply is read by another call, or
	// when the reader's part is passed to it.
	wake chan struct{}
}

// errConnClosed is the error of calls on a connection its client closed.
var errConnClosed = errors.New("connection closed")

// newMuxConn starts using conn.
func newMuxConn(conn net.Conn) *muxConn {
	c := &muxConn{conn: conn, pending: make(map[uint64]*muxCall)}
	c.w = bufio.NewWriter(conn)
	c.enc = gob.NewEncoder(c.w)
	c.dec = gob.NewDecoder(&c.in)
	c.peer, _ = conn.(peerCloser)
	if c.peer == nil {
		c.reading = true
		c.reads.Go(c.readAll)
	}
	return c
}

// call makes one call and waits for its reply until ctx ends. sent is
// false if the call never left because the connection was already
// broken: the caller may redial and call again.
func (c *muxConn) call(ctx context.Context, method string, args, reply any) (err error, sent bool) {
	cl := &muxCall{reply: reply, wake: make(chan struct{}, 1)}
	c.mu.Lock()
	if c.err == nil && c.peer != nil && !c.reading && len(c.pending) == 0 && c.peer.PeerClosed() {
		// Closed while idle (the peer restarted). Bytes still unread (the
		// reply of a call that gave up) read as open: the call then fails
		// once it reads past them.
		c.fail(rpc.ErrShutdown)
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err, false
	}
	c.seq++
	cl.seq = c.seq
	c.pending[cl.seq] = cl
	c.mu.Unlock()
	if sent, err := c.send(cl.seq, method, args); err != nil {
		if sent {
			c.mu.Lock()
			c.fail(err)
			c.mu.Unlock()
		}
		return err, sent
	}
	return c.wait(ctx, cl), true
}

// send writes one request. If the connection broke while the call
// waited for its turn to write (fail has then ended the call), nothing
// is written and sent is false.
func (c *muxConn) send(seq uint64, method string, args any) (sent bool, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	err = c.err
	c.mu.Unlock()
	if err != nil {
		return false, err
	}
	c.req = rpc.Request{ServiceMethod: method, Seq: seq}
	if err := c.enc.Encode(&c.req); err != nil {
		return true, err
	}
	if err := c.enc.Encode(args); err != nil {
		return true, err
	}
	return true, c.w.Flush()
}

// wait returns cl's result once its reply is in, reading replies itself
// while no one else does. If ctx ends first it returns ctx's error, and
// the reply is dropped when it comes.
func (c *muxConn) wait(ctx context.Context, cl *muxCall) error {
	c.mu.Lock()
	cl.waiting = true
	c.mu.Unlock()
	for {
		c.mu.Lock()
		if cl.done {
			c.mu.Unlock()
			return cl.err
		}
		if !c.reading || c.reader == cl {
			c.reading, c.reader = true, cl
			c.mu.Unlock()
			if err := c.read(ctx, cl); err != nil {
				return err
			}
			continue
		}
		c.mu.Unlock()
		select {
		case <-cl.wake:
		case <-ctx.Done():
			if c.abandon(cl) {
				return ctx.Err()
			}
			// Its reply is being decoded, or the reader's part is its:
			// the wake-up comes at once.
			<-cl.wake
		}
	}
}

// abandon gives up waiting for cl: true if it was still waiting (its
// reply will be dropped), false if its reply is being decoded now or the
// reader's part was just passed to it.
func (c *muxConn) abandon(cl *muxCall) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl.done || c.reader == cl {
		return false
	}
	if _, ok := c.pending[cl.seq]; !ok {
		return false // the reader took it and is decoding its reply
	}
	delete(c.pending, cl.seq)
	c.orphans++
	return true
}

// read holds the reader's part for cl: it reads replies until cl's is in,
// then passes the part on. It returns ctx's error if ctx ended while it
// waited for bytes (cl is then dropped as abandon drops it), nil
// otherwise (cl is done).
func (c *muxConn) read(ctx context.Context, cl *muxCall) error {
	// A CallContext ends with its parent or at its deadline: the read
	// deadline bounds the call and the parent is watched, so that the
	// call costs no timer and (its parent being a cancelCtx) no goroutine,
	// which context.AfterFunc starts for a Context type it does not know.
	watch := ctx
	if cc, ok := ctx.(*CallContext); ok {
		watch = cc.parent
		c.mu.Lock()
		if c.reader == cl && c.err == nil {
			c.deadline = true
			c.conn.SetReadDeadline(cc.deadline)
		}
		c.mu.Unlock()
	}
	stop := context.AfterFunc(watch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.reader == cl && c.err == nil {
			c.deadline = true
			c.conn.SetReadDeadline(time.Unix(1, 0)) // ends the read in flight
		}
	})
	defer stop()
	for {
		err := c.readReply()
		c.mu.Lock()
		switch {
		case err != nil && c.deadline && errors.Is(err, os.ErrDeadlineExceeded) && !cl.done:
			delete(c.pending, cl.seq)
			c.orphans++
			c.handOff()
			c.mu.Unlock()
			return cmp.Or(ctx.Err(), context.DeadlineExceeded) // at ctx's deadline, by the poller's clock
		case err != nil:
			c.fail(err)
		}
		if cl.done {
			c.handOff()
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
	}
}

// handOff passes the reader's part from the call that leaves it to a call
// waiting for its reply; with none, while replies are still to come, to a
// goroutine that reads them (drain); else to no one. The caller holds mu.
func (c *muxConn) handOff() {
	if c.deadline {
		c.deadline = false
		c.conn.SetReadDeadline(time.Time{})
	}
	c.reading, c.reader = false, nil
	if c.err != nil {
		return
	}
	if next := c.waiter(); next != nil {
		c.reading, c.reader = true, next
		next.wake <- struct{}{}
		return
	}
	if len(c.pending) > 0 || c.orphans > 0 {
		c.reading = true
		c.reads.Go(c.drain)
	}
}

// waiter returns a call that waits for its reply, or nil. The caller
// holds mu.
func (c *muxConn) waiter() *muxCall {
	for _, cl := range c.pending {
		if cl.waiting {
			return cl
		}
	}
	return nil
}

// drain holds the reader's part while replies are still to come and no
// call waits for one: it reads them until a call waits (it then passes
// the part to it) or none is to come.
func (c *muxConn) drain() {
	for {
		err := c.readReply()
		c.mu.Lock()
		switch next := c.waiter(); {
		case err != nil:
			c.fail(err)
		case next != nil:
			c.reader = next
			next.wake <- struct{}{}
		case len(c.pending) == 0 && c.orphans == 0:
			c.reading = false
		default:
			c.mu.Unlock()
			continue
		}
		c.mu.Unlock()
		return
	}
}

// readAll is the reading goroutine of a connection that cannot be peeked
// at: it reads every reply until the connection breaks.
func (c *muxConn) readAll() {
	for {
		if err := c.readReply(); err != nil {
			c.mu.Lock()
			c.fail(err)
			c.mu.Unlock()
			return
		}
	}
}

// readReply reads one whole reply and gives it to its call, or drops it
// if its call gave up. An error is a broken connection, or the read
// deadline an abandoning reader set. The caller holds the reader's part.
func (c *muxConn) readReply() error {
	if err := c.in.fill(c.conn); err != nil {
		return err
	}
	defer c.in.done()
	c.resp = rpc.Response{} // gob leaves a field the reply does not carry as it was
	if err := c.dec.Decode(&c.resp); err != nil {
		return fmt.Errorf("reading reply header: %w", err)
	}
	c.mu.Lock()
	cl := c.pending[c.resp.Seq]
	delete(c.pending, c.resp.Seq)
	if cl == nil && c.orphans > 0 {
		c.orphans--
	}
	c.mu.Unlock()
	switch {
	case cl == nil:
		c.dec.DecodeValue(reflect.Value{}) // dropped; the next reply starts where this one ends
		return nil
	case c.resp.Error != "":
		cl.err = rpc.ServerError(c.resp.Error)
		c.dec.DecodeValue(reflect.Value{})
	default:
		if err := c.dec.Decode(cl.reply); err != nil {
			cl.err = fmt.Errorf("reading body: %w", err)
		}
	}
	c.mu.Lock()
	c.finish(cl, cl.err)
	c.mu.Unlock()
	return nil
}

// finish ends cl with err and wakes it, unless it is the reader (which
// sees it done when its read returns). The caller holds mu.
func (c *muxConn) finish(cl *muxCall, err error) {
	cl.err, cl.done = err, true
	if c.reader != cl {
		cl.wake <- struct{}{}
	}
}

// fail breaks the connection with err: every call waiting fails with it,
// and so does every later one. The caller holds mu.
func (c *muxConn) fail(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.peer != nil {
		c.conn.Close()
	} else {
		go c.conn.Close() // a TLS close writes, and may wait: not under mu
	}
	for seq, cl := range c.pending {
		delete(c.pending, seq)
		c.finish(cl, err)
	}
}

// Close closes the connection: calls in flight fail.
func (c *muxConn) Close() error {
	c.mu.Lock()
	c.fail(errConnClosed)
	c.mu.Unlock()
	c.reads.Wait()
	return nil
}
