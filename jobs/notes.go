package jobs

import (
	"strconv"
	"sync"
)

// The two events nearly every job gets name its worker: "dispatched to W
// as attempt N" and "attempt N on W: ok; succeeded". A worker ID is 70
// bytes and more, so each such text built anew costs a finished job about
// 200 bytes for as long as it is kept. notes hands out one text per
// worker, attempt and kind instead, shared by the jobs that get it.
var notes = noteCache{m: make(map[noteKey]string)}

// maxNotes bounds the cache; it starts again empty when full (workers
// that register again get new IDs).
const maxNotes = 4096

type noteKind uint8

const (
	noteDispatched noteKind = iota
	noteSucceeded
)

type noteKey struct {
	worker  string
	attempt int
	kind    noteKind
}

type noteCache struct {
	mu sync.Mutex
	m  map[noteKey]string
}

// text returns the event text of kind for worker's attempt.
func (c *noteCache) text(kind noteKind, worker string, attempt int) string {
	k := noteKey{worker, attempt, kind}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[k]; ok {
		return s
	}
	n := strconv.Itoa(attempt)
	s := "attempt " + n + " on " + worker + ": ok; succeeded"
	if kind == noteDispatched {
		s = "dispatched to " + worker + " as attempt " + n
	}
	if len(c.m) >= maxNotes {
		clear(c.m)
	}
	c.m[k] = s
	return s
}
