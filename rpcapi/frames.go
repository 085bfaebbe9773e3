package rpcapi

import (
	"errors"
	"fmt"
	"io"
)

// maxMessage bounds one gob message a client reads, as gob's own decoder
// does (1 GiB): a count past it is a broken stream, not a reply to wait for.
const maxMessage = 1 << 30

// maxKept bounds the buffer frames keeps between replies.
const maxKept = 1 << 20

// growStep bounds how much more room fill makes at once beyond doubling.
const growStep = 64 << 10

// frames holds the bytes a gob connection has sent and finds whole
// replies in them, so that a reply is decoded only once all of it is
// here. A read that a caller's context interrupts then loses nothing: the
// bytes stay, and the next reader goes on from them.
//
// A net/rpc reply is two gob value messages (the header, then the body),
// each after the type definitions it needs, which are messages of their
// own with a negative type id. Each message is its length (a gob
// unsigned integer) and then that many bytes, the first of which are the
// type id (a gob signed integer).
type frames struct {
	buf  []byte // what has been read and not yet decoded, from buf[0]
	off  int    // where the decoder reads next, within [0, end]
	end  int    // end of the whole reply being decoded (off == end: none)
	scan int    // the next message not yet looked at, at or after end
	vals int    // value messages in [end, scan)
}

// errShortReply is a decoder reading past the whole reply it was given:
// a bug in finding replies, not the stream.
var errShortReply = errors.New("rpcapi: gob decoder read past a whole reply")

// Read gives the decoder the bytes of the current reply.
func (f *frames) Read(p []byte) (int, error) {
	if f.off == f.end {
		return 0, errShortReply
	}
	n := copy(p, f.buf[f.off:f.end])
	f.off += n
	return n, nil
}

// ReadByte gives the decoder one byte of the current reply (so that gob
// reads no further than it needs).
func (f *frames) ReadByte() (byte, error) {
	if f.off == f.end {
		return 0, errShortReply
	}
	f.off++
	return f.buf[f.off-1], nil
}

// fill reads from r until a whole reply is here and makes it the current
// one. The caller has decoded the last one (done). On an error, what was
// read stays for the next fill.
func (f *frames) fill(r io.Reader) error {
	for {
		whole, need, err := f.next()
		if err != nil || whole {
			return err
		}
		if free := cap(f.buf) - len(f.buf); free < need || free == 0 {
			// Grown as the bytes come (doubling), not to the size the
			// message's count claims: a count up to maxMessage costs
			// memory only once its bytes are here.
			f.grow(min(need, growStep))
		}
		n, err := r.Read(f.buf[len(f.buf):cap(f.buf)])
		f.buf = f.buf[:len(f.buf)+n]
		if err != nil && n == 0 {
			return err
		}
	}
}

// next looks at the messages after the current reply: whole is true once
// the two value messages of a reply are here (it then becomes the current
// one). Otherwise need is how many more bytes the message it stopped at
// takes, if known.
func (f *frames) next() (whole bool, need int, err error) {
	for {
		rest := f.buf[f.scan:]
		n, head := gobUint(rest)
		if head == 0 {
			return false, 0, nil
		}
		if head < 0 || n == 0 || n > maxMessage {
			return false, 0, fmt.Errorf("rpcapi: gob message of %d bytes", n)
		}
		size := head + int(n)
		if len(rest) < size {
			return false, size - len(rest), nil
		}
		id, idLen := gobUint(rest[head:size])
		if idLen <= 0 || id == 0 {
			return false, 0, errors.New("rpcapi: gob message without a type id")
		}
		f.scan += size
		if id&1 == 0 { // a positive type id: a value
			f.vals++
		}
		if f.vals == 2 {
			f.end, f.vals = f.scan, 0
			return true, 0, nil
		}
	}
}

// done drops the current reply, decoded or not.
func (f *frames) done() {
	f.off = f.end
	switch {
	case f.off == len(f.buf):
		f.buf = f.buf[:0]
		if cap(f.buf) > maxKept {
			f.buf = nil // a big reply's buffer goes to the collector
		}
		f.off, f.end, f.scan = 0, 0, 0
	case f.off > cap(f.buf)/2:
		n := copy(f.buf, f.buf[f.off:])
		f.buf = f.buf[:n]
		f.end -= f.off
		f.scan -= f.off
		f.off = 0
	}
}

// grow makes room for at least need more bytes (at least 4 KiB, and
// twice the buffer when it is full).
func (f *frames) grow(need int) {
	f.done() // moves what is decoded out of the way first
	size := max(2*cap(f.buf), len(f.buf)+need, 4096)
	buf := make([]byte, len(f.buf), size)
	copy(buf, f.buf)
	f.buf = buf
}

// gobUint reads the gob unsigned integer at the start of b: its value and
// how many bytes it takes, 0 if b holds only part of it, -1 if b does not
// start with one.
func gobUint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	if b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	size := 256 - int(b[0]) // the byte is minus the size
	if size > 8 {
		return 0, -1
	}
	if len(b) < 1+size {
		return 0, 0
	}
	for _, c := range b[1 : 1+size] {
		v = v<<8 | uint64(c)
	}
	return v, 1 + size
}
