package master

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drover/drover/rpcapi"
)

// Why pending jobs wait: the words of a job's own reason (whyWaiting, in
// service.go) and of its lane's in the queues view (queues.go) come from
// laneWaiting, so that they never disagree.

// graceReason is why every pending job waits during the crash grace. The
// caller holds mu.
func (c *core) graceReason() string {
	return fmt.Sprintf("the master came back from a crash: dispatch waits until %s for workers to reclaim the jobs they run",
		c.graceUntil.Format(time.RFC3339))
}

// laneWait is why the ready jobs of a lane wait; stuck says no live
// worker can run them.
type laneWait struct {
	text  string
	stuck bool
}

// capacity is what the live workers that can run a lane's jobs offer;
// with none of them, none says so (noWorker).
type capacity struct {
	alive, slots, used int
	none               string
	// refusing counts the live workers whose last assign_task reply
	// refused a task; refusal is one of them and its reason.
	refusing int
	refusal  string
	// unfetched counts the live pull workers leased nothing until they
	// call fetch_tasks (their tasks waited dead_after for one).
	unfetched int
}

// capacityMemo keeps, by type, the capacity for lanes without tags or
// pin, so a view of many lanes of one type counts its workers once.
type capacityMemo map[string]capacity

// capacityOf sums the live workers with l's type and tags. The caller
// holds mu.
func (c *core) capacityOf(l *lane, memo capacityMemo) capacity {
	plain := len(l.tags) == 0 && l.pin == ""
	if cp, ok := memo[l.typ]; ok && plain {
		return cp
	}
	var cp capacity
	for _, w := range c.reg.byType[l.typ] {
		if w.state == rpcapi.WorkerAlive && w.hasTags(l.tags) {
			cp.alive++
			cp.slots += w.slots
			cp.used += len(w.leases)
			if w.refusals > 0 {
				cp.refusing++
				cp.refusal = w.id + ": " + w.refusal
			}
			if w.unfetched {
				cp.unfetched++
			}
		}
	}
	if cp.alive == 0 {
		with := ""
		if len(l.tags) > 0 {
			with = " with tags " + strings.Join(l.tags, ",")
		}
		cp.none = c.noWorker(l.typ, with)
	}
	if plain && memo != nil {
		memo[l.typ] = cp
	}
	return cp
}

// laneWaiting explains why the ready jobs of lane l wait at now: a
// broadcast copy's worker gone, no live worker with the type and tags, a
// limit, every slot busy, or nothing (dispatch is about to take them).
// memo may be nil. The caller holds mu.
func (c *core) laneWaiting(l *lane, now time.Time, memo capacityMemo) laneWait {
	if why, stuck := c.laneStuck(l, memo); stuck {
		return laneWait{stuck: true, text: why}
	}
	if why, _ := c.lim.blocked(l, now); why != "" {
		return laneWait{text: why}
	}
	with := ""
	if len(l.tags) > 0 {
		with = " with tags " + strings.Join(l.tags, ",")
	}
	cp := c.capacityOf(l, memo)
	ahead := c.queue.Ready(l.name) - 1
	if cp.used >= cp.slots {
		return laneWait{text: fmt.Sprintf("all %d slots of the %d live workers with type %q%s are busy; %d other jobs ready in its lane",
			cp.slots, cp.alive, l.typ, with, max(ahead, 0))}
	}
	text := fmt.Sprintf("ready; %d live workers with type %q%s have %d free slots", cp.alive, l.typ, with, cp.slots-cp.used)
	switch {
	case cp.refusing > 0:
		// The count is the master's (slots less leases); a worker knows
		// better, e.g. of a handler that ignored its cancel.
		text += fmt.Sprintf(" by the master's count, but %d of them refused their last task (%s) and get tasks again after a pause", cp.refusing, cp.refusal)
	case cp.unfetched > 0:
		text += fmt.Sprintf(", but %d of them (pull) did not fetch their last tasks within dead_after and get none until they call fetch_tasks", cp.unfetched)
	}
	return laneWait{text: text}
}

// laneStuck says why no live worker can run the jobs of lane l, if none
// can: a broadcast copy's worker is not alive, or no live worker has the
// type and tags. memo may be nil. The caller holds mu.
func (c *core) laneStuck(l *lane, memo capacityMemo) (string, bool) {
	if l.pin != "" {
		alive := false
		for _, w := range c.reg.byType[l.typ] {
			alive = alive || (w.name == l.pin && w.state == rpcapi.WorkerAlive)
		}
		if !alive {
			return fmt.Sprintf("broadcast copy for worker %s, which is not alive (it runs if %s registers again)", l.pin, l.pin), true
		}
	}
	if cp := c.capacityOf(l, memo); cp.alive == 0 {
		return cp.none, true
	}
	return "", false
}

// noWorker says that no live worker has type typ (and the tags of with),
// and what the live workers have instead. The caller holds mu.
func (c *core) noWorker(typ, with string) string {
	var have []string
	for t := range c.reg.byType {
		have = append(have, t)
	}
	slices.Sort(have)
	switch {
	case len(have) == 0:
		return fmt.Sprintf("no live worker has type %q%s (no live workers at all)", typ, with)
	case len(c.reg.byType[typ]) > 0:
		return fmt.Sprintf("no live worker has type %q%s (%d live workers have the type but not the tags)", typ, with, len(c.reg.byType[typ]))
	}
	more := ""
	if len(have) > noWorkerTypes {
		more = fmt.Sprintf(" and %d more", len(have)-noWorkerTypes)
		have = have[:noWorkerTypes]
	}
	return fmt.Sprintf("no live worker has type %q%s (live workers have: %s%s)", typ, with, strings.Join(have, ", "), more)
}

// noWorkerTypes is how many of the live workers' types noWorker names:
// the reason is repeated by every lane and view, so a fleet of many
// types does not make it long.
const noWorkerTypes = 10
