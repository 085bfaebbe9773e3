package rpcapi

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// DefaultMaxCallsInFlight is the default cap on the calls of one gob
// connection that run at once (GoRPCOptions.MaxCallsInFlight).
const DefaultMaxCallsInFlight = 256

// GoRPCOptions bound what one gob connection may cost the server.
type GoRPCOptions struct {
	// MaxMessage is the largest gob message a client may send, in bytes
	// (the length prefix of each message of the stream; a call is two
	// messages, its header and its args). A bigger one fails the
	// connection as soon as its length prefix is read, before the
	// message is buffered. Default DefaultMaxBody (4 MiB); set it to
	// max_request_body so that one cap covers every transport.
	MaxMessage int64
	// MaxCallsInFlight is how many calls that can wait (a commit, a long
	// poll) one connection may have running at once. When that many run,
	// the server stops reading the connection until one ends: the client
	// is held back by TCP, and no call is refused. Calls that never wait
	// run one at a time on the reading goroutine and are not counted.
	// Default DefaultMaxCallsInFlight (256).
	MaxCallsInFlight int
	// IdleTimeout closes a connection on which no call has been in flight
	// this long; each call resets it, and a call that waits (Wait, Fetch:
	// up to MaxWait) keeps it open while it runs. Default
	// DefaultGoRPCIdleTimeout (5 minutes).
	IdleTimeout time.Duration
	// Stats, if set, counts what the caps did; the caller exports it
	// (drover_rpc_oversize_messages_total, drover_rpc_calls_held_back_total).
	Stats *GoRPCStats
	// Log, if set, is called once for each connection closed for an
	// oversize message, with the remote address and the error.
	Log func(remote string, err error)
}

// GoRPCStats counts what GoRPCOptions' caps did. Safe for concurrent use.
type GoRPCStats struct {
	// Oversize counts connections closed for a message over MaxMessage.
	Oversize atomic.Uint64
	// HeldBack counts the times a connection's reading paused because
	// MaxCallsInFlight calls were running.
	HeldBack atomic.Uint64
	// Idle counts connections closed after IdleTimeout with no call.
	Idle atomic.Uint64
}

// DefaultGoRPCIdleTimeout is GoRPCOptions.IdleTimeout's default.
const DefaultGoRPCIdleTimeout = 5 * time.Minute

// ErrMessageTooLarge is the error of a gob message over
// GoRPCOptions.MaxMessage.
var ErrMessageTooLarge = errors.New("rpcapi: gob message too large")

// capReader follows the framing of a gob stream (each message is a
// length in gob's unsigned encoding, then that many bytes) as it passes
// from the connection to the decoder's buffer, and fails the read that
// brings a length over max. gob's decoder allocates by the length it
// reads, so the check must come before the decoder sees it. It costs no
// allocation: a few comparisons per message, and none for payload
// bytes.
type capReader struct {
	r    io.Reader
	max  uint64
	left uint64 // payload bytes still to pass of the current message
	hdr  int    // bytes of a multi-byte length still to read
	n    uint64 // the length read so far
	err  error  // sticky: set once a message is over max
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if ok, ferr := c.scan(p[:n]); ferr != nil {
		// Pass the messages before the bad length; fail the next read.
		c.err = ferr
		if ok > 0 {
			return ok, nil
		}
		return 0, ferr
	}
	return n, err
}

// scan moves the framing state over b. On a length over max it returns
// the error and how many bytes of b came before that length.
func (c *capReader) scan(b []byte) (int, error) {
	start := 0 // where in b the length being read began
	for i := 0; i < len(b); {
		if c.left > 0 {
			k := min(c.left, uint64(len(b)-i))
			c.left -= k
			i += int(k)
			continue
		}
		x := b[i]
		i++
		if c.hdr == 0 {
			start = i - 1
			if x <= 0x7f { // a one-byte length
				if c.n = uint64(x); c.n > c.max {
					return start, c.tooLarge()
				}
				c.left = c.n
				continue
			}
			// gob's encoding: a byte holding minus the count of
			// big-endian bytes that follow.
			k := -int(int8(x))
			if k > 8 {
				return start, fmt.Errorf("%w: bad length prefix", ErrMessageTooLarge)
			}
			c.hdr, c.n = k, 0
			continue
		}
		c.n = c.n<<8 | uint64(x)
		c.hdr--
		if c.hdr == 0 {
			if c.n > c.max {
				return start, c.tooLarge()
			}
			c.left = c.n
		}
	}
	return len(b), nil
}

func (c *capReader) tooLarge() error {
	return fmt.Errorf("%w: %d bytes, over the limit of %d (max_request_body)", ErrMessageTooLarge, c.n, c.max)
}
