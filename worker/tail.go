package worker

import (
	"strconv"
	"sync"
	"unicode/utf8"
)

// defaultOutputLimit is the tail kept when no positive limit is given.
const defaultOutputLimit = 64 << 10

// tailBuffer is an io.Writer that keeps only the last limit bytes written
// to it. It is safe for concurrent use, and its memory never exceeds limit
// bytes however much is written. A job's stdout and stderr both write to one
// tailBuffer, so the kept output interleaves them in write order.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	// buf holds the kept bytes. While len(buf) < limit it is plain text;
	// once full it is a ring whose oldest byte is at buf[pos].
	buf   []byte
	pos   int
	total int64
}

// newTailBuffer returns a tailBuffer keeping the last limit bytes; limit <= 0
// means 64 KiB.
func newTailBuffer(limit int) *tailBuffer {
	if limit <= 0 {
		limit = defaultOutputLimit
	}
	return &tailBuffer{limit: limit}
}

// Write keeps the end of p. It never fails: it always returns len(p), nil.
func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limit <= 0 {
		b.limit = defaultOutputLimit // the zero tailBuffer is usable
	}
	b.total += int64(n)
	if len(p) > b.limit {
		p = p[len(p)-b.limit:]
	}
	if free := b.limit - len(b.buf); free > 0 {
		k := min(len(p), free)
		if len(b.buf)+k > cap(b.buf) {
			// Grow geometrically, but never past limit.
			grown := make([]byte, len(b.buf), min(b.limit, max(2*cap(b.buf), len(b.buf)+k, 512)))
			copy(grown, b.buf)
			b.buf = grown
		}
		b.buf = append(b.buf, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 { // full: overwrite the oldest bytes
		k := copy(b.buf[b.pos:], p)
		p = p[k:]
		b.pos = (b.pos + k) % b.limit
	}
	return n, nil
}

// Len reports how many bytes were written in all.
func (b *tailBuffer) Len() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// Truncated reports how many bytes were dropped from the front: all the
// bytes written minus the kept tail.
func (b *tailBuffer) Truncated() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total - int64(len(b.buf))
}

// tail returns a copy of the kept bytes, oldest first, and how many were
// dropped before them.
func (b *tailBuffer) tail() ([]byte, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]byte, 0, len(b.buf))
	out = append(out, b.buf[b.pos:]...)
	out = append(out, b.buf[:b.pos]...)
	return out, b.total - int64(len(b.buf))
}

// String returns the kept tail. When bytes were dropped it starts with
// "...[truncated N bytes]\n", and the partial UTF-8 sequence the cut may
// have left at the front (at most three bytes) is dropped too and counted
// in N, so the text never starts in the middle of a character.
func (b *tailBuffer) String() string {
	out, dropped := b.tail()
	if dropped == 0 {
		return string(out)
	}
	for i := 0; i < utf8.UTFMax-1 && len(out) > 0 && !utf8.RuneStart(out[0]); i++ {
		out = out[1:]
		dropped++
	}
	return "...[truncated " + strconv.FormatInt(dropped, 10) + " bytes]\n" + string(out)
}
