package jobs

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

// qjob makes a pending job for queue tests.
func qjob(id, typ string, prio int, seq uint64, notBefore time.Time) *Job {
	return &Job{ID: id, Seq: seq, Spec: Spec{Type: typ, Priority: prio}, State: Pending, NotBefore: notBefore}
}

// wantDrain drains typ's ready jobs from q and fails unless they come in
// the order want.
func wantDrain(tb testing.TB, q *Queue, typ string, want ...string) {
	tb.Helper()
	if got := drain(tb, q, typ); !slices.Equal(got, want) {
		tb.Errorf("type %s drained %v, want %v", typ, got, want)
	}
}

// wantEmpty fails unless q holds no job.
func wantEmpty(tb testing.TB, q *Queue) {
	tb.Helper()
	if n := q.Len(); n != 0 {
		tb.Errorf("Len = %d, want 0", n)
	}
}

// queueOf makes a queue and pushes js into it, in order.
func queueOf(js ...*Job) *Queue {
	q := NewQueue()
	for _, j := range js {
		q.Push(j)
	}
	return q
}

// pop takes the head of typ's ready heap (there is no Pop: Head then Remove).
func pop(tb testing.TB, q *Queue, typ string) (string, bool) {
	tb.Helper()
	id, _, _, ok := q.Head(typ)
	if !ok {
		return "", false
	}
	if !q.Remove(id) {
		tb.Fatalf("Remove(%q) of the head returned false", id)
	}
	return id, true
}

// drain pops every ready job of typ.
func drain(tb testing.TB, q *Queue, typ string) []string {
	tb.Helper()
	var ids []string
	for {
		id, ok := pop(tb, q, typ)
		if !ok {
			return ids
		}
		ids = append(ids, id)
	}
}

func TestQueuePriorityThenFIFO(t *testing.T) {
	q := NewQueue()
	// Interleave priorities; Seq grows with push order.
	prios := []int{0, 5, -1, 5, 0, 10, -1, 5, 0, 10, 0, 5}
	type ref struct {
		id   string
		prio int
		seq  uint64
	}
	var want []ref
	for i, p := range prios {
		seq := uint64(i + 1)
		id := fmt.Sprintf("j%02d", seq)
		q.Push(qjob(id, "t", p, seq, time.Time{}))
		want = append(want, ref{id, p, seq})
	}
	slices.SortStableFunc(want, func(a, b ref) int { return cmp.Compare(b.prio, a.prio) })
	if q.Len() != len(prios) || q.Ready("t") != len(prios) {
		t.Fatalf("Len = %d, Ready = %d, want %d", q.Len(), q.Ready("t"), len(prios))
	}
	for i, w := range want {
		id, prio, seq, ok := q.Head("t")
		if !ok || id != w.id || prio != w.prio || seq != w.seq {
			t.Fatalf("pop %d: Head = (%q, %d, %d, %v), want (%q, %d, %d)", i, id, prio, seq, ok, w.id, w.prio, w.seq)
		}
		q.Remove(id)
	}
	wantEmpty(t, q)
	if _, _, _, ok := q.Head("t"); ok {
		t.Error("Head of an empty queue reports ok")
	}
}

func TestQueueFIFOBySeqNotPushOrder(t *testing.T) {
	// Seq decides among equal priorities, not the order of pushes (a
	// requeued job keeps its old Seq and so its place).
	q := NewQueue()
	for _, seq := range []uint64{5, 3, 9, 1, 7} {
		q.Push(qjob(fmt.Sprint("s", seq), "t", 0, seq, time.Time{}))
	}
	wantDrain(t, q, "t", "s1", "s3", "s5", "s7", "s9")
}

func TestBefore(t *testing.T) {
	tests := []struct {
		a      int
		as     uint64
		b      int
		bs     uint64
		before bool
	}{
		{1, 10, 0, 1, true},
		{0, 1, 1, 10, false},
		{0, 1, 0, 2, true},
		{0, 2, 0, 1, false},
		{0, 1, 0, 1, false},
		{-1, 1, -2, 1, true},
	}
	for _, tt := range tests {
		if got := Before(tt.a, tt.as, tt.b, tt.bs); got != tt.before {
			t.Errorf("Before(%d,%d,%d,%d) = %v, want %v", tt.a, tt.as, tt.b, tt.bs, got, tt.before)
		}
	}
}

