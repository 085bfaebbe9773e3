package master

// fifo is a first-in, first-out queue over one slice: push appends, pop
// takes from a head index, and the slice is compacted only once more than
// half of it (and over 1024 entries) is popped, so both cost O(1)
// amortized. (Popping by copying the rest forward cost a copy of the
// whole queue per pop: with 2,700 fresh leases held, 11 % of the
// master's CPU at 4 workers x 1 slot.)
type fifo[T any] struct {
	q    []T
	head int
}

func (f *fifo[T]) push(e T) { f.q = append(f.q, e) }

func (f *fifo[T]) len() int { return len(f.q) - f.head }

// front returns the oldest entry; the queue must not be empty.
func (f *fifo[T]) front() *T { return &f.q[f.head] }

// pop removes the oldest entry and returns it; the queue must not be
// empty.
func (f *fifo[T]) pop() T {
	var zero T
	e := f.q[f.head]
	f.q[f.head] = zero // the slice keeps no pointer of a popped entry
	f.head++
	switch {
	case f.head == len(f.q):
		f.q, f.head = f.q[:0], 0
	case f.head > 1024 && f.head*2 > len(f.q):
		n := copy(f.q, f.q[f.head:])
		clear(f.q[n:])
		f.q, f.head = f.q[:n], 0
	}
	return e
}
