package jobs

import (
	"cmp"
	"container/heap"
	"maps"
	"math"
	"slices"
	"time"
)

// Queue holds the IDs of pending jobs in lanes (the master puts jobs that
// share every dispatch constraint in one lane), each ready lane in order of
// priority (higher first), then Seq (lower first: FIFO among equals), and
// one delayed heap ordered by not-before time. It is not safe for
// concurrent use: the master owns it under its lock.
//
// A lane keeps one level per priority in use. A level is a FIFO of jobs
// pushed in Seq order (the usual case: new jobs), which makes push and pop
// O(1), plus a min-heap by Seq for jobs pushed back out of order (retries,
// requeues). Removed jobs are marked and skipped when they reach a head.
type Queue struct {
	items   map[string]*qitem
	lanes   map[string]*laneQ // lanes with ready jobs
	names   []string          // sorted keys of lanes; nil when it must be rebuilt
	delayed delayedHeap
}

type qitem struct {
	job       *Job
	id        string
	lane      string
	prio      int
	seq       uint64
	notBefore int64 // Unix nanoseconds; 0: ready
	index     int   // in the delayed heap
	isReady   bool  // in a lane (else in the delayed heap)
	removed   bool  // taken out of its lane; skipped at the head
}

type laneQ struct {
	levels []*level // by priority, highest first; none empty
	n      int      // ready jobs not removed
}

type level struct {
	prio int
	fifo []*qitem // in Seq order from head
	head int
	late lateHeap // pushed with a Seq below the FIFO's tail
	n    int      // jobs not removed
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	return &Queue{items: make(map[string]*qitem), lanes: make(map[string]*laneQ)}
}

// Push queues j (which must be pending) in the lane of its type. A job
// already queued is moved to its new place.
func (q *Queue) Push(j *Job) { q.PushLane(j, j.Spec.Type) }

// PushLane queues j in the named lane. Lanes are independent: a lane's
// head is the best of its jobs only.
func (q *Queue) PushLane(j *Job, lane string) {
	q.Remove(j.ID)
	it := &qitem{job: j, id: j.ID, lane: lane, prio: j.Spec.Priority, seq: j.Seq, notBefore: unixNano(j.NotBefore)}
	q.items[j.ID] = it
	if it.notBefore == 0 {
		q.pushReady(it)
		return
	}
	heap.Push(&q.delayed, it)
}

func (q *Queue) pushReady(it *qitem) {
	l := q.lanes[it.lane]
	if l == nil {
		l = &laneQ{}
		q.lanes[it.lane] = l
		q.names = nil
	}
	i, found := slices.BinarySearchFunc(l.levels, it.prio, func(v *level, p int) int { return cmp.Compare(p, v.prio) })
	if !found {
		l.levels = slices.Insert(l.levels, i, &level{prio: it.prio})
	}
	v := l.levels[i]
	it.isReady = true
	if n := len(v.fifo); n > v.head && v.fifo[n-1].seq > it.seq {
		v.late.push(lateItem{seq: it.seq, it: it})
	} else {
		v.fifo = append(v.fifo, it)
	}
	v.n++
	l.n++
}

// Remove takes id out of the queue and reports whether it was there.
func (q *Queue) Remove(id string) bool {
	it, ok := q.items[id]
	if !ok {
		return false
	}
	delete(q.items, id)
	if !it.isReady {
		heap.Remove(&q.delayed, it.index)
		return true
	}
	it.removed = true
	l := q.lanes[it.lane]
	l.n--
	if l.n == 0 {
		delete(q.lanes, it.lane)
		q.names = nil
		return true
	}
	for i, v := range l.levels {
		if v.prio == it.prio {
			v.n--
			if v.n == 0 {
				l.levels = slices.Delete(l.levels, i, i+1)
			}
			break
		}
	}
	return true
}