func TestQueuePerType(t *testing.T) {
	q := queueOf(
		qjob("a1", "a", 0, 1, time.Time{}),
		qjob("b1", "b", 9, 2, time.Time{}),
		qjob("a2", "a", 1, 3, time.Time{}),
		qjob("c1", "c", 0, 4, time.Time{}),
		qjob("b2", "b", 0, 5, time.Time{}),
	)

	if got, want := q.ReadyTypes(), []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadyTypes = %v, want %v", got, want)
	}
	for typ, want := range map[string]int{"a": 2, "b": 2, "c": 1, "d": 0} {
		if got := q.Ready(typ); got != want {
			t.Errorf("Ready(%q) = %d, want %d", typ, got, want)
		}
	}
	wantDrain(t, q, "a", "a2", "a1")
	// Draining a leaves b and c alone, and a is no longer a ready type.
	if got, want := q.ReadyTypes(), []string{"b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ReadyTypes = %v, want %v", got, want)
	}
	wantDrain(t, q, "b", "b1", "b2")
	if _, _, _, ok := q.Head("d"); ok {
		t.Error("Head of unknown type reports ok")
	}
	if q.Len() != 1 {
		t.Errorf("Len = %d, want 1", q.Len())
	}
}

func TestQueueReadyTypesSorted(t *testing.T) {
	q := NewQueue()
	if got := q.ReadyTypes(); len(got) != 0 {
		t.Fatalf("ReadyTypes of empty queue = %v", got)
	}
	types := []string{"zeta", "alpha", "mid", "Beta", "alpha2", "_x"}
	for i, typ := range types {
		q.Push(qjob(fmt.Sprint("j", i), typ, 0, uint64(i), time.Time{}))
	}
	// A delayed-only type is not ready.
	q.Push(qjob("late", "delayed-only", 0, 100, t0.Add(time.Hour)))
	want := slices.Clone(types)
	slices.Sort(want)
	if got := q.ReadyTypes(); !reflect.DeepEqual(got, want) {
		t.Errorf("ReadyTypes = %v, want %v", got, want)
	}
}

func TestQueueRemove(t *testing.T) {
	q := queueOf(
		qjob("r1", "t", 0, 1, time.Time{}),
		qjob("r2", "t", 0, 2, time.Time{}),
		qjob("r3", "t", 0, 3, time.Time{}),
		qjob("d1", "t", 0, 4, t0.Add(time.Minute)),
		qjob("d2", "t", 0, 5, t0.Add(2*time.Minute)),
	)

	tests := []struct {
		id   string
		ok   bool
		len  int
		desc string
	}{
		{"r2", true, 4, "ready, middle"},
		{"r2", false, 4, "already removed"},
		{"nope", false, 4, "never queued"},
		{"d1", true, 3, "delayed, head of the delayed heap"},
		{"d1", false, 3, "delayed, already removed"},
	}
	for _, tt := range tests {
		if got := q.Remove(tt.id); got != tt.ok {
			t.Errorf("%s: Remove(%q) = %v, want %v", tt.desc, tt.id, got, tt.ok)
		}
		if q.Len() != tt.len {
			t.Errorf("%s: Len = %d, want %d", tt.desc, q.Len(), tt.len)
		}
		if q.Contains(tt.id) {
			t.Errorf("%s: Contains(%q) after Remove", tt.desc, tt.id)
		}
	}
	wantDrain(t, q, "t", "r1", "r3")
	// d1 was removed while delayed: promoting past its time must not bring it back.
	if next := q.Promote(t0.Add(time.Hour)); !next.IsZero() {
		t.Errorf("Promote = %v, want zero", next)
	}
	wantDrain(t, q, "t", "d2")
	wantEmpty(t, q)
}

