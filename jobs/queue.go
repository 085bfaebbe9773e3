package jobs

import (
	"cmp"
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
//
// A queue of a million jobs is the master's biggest structure after the
// jobs themselves, so a queued job costs little: a 24-byte item, its
// pointer in its level's FIFO and its slot in a paged index by Seq (the
// jobs whose ID is their Seq in decimal, as the master's are; other IDs go
// in a map). A delayed job's lane and not-before time are in its heap
// entry, not in the item.
type Queue struct {
	pages map[uint64]*qpage // items of jobs whose ID is their Seq, by Seq/qpageLen
	// The page used last: pushes and pops mostly walk Seqs in order.
	lastPage *qpage
	lastKey  uint64
	other    map[string]*qitem // items of jobs whose ID is not their Seq
	n        int               // queued jobs, ready and delayed
	lanes    map[string]*laneQ // lanes with ready jobs
	names    []string          // sorted keys of lanes; nil when it must be rebuilt
	delayed  delayedHeap
	// delayedIn counts the delayed jobs by lane (lanes with none have no
	// entry), so a lane's delayed jobs are counted without a walk.
	delayedIn map[string]int
}

// qitem is one push of a job. A new push makes a new item, so that the
// FIFO slot of an earlier push, removed, is told from the current one.
type qitem struct {
	job     *Job
	lvl     *level // while ready: its level; nil while delayed
	index   int32  // while delayed: its place in the delayed heap
	removed bool   // taken out of its level; skipped at the head
}

// qpageLen is the slots of an index page: 255, so that a page and its
// count fill exactly 2 KiB, a size class of Go's allocator.
const qpageLen = 255

type qpage struct {
	items [qpageLen]*qitem
	n     int
}

type laneQ struct {
	name   string
	levels []*level // by priority, highest first; none empty
	n      int      // ready jobs not removed
}

type level struct {
	prio int
	lane *laneQ
	// The FIFO, in Seq order: a list of blocks, from the one at the
	// head (its items before hi are gone) to the one at the tail.
	head, tail *fifoBlock
	hi         int
	late       lateHeap // pushed with a Seq below the FIFO's tail
	n          int      // jobs not removed
}

// fifoBlock is a piece of a level's FIFO. A FIFO grows by blocks, each
// twice the size of the one before up to fifoMaxBlock items, so that a
// deep queue is never copied to grow, and its head's blocks are freed as
// they are passed.
type fifoBlock struct {
	items []*qitem // appended so far; cap is the block's size
	next  *fifoBlock
}

// The sizes of FIFO blocks, in items.
const (
	fifoFirstBlock = 4
	fifoMaxBlock   = 1024
)

// fifoTail returns the last job in the FIFO that is not yet past its
// head, or nil.
func (v *level) fifoTail() *qitem {
	t := v.tail
	if t == nil || len(t.items) == 0 || (t == v.head && v.hi == len(t.items)) {
		return nil
	}
	return t.items[len(t.items)-1]
}

// fifoPush appends it to the FIFO.
func (v *level) fifoPush(it *qitem) {
	t := v.tail
	switch {
	case t == nil:
		t = &fifoBlock{items: make([]*qitem, 0, fifoFirstBlock)}
		v.head, v.tail, v.hi = t, t, 0
	case len(t.items) == cap(t.items):
		t.next = &fifoBlock{items: make([]*qitem, 0, min(2*cap(t.items), fifoMaxBlock))}
		t = t.next
		v.tail = t
	}
	t.items = append(t.items, it)
}

// fifoHead returns the first job in the FIFO not removed, or nil,
// dropping removed ones and the blocks they leave empty.
func (v *level) fifoHead() *qitem {
	for h := v.head; h != nil; h = v.head {
		for v.hi < len(h.items) {
			if it := h.items[v.hi]; !it.removed {
				return it
			}
			h.items[v.hi] = nil
			v.hi++
		}
		if h.next == nil {
			// The tail, all gone: start it over.
			h.items, v.hi = h.items[:0], 0
			return nil
		}
		v.head, v.hi = h.next, 0
	}
	return nil
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	return &Queue{pages: make(map[uint64]*qpage), lanes: make(map[string]*laneQ)}
}

// seqID returns the Seq whose decimal form id is (no sign, no leading
// zero), if it is one.
func seqID(id string) (uint64, bool) {
	if len(id) == 0 || len(id) > 20 || id[0] == '0' {
		return 0, false
	}
	var s uint64
	for i := 0; i < len(id); i++ {
		c := id[i] - '0'
		if c > 9 {
			return 0, false
		}
		if s > (math.MaxUint64-uint64(c))/10 {
			return 0, false
		}
		s = s*10 + uint64(c)
	}
	return s, true
}

// page returns the index page of key; when there is none, it makes one
// if mk is set, else it returns nil.
func (q *Queue) page(key uint64, mk bool) *qpage {
	if q.lastPage != nil && q.lastKey == key {
		return q.lastPage
	}
	p := q.pages[key]
	if p == nil {
		if !mk {
			return nil
		}
		p = new(qpage)
		q.pages[key] = p
	}
	q.lastPage, q.lastKey = p, key
	return p
}

// item returns the queued item of id, or nil; with take, it also takes
// it out of the index. A slot of a page holds only an item whose job's ID
// was the slot's Seq in decimal when it was pushed.
func (q *Queue) item(id string, take bool) *qitem {
	if s, ok := seqID(id); ok {
		key := s / qpageLen
		if p := q.page(key, false); p != nil {
			slot := &p.items[s%qpageLen]
			if it := *slot; it != nil {
				if take {
					*slot = nil
					if p.n--; p.n == 0 {
						delete(q.pages, key)
						q.lastPage = nil
					}
				}
				return it
			}
		}
	}
	it := q.other[id]
	if it != nil && take {
		delete(q.other, id)
	}
	return it
}

// index files it under its job's ID.
func (q *Queue) index(it *qitem) {
	j := it.job
	if s, ok := seqID(j.ID); ok && s == j.Seq {
		p := q.page(s/qpageLen, true)
		p.items[s%qpageLen] = it
		p.n++
		return
	}
	if q.other == nil {
		q.other = make(map[string]*qitem)
	}
	q.other[j.ID] = it
}

// Push queues j (which must be pending) in the lane of its type. A job
// already queued is moved to its new place.
func (q *Queue) Push(j *Job) { q.PushLane(j, j.Spec.Type) }

// PushLane queues j in the named lane. Lanes are independent: a lane's
// head is the best of its jobs only. A queued job's ID, Seq and priority
// must not change.
func (q *Queue) PushLane(j *Job, lane string) {
	q.Remove(j.ID)
	it := &qitem{job: j}
	q.index(it)
	q.n++
	if nb := unixNano(j.NotBefore); nb != 0 {
		q.delayed.push(delayedItem{notBefore: nb, seq: j.Seq, prio: j.Spec.Priority, lane: lane, it: it})
		q.countDelayed(lane, 1)
		return
	}
	q.pushReady(it, lane, j.Spec.Priority)
}

func (q *Queue) pushReady(it *qitem, lane string, prio int) {
	l := q.lanes[lane]
	if l == nil {
		l = &laneQ{name: lane}
		q.lanes[lane] = l
		q.names = nil
	}
	i, found := slices.BinarySearchFunc(l.levels, prio, func(v *level, p int) int { return cmp.Compare(p, v.prio) })
	if !found {
		l.levels = slices.Insert(l.levels, i, &level{prio: prio, lane: l})
	}
	v := l.levels[i]
	it.lvl = v
	if t := v.fifoTail(); t != nil && t.job.Seq > it.job.Seq {
		v.late.push(lateItem{seq: it.job.Seq, it: it})
	} else {
		v.fifoPush(it)
	}
	v.n++
	l.n++
}

// Remove takes id out of the queue and reports whether it was there.
func (q *Queue) Remove(id string) bool {
	it := q.item(id, true)
	if it == nil {
		return false
	}
	q.n--
	v := it.lvl
	if v == nil {
		q.countDelayed(q.delayed[it.index].lane, -1)
		q.delayed.remove(int(it.index))
		return true
	}
	it.removed = true
	l := v.lane
	l.n--
	if l.n == 0 {
		delete(q.lanes, l.name)
		q.names = nil
		return true
	}
	v.n--
	if v.n == 0 {
		i := slices.Index(l.levels, v)
		l.levels = slices.Delete(l.levels, i, i+1)
	}
	return true
}

// top returns the level's best job, dropping removed ones from the heads.
func (v *level) top() *qitem {
	best := v.fifoHead()
	for len(v.late) > 0 && v.late[0].it.removed {
		v.late.pop()
	}
	if len(v.late) > 0 && (best == nil || v.late[0].seq < best.job.Seq) {
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
	for len(q.delayed) > 0 {
		d := q.delayed[0]
		if d.notBefore > unixNano(now) {
			return time.Unix(0, d.notBefore)
		}
		q.delayed.remove(0)
		q.countDelayed(d.lane, -1)
		q.pushReady(d.it, d.lane, d.prio)
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
	return it.job.ID, it.lvl.prio, it.job.Seq, true
}

// Pop removes and returns the best ready job of the lane.
func (q *Queue) Pop(lane string) (*Job, bool) {
	l := q.lanes[lane]
	if l == nil {
		return nil, false
	}
	it := l.levels[0].top()
	q.Remove(it.job.ID)
	return it.job, true
}

// ReadyLanes returns how many lanes have ready jobs.
func (q *Queue) ReadyLanes() int { return len(q.lanes) }

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
func (q *Queue) Contains(id string) bool { return q.item(id, false) != nil }

// Len returns the number of queued jobs, ready and delayed.
func (q *Queue) Len() int { return q.n }

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

// delayedHeap is the delayed jobs, a min-heap by not-before time, then
// Seq. An entry keeps what the job needs to become ready: its lane and
// priority as pushed.
type delayedHeap []delayedItem

type delayedItem struct {
	notBefore int64 // Unix nanoseconds
	seq       uint64
	prio      int
	lane      string
	it        *qitem
}

func (d *delayedItem) less(e *delayedItem) bool {
	if d.notBefore != e.notBefore {
		return d.notBefore < e.notBefore
	}
	return d.seq < e.seq
}

func (h *delayedHeap) push(x delayedItem) {
	*h = append(*h, x)
	h.up(len(*h) - 1)
}

// remove takes out the entry at i.
func (h *delayedHeap) remove(i int) {
	s := *h
	n := len(s) - 1
	if i != n {
		s[i] = s[n]
		s[i].it.index = int32(i)
	}
	s[n] = delayedItem{}
	*h = s[:n]
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h delayedHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].less(&h[p]) {
			break
		}
		h[p], h[i] = h[i], h[p]
		h[i].it.index = int32(i)
		i = p
	}
	h[i].it.index = int32(i)
}

// down sifts i down and reports whether it moved.
func (h delayedHeap) down(i0 int) bool {
	i, n := i0, len(h)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].less(&h[c]) {
			c++
		}
		if !h[c].less(&h[i]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		h[i].it.index = int32(i)
		i = c
	}
	h[i].it.index = int32(i)
	return i > i0
}
