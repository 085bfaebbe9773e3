package master

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// What needs a person, at the top of the status: pending jobs that no
// live worker can run (from the lanes' books), a schedule whose latest
// fires all failed (a streak kept per schedule as its fires end), a worker
// that keeps registering again (a few times kept per worker name). Each
// costs O(lanes), O(failing schedules) or O(worker names) to read, never a
// walk of the jobs.

const (
	// fireFailStreak is how many fires of a schedule in a row must fail
	// for it to need attention.
	fireFailStreak = 3
	// flapWindow and flapAgain: a worker name registered again flapAgain
	// times within flapWindow is flapping.
	flapWindow = 10 * time.Minute
	flapAgain  = 3
	// flapKeep bounds the registrations kept per name.
	flapKeep = 64
)

// fireStreak is the fires of one schedule that failed in a row, since the
// master started.
type fireStreak struct {
	failed    int
	lastJob   string
	lastError string
}

// noteFire counts the fire job j, which just became final, in its
// schedule's streak: a success ends the streak, a failure adds to it, a
// cancel leaves it. The caller holds mu.
func (c *core) noteFire(j *jobs.Job) {
	name, ok := strings.CutPrefix(j.Spec.Key, schedKeyPrefix)
	if i := strings.LastIndexByte(name, '@'); ok && i >= 0 {
		name = name[:i]
	} else {
		return
	}
	switch j.State {
	case jobs.Succeeded:
		delete(c.fireFails, name)
	case jobs.Failed:
		if c.fireFails == nil {
			c.fireFails = make(map[string]*fireStreak)
		}
		s := c.fireFails[name]
		if s == nil {
			s = &fireStreak{}
			c.fireFails[name] = s
		}
		s.failed++
		s.lastJob, s.lastError = j.ID, j.LastError()
	}
}

// schedulesChanged implements schedCore: the live view's schedules_rev
// moves, and its watchers wake.
func (c *core) schedulesChanged() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.schedRev++
	c.bump()
}

// forgetFires implements schedCore: schedule name was deleted.
func (c *core) forgetFires(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.fireFails, name)
}

// flapBook keeps, by worker name, the registrations that came again while
// the name was known. Guarded by the core's lock.
type flapBook struct {
	names map[string]*flapRec
	kept  int // names after the last sweep
}

type flapRec struct {
	live  int         // registrations of the name not dead
	last  time.Time   // the latest registration
	again []time.Time // the latest registrations again (at most flapKeep), oldest first
}

// registered counts a registration of name at now: again if the name is
// known (it has a live registration, or registered within flapWindow).
func (f *flapBook) registered(name string, now time.Time) {
	if name == "" {
		return
	}
	if f.names == nil {
		f.names = make(map[string]*flapRec)
	}
	r := f.names[name]
	if r == nil {
		r = &flapRec{}
		f.names[name] = r
	} else {
		r.again = append(r.again, now)
		if n := len(r.again); n > flapKeep {
			r.again = slices.Delete(r.again, 0, n-flapKeep)
		}
	}
	r.live++
	r.last = now
	if len(f.names) > 2*f.kept+64 {
		f.sweep(now)
	}
}

// died counts a registration of name that ended (logged out or reaped).
func (f *flapBook) died(name string) {
	if r := f.names[name]; r != nil && r.live > 0 {
		r.live--
	}
}

// sweep forgets the names with no live registration and none within
// flapWindow.
func (f *flapBook) sweep(now time.Time) {
	for name, r := range f.names {
		if r.live == 0 && now.Sub(r.last) > flapWindow {
			delete(f.names, name)
		}
	}
	f.kept = len(f.names)
	if f.kept == 0 {
		f.names = nil
	}
}

// recent returns how many of r's registrations again fall within
// flapWindow before now.
func (r *flapRec) recent(now time.Time) int {
	n := 0
	for _, t := range r.again {
		if now.Sub(t) <= flapWindow {
			n++
		}
	}
	return n
}

// attention lists what needs a person at now: stuck lanes by reason, the
// failing schedules, the flapping workers; each kind biggest first. The
// caller holds mu.
func (c *core) attention(now time.Time) []rpcapi.Attention {
	out := c.stuckAttention(now)
	var more []rpcapi.Attention
	for name, s := range c.fireFails {
		if s.failed >= fireFailStreak {
			more = append(more, rpcapi.Attention{Kind: rpcapi.AttentionScheduleFailing, Count: s.failed, Link: "#/schedules",
				Text: fmt.Sprintf("schedule %q: its last %d fires failed (latest job %s: %s)", name, s.failed, s.lastJob, rpcapi.CutListError(s.lastError))})
		}
	}
	for name, r := range c.reg.flaps.names {
		if n := r.recent(now); n >= flapAgain {
			more = append(more, rpcapi.Attention{Kind: rpcapi.AttentionWorkerFlapping, Count: n, Link: "#/workers",
				Text: fmt.Sprintf("worker %q registered again %d times in the last %s", name, n, flapWindow)})
		}
	}
	slices.SortFunc(more, func(a, b rpcapi.Attention) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(b.Count, a.Count), cmp.Compare(a.Text, b.Text))
	})
	return append(out, more...)
}

// stuckAttention counts the pending jobs of the lanes no live worker can
// run, by reason (a reason names the type and tags, not the limit key, so
// the lanes of many keys add up). None during the crash grace, when the
// workers are still coming back. The caller holds mu.
func (c *core) stuckAttention(now time.Time) []rpcapi.Attention {
	out := []rpcapi.Attention{}
	if now.Before(c.graceUntil) {
		return out
	}
	type stuck struct {
		typ string
		n   int
	}
	var byReason map[string]*stuck
	memo := make(capacityMemo)
	for name, b := range c.lim.books {
		n := c.queue.Ready(name) + c.queue.Delayed(name)
		if n == 0 {
			continue
		}
		l := lane{name: name, typ: b.typ, tags: b.tags, key: b.key, pin: b.pin}
		why, ok := c.laneStuck(&l, memo)
		if !ok {
			continue
		}
		if byReason == nil {
			byReason = make(map[string]*stuck)
		}
		s := byReason[why]
		if s == nil {
			s = &stuck{typ: b.typ}
			byReason[why] = s
		}
		s.n += n
	}
	for why, s := range byReason {
		out = append(out, rpcapi.Attention{Kind: rpcapi.AttentionNoWorker, Count: s.n,
			Text: fmt.Sprintf("%d pending jobs of type %q: %s", s.n, s.typ, why),
			Link: "#/jobs?state=pending&type=" + url.QueryEscape(s.typ)})
	}
	slices.SortFunc(out, func(a, b rpcapi.Attention) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Text, b.Text))
	})
	return out
}