func TestQueuePushMoves(t *testing.T) {
	q := queueOf(
		qjob("a", "t", 0, 1, time.Time{}),
		qjob("b", "t", 0, 2, time.Time{}),
		qjob("c", "t", 0, 3, time.Time{}),
	)

	// Same id again, higher priority: moves to the front, no duplicate.
	q.Push(qjob("c", "t", 5, 3, time.Time{}))
	if q.Len() != 3 || q.Ready("t") != 3 {
		t.Fatalf("after re-push: Len = %d, Ready = %d, want 3", q.Len(), q.Ready("t"))
	}
	if id, prio, _, _ := q.Head("t"); id != "c" || prio != 5 {
		t.Fatalf("Head = %q prio %d, want c prio 5", id, prio)
	}

	// Same id, now delayed: leaves the ready heap.
	q.Push(qjob("a", "t", 0, 1, t0.Add(time.Minute)))
	if q.Len() != 3 || q.Ready("t") != 2 {
		t.Fatalf("after delaying a: Len = %d, Ready = %d, want 3, 2", q.Len(), q.Ready("t"))
	}

	// Same id, other type.
	q.Push(qjob("b", "u", 0, 2, time.Time{}))
	if q.Ready("t") != 1 || q.Ready("u") != 1 || q.Len() != 3 {
		t.Fatalf("after retyping b: Ready(t) = %d, Ready(u) = %d, Len = %d", q.Ready("t"), q.Ready("u"), q.Len())
	}

	// Delayed again with a later time: still one entry, moved in the delayed heap.
	q.Push(qjob("a", "t", 0, 1, t0.Add(3*time.Minute)))
	if q.Len() != 3 {
		t.Fatalf("Len = %d, want 3", q.Len())
	}
	if next := q.Promote(t0.Add(2 * time.Minute)); !next.Equal(t0.Add(3 * time.Minute)) {
		t.Fatalf("Promote = %v, want %v", next, t0.Add(3*time.Minute))
	}
	if q.Ready("t") != 1 {
		t.Fatalf("a promoted at its old time")
	}
	q.Promote(t0.Add(3 * time.Minute))
	wantDrain(t, q, "t", "c", "a")
	wantDrain(t, q, "u", "b")
	wantEmpty(t, q)
}

func TestQueueDelayed(t *testing.T) {
	q := queueOf(
		qjob("now", "t", 0, 1, time.Time{}),
		qjob("later", "t", 9, 2, t0.Add(10*time.Second)),
		qjob("soon", "t", 1, 3, t0.Add(5*time.Second)),
		qjob("soon2", "t", 1, 4, t0.Add(5*time.Second)),
		qjob("other", "u", 0, 5, t0.Add(5*time.Second)),
	)

	if q.Len() != 5 || q.Ready("t") != 1 || !q.Contains("later") {
		t.Fatalf("Len = %d, Ready = %d, Contains(later) = %v", q.Len(), q.Ready("t"), q.Contains("later"))
	}
	if got, want := q.ReadyTypes(), []string{"t"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadyTypes = %v, want %v", got, want)
	}
	if id, _, _, _ := q.Head("t"); id != "now" {
		t.Fatalf("Head = %q, want now (delayed jobs are not ready)", id)
	}

	steps := []struct {
		at    time.Duration
		next  time.Duration // -1: zero time
		readT int
		readU int
	}{
		{0, 5 * time.Second, 1, 0},
		{5*time.Second - 1, 5 * time.Second, 1, 0},
		{5 * time.Second, 10 * time.Second, 3, 1}, // not-before == now is due
		{9 * time.Second, 10 * time.Second, 3, 1},
		{time.Minute, -1, 4, 1},
		{time.Hour, -1, 4, 1},
	}
	for _, s := range steps {
		next := q.Promote(t0.Add(s.at))
		switch {
		case s.next < 0 && !next.IsZero():
			t.Errorf("Promote(+%v) = %v, want zero", s.at, next)
		case s.next >= 0 && !next.Equal(t0.Add(s.next)):
			t.Errorf("Promote(+%v) = %v, want +%v", s.at, next, s.next)
		}
		if q.Ready("t") != s.readT || q.Ready("u") != s.readU {
			t.Errorf("after Promote(+%v): Ready(t) = %d, Ready(u) = %d, want %d, %d", s.at, q.Ready("t"), q.Ready("u"), s.readT, s.readU)
		}
	}
	// Promoted jobs take their place by priority, not by promotion time.
	wantDrain(t, q, "t", "later", "soon", "soon2", "now")
	if q.Len() != 1 {
		t.Errorf("Len = %d, want 1", q.Len())
	}
}

