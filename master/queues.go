package master

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The queues view: one row per lane (type, tags, limit key, pin) with its
// pending jobs (ready and delayed, from the queue's counts), its running
// jobs and its throughput (from the lane's book, kept as jobs change), the
// age of its oldest ready job (from the queue's heads) and why its jobs
// wait (laneWaiting, the words of a job's own reason). A view costs
// O(lanes), never a walk of the jobs.

// laneBook is what the queues view shows of a lane beyond the queue's
// counts. Guarded by the core's lock.
type laneBook struct {
	typ  string
	tags []string
	key  string
	pin  string
	// running counts the lane's jobs that run (a broadcast job, which
	// runs nothing itself, is not counted; its copies are).
	running int
	// thru counts the jobs that became final in each of the last
	// minutes, a ring by Unix minute.
	thru [rpcapi.ThroughputMinutes]laneMinute
}

type laneMinute struct {
	minute           int64 // Unix minutes; 0: unused
	finished, failed int32
}

// bookOf returns the book of lane l, adding one. The caller holds mu.
func (lim *limits) bookOf(l *lane) *laneBook {
	b := lim.books[l.name]
	if b == nil {
		b = &laneBook{typ: l.typ, tags: l.tags, key: l.key, pin: l.pin}
		lim.books[l.name] = b
	}
	return b
}

// noteBook keeps the books as j changes from state before: its lane's
// running count and throughput. It costs a lookup by the lane's name, on
// the stack, and only for a change to or from running or to a final
// state. The caller holds mu.
func (lim *limits) noteBook(j *jobs.Job, before jobs.State) {
	was, is := before == jobs.Running, j.State == jobs.Running
	done := j.State.Final() && !before.Final()
	if j.Spec.Broadcast || (was == is && !done) {
		return
	}
	var buf [laneNameBuf]byte
	name := appendLaneName(buf[:0], j)
	b := lim.books[string(name)]
	if b == nil {
		if !is && !done {
			return
		}
		b = &laneBook{typ: j.Spec.Type, tags: laneTags(j.Spec.Tags), key: j.Spec.LimitKey, pin: j.Pin}
		lim.books[string(name)] = b
	}
	switch {
	case is && !was:
		b.running++
	case was && !is && b.running > 0:
		b.running--
	}
	if done {
		min := j.Updated.Unix() / 60
		m := &b.thru[min%rpcapi.ThroughputMinutes]
		if m.minute != min {
			*m = laneMinute{minute: min}
		}
		m.finished++
		if j.State == jobs.Failed {
			m.failed++
		}
	}
}

// window returns the jobs of the lane that became final in the
// ThroughputMinutes minutes up to now (the current one included), and
// how many of them failed.
func (b *laneBook) window(now time.Time) (finished, failed int) {
	cur := now.Unix() / 60
	for _, m := range b.thru {
		if m.minute != 0 && m.minute > cur-rpcapi.ThroughputMinutes && m.minute <= cur {
			finished += int(m.finished)
			failed += int(m.failed)
		}
	}
	return finished, failed
}

// sweepBooks drops the books of lanes with no pending or running job and
// no job finished in the window, so a hundred thousand limit keys used
// once cost nothing once their jobs are done. The caller holds mu.
func (lim *limits) sweepBooks(q *jobs.Queue, now time.Time) {
	for name, b := range lim.books {
		if b.running > 0 || q.Ready(name) > 0 || q.Delayed(name) > 0 {
			continue
		}
		if n, _ := b.window(now); n == 0 {
			delete(lim.books, name)
		}
	}
}

// laneNamed returns the lane of book b, named name, creating it as laneOf
// would. The caller holds mu.
func (lim *limits) laneNamed(name string, b *laneBook) *lane {
	if l := lim.lanes[name]; l != nil {
		return l
	}
	return lim.newLane(name, b.typ, b.tags, b.key, b.pin)
}

// queueQuery selects and orders the rows of the queues view.
type queueQuery struct {
	Type  string // only lanes of this type; "" all
	Limit int    // at most this many rows
	Asc   bool   // smallest first (default: biggest first)
}

// ListQueues implements rpcapi.MasterAPI: the queues view (queuesView),
// as GET /api/v1/queues has it; a limit of 0 is the default page size.
func (api *wire) ListQueues(ctx context.Context, a *rpcapi.ListQueuesArgs, r *rpcapi.ListQueuesReply) error {
	q := queueQuery{Type: a.Type}
	var err error
	if q.Limit, q.Asc, err = pageArgs(a.Limit, a.Order); err != nil {
		return err
	}
	r.Queues, r.More = api.core.queuesView(q)
	return nil
}

// queuesView is the queues view as every reply has it (list_queues over
// both transports, GET /api/v1/queues): the rows of queueRows that fit in
// max_reply_bytes (the first one always), the others counted in more.
func (c *core) queuesView(q queueQuery) (rows []rpcapi.QueueView, more int) {
	rows, more = c.queueRows(q)
	return capQueues(rows, more, c.maxReplyBytes())
}

