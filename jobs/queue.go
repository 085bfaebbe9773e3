package jobs

import (
	"container/heap"
	"slices"
	"time"
)

// Queue holds the IDs of pending jobs, one ready heap per type (higher
// priority first, then lower Seq: FIFO among equals) and one delayed heap
// ordered by not-before time. It is not safe for concurrent use: the master
// owns it under its lock.
type Queue struct {
	items   map[string]*qitem
	ready   map[string]*readyHeap
	delayed delayedHeap
}

type qitem struct {
	id        string
	typ       string
	prio      int
	seq       uint64
	notBefore time.Time
	index     int // in whichever heap holds it
	isReady   bool
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	return &Queue{items: make(map[string]*qitem), ready: make(map[string]*readyHeap)}
}

// Push queues j (which must be pending) in the lane of its type. A job
// already queued is moved to its new place.
func (q *Queue) Push(j *Job) { q.PushLane(j, j.Spec.Type) }

// PushLane queues j in the named lane. Lanes are independent ready heaps:
// the master puts jobs that share every dispatch constraint (type, tags,
// limit key) in one lane, so a lane's head is runnable exactly when the
// whole lane is.
func (q *Queue) PushLane(j *Job, lane string) {
	q.Remove(j.ID)
	it := &qitem{id: j.ID, typ: lane, prio: j.Spec.Priority, seq: j.Seq, notBefore: j.NotBefore}
	q.items[j.ID] = it
	if it.notBefore.IsZero() {
		q.pushReady(it)
		return
	}
	heap.Push(&q.delayed, it)
}

func (q *Queue) pushReady(it *qitem) {
	h := q.ready[it.typ]
	if h == nil {
		h = &readyHeap{}
		q.ready[it.typ] = h
	}
	it.isReady = true
	heap.Push(h, it)
}

// Remove takes id out of the queue and reports whether it was there.
func (q *Queue) Remove(id string) bool {
	it, ok := q.items[id]
	if !ok {
		return false
	}
	delete(q.items, id)
	if it.isReady {
		h := q.ready[it.typ]
		heap.Remove(h, it.index)
		if h.Len() == 0 {
			delete(q.ready, it.typ)
		}
	} else {
		heap.Remove(&q.delayed, it.index)
	}
	return true
}

// Promote makes every delayed job whose time has come ready, and returns the
// earliest not-before time still in the future (zero when none).
func (q *Queue) Promote(now time.Time) time.Time {
	for q.delayed.Len() > 0 {
		it := q.delayed[0]
		if it.notBefore.After(now) {
			return it.notBefore
		}
		heap.Pop(&q.delayed)
		q.pushReady(it)
	}
	return time.Time{}
}

// Head returns the best ready job of type typ without removing it.
func (q *Queue) Head(typ string) (id string, prio int, seq uint64, ok bool) {
	h := q.ready[typ]
	if h == nil || h.Len() == 0 {
		return "", 0, 0, false
	}
	it := (*h)[0]
	return it.id, it.prio, it.seq, true
}

// ReadyTypes returns the types that have ready jobs, sorted.
func (q *Queue) ReadyTypes() []string {
	ts := make([]string, 0, len(q.ready))
	for t := range q.ready {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// Contains reports whether id is queued (ready or delayed).
func (q *Queue) Contains(id string) bool { _, ok := q.items[id]; return ok }

// Len returns the number of queued jobs, ready and delayed.
func (q *Queue) Len() int { return len(q.items) }

// Ready returns the number of ready jobs of type typ.
func (q *Queue) Ready(typ string) int {
	if h := q.ready[typ]; h != nil {
		return h.Len()
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

type readyHeap []*qitem

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return Before(h[i].prio, h[i].seq, h[j].prio, h[j].seq) }
func (h readyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *readyHeap) Push(x any)        { it := x.(*qitem); it.index = len(*h); *h = append(*h, it) }
func (h *readyHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}

type delayedHeap []*qitem

func (h delayedHeap) Len() int { return len(h) }
func (h delayedHeap) Less(i, j int) bool {
	if !h[i].notBefore.Equal(h[j].notBefore) {
		return h[i].notBefore.Before(h[j].notBefore)
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