// refItem is the reference model's view of a queued job.
type refItem struct {
	id   string
	typ  string
	prio int
	seq  uint64
	nb   time.Time
	rdy  bool
}

// TestQueueRandomized checks the queue against a plain slice model under a
// seeded random mix of pushes (new and moves), removals, promotions and pops.
func TestQueueRandomized(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 42, 1234} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			queueRandomized(t, seed, 1000)
		})
	}
}

// queueModel is the reference: a slice of items, heads found by linear scan.
type queueModel struct {
	items []*refItem
}

func (m *queueModel) find(id string) int {
	return slices.IndexFunc(m.items, func(it *refItem) bool { return it.id == id })
}

func (m *queueModel) put(it *refItem) {
	if i := m.find(it.id); i >= 0 {
		m.items[i] = it
		return
	}
	m.items = append(m.items, it)
}

func (m *queueModel) remove(id string) {
	if i := m.find(id); i >= 0 {
		m.items = slices.Delete(m.items, i, i+1)
	}
}

// head is the best ready item of typ, or nil.
func (m *queueModel) head(typ string) *refItem {
	var best *refItem
	for _, it := range m.items {
		if it.typ == typ && it.rdy && (best == nil || Before(it.prio, it.seq, best.prio, best.seq)) {
			best = it
		}
	}
	return best
}