// queueRows returns the queues view: the lanes with pending or running
// jobs or with jobs finished in the window, biggest first (pending, then
// running, then the oldest wait), at most q.Limit of them, and how many
// more there are. It holds the core's lock for O(lanes) map lookups and
// a sort, and words the reasons of the rows it returns only.
func (c *core) queueRows(q queueQuery) (rows []rpcapi.QueueView, more int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	cands := make([]laneSize, 0, len(c.lim.books))
	for name, b := range c.lim.books {
		if q.Type != "" && b.typ != q.Type {
			continue
		}
		if z := c.laneSizeOf(name, b, now); z.pending+z.running+z.finished > 0 {
			cands = append(cands, z)
		}
	}
	slices.SortFunc(cands, func(x, y laneSize) int {
		d := y.compare(&x)
		if q.Asc {
			return -d
		}
		return d
	})
	if len(cands) > q.Limit {
		more = len(cands) - q.Limit
		cands = cands[:q.Limit]
	}
	caps := make(capacityMemo)
	rows = make([]rpcapi.QueueView, len(cands))
	for i, z := range cands {
		rows[i] = c.queueCounts(&z, now)
		c.queueWaits(&rows[i], z.name, z.b, now, caps)
	}
	return rows, more
}

// laneSize is what the queues view sorts a lane by.
type laneSize struct {
	name                       string
	b                          *laneBook
	pending, running, finished int
	since                      time.Time // when its oldest ready job became ready; zero: none
}

// laneSizeOf sizes lane name, whose book is b. The caller holds mu.
func (c *core) laneSizeOf(name string, b *laneBook, now time.Time) laneSize {
	z := laneSize{name: name, b: b, pending: c.queue.Ready(name) + c.queue.Delayed(name), running: b.running}
	z.finished, _ = b.window(now)
	c.queue.Heads(name, func(j *jobs.Job) {
		if t := readySince(j); z.since.IsZero() || t.Before(z.since) {
			z.since = t
		}
	})
	return z
}

// compare orders lanes by pending, then running, then the oldest wait,
// then name: positive when z comes before o biggest first.
func (z *laneSize) compare(o *laneSize) int {
	switch {
	case z.pending != o.pending:
		return cmp.Compare(z.pending, o.pending)
	case z.running != o.running:
		return cmp.Compare(z.running, o.running)
	case z.since.IsZero() != o.since.IsZero(): // no ready job: no wait
		if z.since.IsZero() {
			return -1
		}
		return 1
	case !z.since.Equal(o.since):
		return o.since.Compare(z.since) // the earlier, the longer the wait
	}
	return strings.Compare(o.name, z.name) // lanes differ by name; the first name comes first
}

// queueCounts is the row of the lane z sized, but for its tags and
// reasons (queueWaits). The caller holds mu.
func (c *core) queueCounts(z *laneSize, now time.Time) rpcapi.QueueView {
	b := z.b
	v := rpcapi.QueueView{Type: b.typ, LimitKey: b.key, Pin: b.pin,
		Ready: c.queue.Ready(z.name), Delayed: c.queue.Delayed(z.name), Running: b.running,
		Pending: z.pending, OldestPendingSince: z.since}
	v.Finished, v.Failed = b.window(now)
	v.PerMinute = float64(v.Finished) / rpcapi.ThroughputMinutes
	if !v.OldestPendingSince.IsZero() {
		v.OldestPendingSeconds = max(now.Sub(v.OldestPendingSince), 0).Seconds()
	}
	return v
}

// queueWaits fills v's tags and why its pending jobs wait: the crash
// grace for all of them, else the lane's reason for the ready ones and
// delayedReason for the delayed ones. The caller holds mu.
func (c *core) queueWaits(v *rpcapi.QueueView, name string, b *laneBook, now time.Time, caps capacityMemo) {
	v.Tags = slices.Clone(b.tags)
	if v.Tags == nil {
		v.Tags = []string{}
	}
	v.Waiting = []rpcapi.WaitCount{}
	switch {
	case v.Pending == 0:
		return
	case now.Before(c.graceUntil):
		v.Waiting = append(v.Waiting, rpcapi.WaitCount{Reason: c.graceReason(), Count: v.Pending})
		return
	}
	if v.Ready > 0 {
		w := c.laneWaiting(c.lim.laneNamed(name, b), now, caps)
		v.Waiting = append(v.Waiting, rpcapi.WaitCount{Reason: w.text, Count: v.Ready})
	}
	if v.Delayed > 0 {
		v.Waiting = append(v.Waiting, rpcapi.WaitCount{Reason: delayedReason, Count: v.Delayed})
	}
}

// readySince is when the ready job j became ready: its last change (its
// submission, a requeue), or its not_before time if later.
func readySince(j *jobs.Job) time.Time { return later(j.Updated, j.NotBefore) }

// delayedReason is why a lane's delayed jobs wait; each job's own reason
// says which of these and when.
const delayedReason = "retry backoff or held by run_at/delay: eligible at its not_before time"
