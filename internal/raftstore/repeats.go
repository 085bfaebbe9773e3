package raftstore

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sirupsen/logrus"
)

// repeats keeps raft's warnings and errors that repeat to one a minute.
// While a member is down, the leader's raft logs each failed heartbeat and
// append to it, about two lines a second for as long as it stays down;
// here a line of the same level, message and peer passes once per
// repeatEvery, and the next one that passes is preceded by a line that
// counts those left out.
type repeats struct {
	log   logrus.FieldLogger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]*repeat
}

type repeat struct {
	passed time.Time // when the last line of this kind passed
	left   int       // lines left out since
}

// repeatEvery is how often a repeating raft line passes.
const repeatEvery = time.Minute

// repeatKeys are the arguments that tell raft's lines of one message
// apart: the member they are about. Other arguments (an error's text, a
// backoff, a time) vary from one line to the next of the same kind.
var repeatKeys = map[string]bool{"peer": true, "target": true, "server-id": true, "id": true, "from": true}

func newRepeats(log logrus.FieldLogger) *repeats {
	return &repeats{log: log, every: repeatEvery, now: time.Now, seen: make(map[string]*repeat)}
}

// exclude is hclog's LoggerOptions.Exclude: true leaves the line out.
func (r *repeats) exclude(level hclog.Level, msg string, args ...any) bool {
	if level < hclog.Warn {
		return false
	}
	key := level.String() + "\x00" + msg
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && repeatKeys[k] {
			key += "\x00" + fmt.Sprint(args[i+1])
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	p := r.seen[key]
	if p != nil && now.Sub(p.passed) < r.every {
		p.left++
		return true
	}
	if p != nil && p.left > 0 {
		r.log.WithField("left_out", p.left).Warn(fmt.Sprintf("raft: the next line was left out %d time(s) in the last %s", p.left, now.Sub(p.passed).Round(time.Second)))
	}
	if p == nil {
		if len(r.seen) >= 1024 {
			r.forget(now)
		}
		p = &repeat{}
		r.seen[key] = p
	}
	p.passed, p.left = now, 0
	return false
}

// forget drops the kinds of line that have not come for a while.
func (r *repeats) forget(now time.Time) {
	for k, p := range r.seen {
		if now.Sub(p.passed) >= r.every && p.left == 0 {
			delete(r.seen, k)
		}
	}
	if len(r.seen) >= 4096 {
		clear(r.seen) // a flood of kinds: their counts are lost, not the lines
	}
}