// sorted returns the items of typ in pop order: priority desc, then seq.
func (m *queueModel) sorted(typ string) []string {
	var want []*refItem
	for _, it := range m.items {
		if it.typ == typ {
			want = append(want, it)
		}
	}
	slices.SortFunc(want, func(a, b *refItem) int {
		if c := cmp.Compare(b.prio, a.prio); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	ids := make([]string, len(want))
	for i, it := range want {
		ids[i] = it.id
	}
	return ids
}

func queueRandomized(t *testing.T, seed uint64, pushes int) {
	r := rand.New(rand.NewPCG(seed, seed*7919))
	types := []string{"a", "b", "c"}
	q := NewQueue()
	m := &queueModel{}
	now := t0
	var seq uint64

	check := func(step int) {
		t.Helper()
		if q.Len() != len(m.items) {
			t.Fatalf("step %d: Len = %d, model %d", step, q.Len(), len(m.items))
		}
		var wantTypes []string
		for _, typ := range types {
			n := 0
			for _, it := range m.items {
				if it.typ == typ && it.rdy {
					n++
				}
			}
			if q.Ready(typ) != n {
				t.Fatalf("step %d: Ready(%s) = %d, model %d", step, typ, q.Ready(typ), n)
			}
			checkLane(t, step, q, m, typ)
			if n > 0 {
				wantTypes = append(wantTypes, typ)
			}
			want := m.head(typ)
			id, prio, s, ok := q.Head(typ)
			if (want == nil) == ok || (want != nil && (id != want.id || prio != want.prio || s != want.seq)) {
				t.Fatalf("step %d: Head(%s) = (%q,%d,%d,%v), model %+v", step, typ, id, prio, s, ok, want)
			}
		}
		if got := q.ReadyTypes(); !slices.Equal(got, wantTypes) {
			t.Fatalf("step %d: ReadyTypes = %v, model %v", step, got, wantTypes)
		}
	}
	newItem := func(id string, s uint64) *refItem {
		it := &refItem{id: id, typ: types[r.IntN(len(types))], prio: r.IntN(5) - 2, seq: s}
		if r.IntN(3) == 0 {
			it.nb = now.Add(time.Duration(1+r.IntN(100)) * time.Second)
		} else {
			it.rdy = true
		}
		return it
	}
	push := func(it *refItem) {
		m.put(it)
		q.Push(qjob(it.id, it.typ, it.prio, it.seq, it.nb))
	}

	var popped, refPopped []string
	var moves, removes, emptyPops, promotes int
	for step := 0; step < pushes; {
		switch op := r.IntN(10); {
		case op < 5: // push a new job
			seq++
			// IDs of three kinds: the Seq in decimal (the master's, in
			// the queue's pages), other IDs, and other IDs that look
			// like a Seq (in its map).
			var id string
			switch r.IntN(3) {
			case 0:
				id = strconv.FormatUint(seq, 10)
			case 1:
				id = fmt.Sprint("j", seq)
			default:
				id = strconv.FormatUint(seq+1<<40, 10)
			}
			push(newItem(id, seq))
			step++
		case op < 6 && len(m.items) > 0: // re-push a queued job: a move
			old := m.items[r.IntN(len(m.items))]
			push(newItem(old.id, old.seq))
			moves++
		case op < 8 && len(m.items) > 0: // remove a random job
			id := m.items[r.IntN(len(m.items))].id
			if !q.Remove(id) {
				t.Fatalf("Remove(%q) = false for a queued job", id)
			}
			m.remove(id)
			removes++
		case op < 9: // pop one of a random type
			typ := types[r.IntN(len(types))]
			want := m.head(typ)
			var got string
			var ok bool
			if r.IntN(2) == 0 {
				got, ok = pop(t, q, typ) // Head, then Remove
			} else if j, jok := q.Pop(typ); jok {
				got, ok = j.ID, true
			}
			if want == nil {
				if ok {
					t.Fatalf("popped %q from %s, model has nothing ready", got, typ)
				}
				emptyPops++
				continue
			}
			m.remove(want.id)
			popped = append(popped, got)
			refPopped = append(refPopped, want.id)
		default: // time passes
			now = now.Add(time.Duration(r.IntN(20)) * time.Second)
			next := q.Promote(now)
			var wantNext time.Time
			for _, it := range m.items {
				if it.rdy {
					continue
				}
				if !it.nb.After(now) {
					it.rdy = true
				} else if wantNext.IsZero() || it.nb.Before(wantNext) {
					wantNext = it.nb
				}
			}
			if !next.Equal(wantNext) {
				t.Fatalf("Promote(%v) = %v, model %v", now, next, wantNext)
			}
			promotes++
		}
		check(step)
	}
	if !slices.Equal(popped, refPopped) {
		t.Fatalf("pop order differs from the model")
	}

	// Promote everything, then drain each type and compare with the model
	// sorted by (priority desc, seq asc).
	q.Promote(now.Add(24 * time.Hour))
	left := len(m.items)
	for _, typ := range types {
		if got, want := drain(t, q, typ), m.sorted(typ); !slices.Equal(got, want) {
			t.Fatalf("final drain of %s:\n got %v\nwant %v", typ, got, want)
		}
	}
	if q.Len() != 0 {
		t.Fatalf("Len = %d after draining everything", q.Len())
	}
	if len(q.pages) != 0 || len(q.other) != 0 || len(q.lanes) != 0 || len(q.delayed) != 0 || q.delayedIn != nil {
		t.Fatalf("drained, the queue holds %d index pages, %d other items, %d lanes, %d delayed, delayed counts %v",
			len(q.pages), len(q.other), len(q.lanes), len(q.delayed), q.delayedIn)
	}
	t.Logf("%d pushes, %d moves, %d removes, %d pops (%d on empty), %d promotes, %d drained at the end",
		pushes, moves, removes, len(popped), emptyPops, promotes, left)
}

func BenchmarkQueuePushPop(b *testing.B) {
	q := NewQueue()
	const depth = 10000
	for i := range depth {
		q.Push(qjob(fmt.Sprint("j", i), "t", i%7, uint64(i), time.Time{}))
	}
	seq := uint64(depth)
	for b.Loop() {
		// The popped job comes back as a new one (a job's ID and Seq do
		// not change while it is queued).
		j, _ := q.Pop("t")
		seq++
		j.Seq = seq
		j.ID = fmt.Sprint("n", seq)
		j.Spec.Priority = int(seq % 7)
		q.Push(j)
	}
}

// BenchmarkQueueDeep pushes and pops jobs of one priority through a queue
// 100,000 deep: the master's steady state under a big submit.
func BenchmarkQueueDeep(b *testing.B) {
	const depth = 100000
	js := make([]*Job, 2*depth)
	for i := range js {
		// IDs as the master makes them: the Seq in decimal.
		js[i] = qjob(strconv.Itoa(i+1), "t", 0, uint64(i+1), time.Time{})
	}
	q := NewQueue()
	for _, j := range js[:depth] {
		q.Push(j)
	}
	next := depth
	for b.Loop() {
		id, _, _, _ := q.Head("t")
		q.Remove(id)
		q.Push(js[next%len(js)])
		next++
		if next%len(js) == 0 {
			// Seqs wrap around: start over on a fresh queue.
			b.StopTimer()
			q = NewQueue()
			for _, j := range js[:depth] {
				q.Push(j)
			}
			next = depth
			b.StartTimer()
		}
	}
}

// TestQueueDeepFIFO runs a FIFO through many of its blocks: pushes in Seq
// order with the master's IDs, removals from the middle, pops, a drain to
// empty and a refill, checking the order against the sorted survivors.
func TestQueueDeepFIFO(t *testing.T) {
	q := NewQueue()
	live := map[uint64]bool{}
	var seq uint64
	push := func(n int) {
		for range n {
			seq++
			q.Push(qjob(strconv.FormatUint(seq, 10), "t", 0, seq, time.Time{}))
			live[seq] = true
		}
	}
	popCheck := func(n int) {
		t.Helper()
		for range n {
			want := uint64(0)
			for s := range live {
				if want == 0 || s < want {
					want = s
				}
			}
			j, ok := q.Pop("t")
			if want == 0 {
				if ok {
					t.Fatalf("popped %s from an empty lane", j.ID)
				}
				return
			}
			if !ok || j.Seq != want {
				t.Fatalf("popped %v (ok %v), want seq %d", j, ok, want)
			}
			delete(live, want)
		}
	}
	for round := range 3 {
		push(5000)
		for s := range live {
			if s%3 == uint64(round) {
				if !q.Remove(strconv.FormatUint(s, 10)) {
					t.Fatalf("Remove(%d) = false", s)
				}
				delete(live, s)
			}
		}
		popCheck(1000)
		if q.Len() != len(live) || q.Ready("t") != len(live) {
			t.Fatalf("round %d: Len %d, Ready %d, want %d", round, q.Len(), q.Ready("t"), len(live))
		}
	}
	popCheck(len(live) + 1)
	if q.Len() != 0 || len(q.pages) != 0 || len(q.lanes) != 0 {
		t.Fatalf("drained: Len %d, %d pages, %d lanes", q.Len(), len(q.pages), len(q.lanes))
	}
	push(3)
	popCheck(4)
}

// TestQueueSizes keeps a queued job cheap: the item, and index pages that
// fill a size class of Go's allocator exactly.
func TestQueueSizes(t *testing.T) {
	if n := unsafe.Sizeof(qitem{}); n != 24 {
		t.Errorf("qitem is %d bytes, want 24", n)
	}
	if n := unsafe.Sizeof(qpage{}); n != 2048 {
		t.Errorf("qpage is %d bytes, want 2048", n)
	}
}

// TestQueueDelayedJobs: DelayedJobs gives a lane's delayed jobs and no
// other (not its ready ones, not another lane's), and none once they are
// promoted or removed.
func TestQueueDelayedJobs(t *testing.T) {
	q := queueOf(
		qjob("ready", "t", 0, 1, time.Time{}),
		qjob("t-soon", "t", 0, 2, t0.Add(5*time.Second)),
		qjob("t-later", "t", 0, 3, t0.Add(10*time.Second)),
		qjob("u-soon", "u", 0, 4, t0.Add(5*time.Second)),
	)
	ids := func(lane string) []string {
		var out []string
		for _, j := range q.DelayedJobs(lane) {
			out = append(out, j.ID)
		}
		slices.Sort(out)
		return out
	}
	if got := ids("t"); !slices.Equal(got, []string{"t-later", "t-soon"}) {
		t.Fatalf("DelayedJobs(t) = %v", got)
	}
	if got := ids("u"); !slices.Equal(got, []string{"u-soon"}) {
		t.Fatalf("DelayedJobs(u) = %v", got)
	}
	if got := ids("none"); got != nil {
		t.Fatalf("DelayedJobs(none) = %v", got)
	}
	q.Remove("t-later")
	q.Promote(t0.Add(5 * time.Second))
	if got := ids("t"); got != nil {
		t.Fatalf("DelayedJobs(t) after the promotion and the removal = %v", got)
	}
}
