package testproc

import (
	"bytes"
	"strings"
	"sync"
	"time"
)

// output keeps what a process writes: each stream as it came, and both
// interleaved a whole line at a time (a process may write a line in
// pieces, and the other stream's lines must not land inside it), and when
// each line ended. It wakes the waiters at each write.
type output struct {
	mu      sync.Mutex
	all     bytes.Buffer  // whole lines of both streams, in the order they ended
	ends    []lineEnd     // where each line of all ends, and when it did
	streams [2]streamBuf  // stdout, stderr
	changed chan struct{} // closed (and replaced) at each write
}

// lineEnd is the end of a line in output.all: its offset past the
// newline, and when the write that ended it came.
type lineEnd struct {
	off int
	at  time.Time
}

// Line is one whole line of a process's output (without its newline) and
// when the test process read its end: a process that logs unbuffered, as
// drover does, wrote it then, give or take the scheduling of the reading
// goroutine.
type Line struct {
	At   time.Time
	Text string
}

type streamBuf struct {
	buf     bytes.Buffer
	partial []byte // the line being written, not yet in all
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

// stream is the io.Writer of stream i (0 stdout, 1 stderr).
type stream struct {
	o *output
	i int
}

func (s stream) Write(p []byte) (int, error) {
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	sb := &s.o.streams[s.i]
	sb.buf.Write(p)
	sb.partial = append(sb.partial, p...)
	if i := bytes.LastIndexByte(sb.partial, '\n'); i >= 0 {
		now := time.Now()
		for line := range bytes.Lines(sb.partial[:i+1]) {
			s.o.all.Write(line)
			s.o.ends = append(s.o.ends, lineEnd{s.o.all.Len(), now})
		}
		sb.partial = append([]byte(nil), sb.partial[i+1:]...)
	}
	close(s.o.changed)
	s.o.changed = make(chan struct{})
	return len(p), nil
}

func (o *output) stream(i int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.streams[i].buf.String()
}

// combined returns the whole lines of both streams, then the unfinished
// line of each.
func (o *output) combined() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	b.Write(o.all.Bytes())
	for _, l := range o.partials() {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// partials returns the unfinished line of each stream that has one; the
// caller holds mu.
func (o *output) partials() []string {
	var ls []string
	for _, sb := range o.streams {
		if len(sb.partial) > 0 {
			ls = append(ls, string(sb.partial))
		}
	}
	return ls
}

// from returns a copy of the whole lines from offset off, the unfinished
// lines, and a channel closed at the next write.
func (o *output) from(off int) ([]byte, []string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.all.Bytes()[off:]), o.partials(), o.changed
}

// lines returns the whole lines so far with when each ended.
func (o *output) lines() []Line {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.all.Bytes()
	out := make([]Line, len(o.ends))
	start := 0
	for i, e := range o.ends {
		out[i] = Line{At: e.at, Text: string(b[start : e.off-1])}
		start = e.off
	}
	return out
}

// tail returns the last n bytes of s, marked as cut when they are not all.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