// top returns the level's best job, dropping removed ones from the heads.
func (v *level) top() *qitem {
	for v.head < len(v.fifo) && v.fifo[v.head].removed {
		v.fifo[v.head] = nil
		v.head++
	}
	if v.head == len(v.fifo) {
		v.fifo, v.head = v.fifo[:0], 0
	} else if v.head > 1024 && v.head > len(v.fifo)/2 {
		v.fifo = v.fifo[:copy(v.fifo, v.fifo[v.head:])]
		clear(v.fifo[len(v.fifo):cap(v.fifo)])
		v.head = 0
	}
	for len(v.late) > 0 && v.late[0].it.removed {
		v.late.pop()
	}
	var best *qitem
	if v.head < len(v.fifo) {
		best = v.fifo[v.head]
	}
	if len(v.late) > 0 && (best == nil || v.late[0].seq < best.seq) {
		best = v.late[0].it
	}
	return best
}

// unixNano returns t in Unix nanoseconds, 0 for the zero time, clamped to
// what an int64 holds (years 1678 to 2262).
func unixNano(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Year() >= 2262:
		return math.MaxInt64
	case t.Year() <= 1678:
		return 1
	}
	return max(t.UnixNano(), 1)
}

// Promote makes every delayed job whose time has come ready, and returns the
// earliest not-before time still in the future (zero when none).
func (q *Queue) Promote(now time.Time) time.Time {
	for q.delayed.Len() > 0 {
		it := q.delayed[0]
		if it.notBefore > unixNano(now) {
			return time.Unix(0, it.notBefore)
		}
		heap.Pop(&q.delayed)
		q.pushReady(it)
	}
	return time.Time{}
}

// Head returns the best ready job of the lane without removing it.
func (q *Queue) Head(lane string) (id string, prio int, seq uint64, ok bool) {
	l := q.lanes[lane]
	if l == nil {
		return "", 0, 0, false
	}
	it := l.levels[0].top()
	return it.id, it.prio, it.seq, true
}

// Pop removes and returns the best ready job of the lane.
func (q *Queue) Pop(lane string) (*Job, bool) {
	l := q.lanes[lane]
	if l == nil {
		return nil, false
	}
	it := l.levels[0].top()
	q.Remove(it.id)
	return it.job, true
}

// ReadyTypes returns the lanes that have ready jobs, sorted. The slice is
// the queue's own: the caller must not change it, and it is valid until
// the queue next changes.
func (q *Queue) ReadyTypes() []string {
	if q.names == nil {
		q.names = slices.Sorted(maps.Keys(q.lanes))
	}
	return q.names
}

// Contains reports whether id is queued (ready or delayed).
func (q *Queue) Contains(id string) bool { _, ok := q.items[id]; return ok }

// Len returns the number of queued jobs, ready and delayed.
func (q *Queue) Len() int { return len(q.items) }

// Ready returns the number of ready jobs in the lane.
func (q *Queue) Ready(lane string) int {
	if l := q.lanes[lane]; l != nil {
		return l.n
	}
	return 0
}

// Before reports whether a job (prio a, seq as) goes before (prio b, seq bs).
func Before(a int, as uint64, b int, bs uint64) bool {
	if a != b {
		return a > b
	}
	return as < bs
}

// lateHeap is a level's min-heap by Seq of jobs pushed out of order. The
// Seq sits beside the pointer, so comparisons touch no item.
type lateHeap []lateItem

type lateItem struct {
	seq uint64
	it  *qitem
}

func (h *lateHeap) push(x lateItem) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p].seq <= s[i].seq {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *lateHeap) pop() {
	s := *h
	n := len(s) - 1
	s[0] = s[n]
	s[n] = lateItem{}
	s = s[:n]
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && s[c+1].seq < s[c].seq {
			c++
		}
		if s[i].seq <= s[c].seq {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
}

type delayedHeap []*qitem

func (h delayedHeap) Len() int { return len(h) }
func (h delayedHeap) Less(i, j int) bool {
	if h[i].notBefore != h[j].notBefore {
		return h[i].notBefore < h[j].notBefore
	}
	return h[i].seq < h[j].seq
}
func (h delayedHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *delayedHeap) Push(x any) {
	it := x.(*qitem)
	it.index = len(*h)
	it.isReady = false
	*h = append(*h, it)
}
func (h *delayedHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}
