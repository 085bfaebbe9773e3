package master

import "slices"

// fifoBlock is how many entries one block of a fifo holds.
const fifoBlock = 512

// fifo is a first-in, first-out queue in blocks of fifoBlock entries:
// push fills the last block and starts a new one when it is full, pop
// takes from a head index in the first and drops it once it is all
// popped, keeping it as a spare for the next push that needs one. Both
// cost O(1), and no entry moves once pushed. (Popping by copying the
// rest forward cost a copy of the whole queue per pop: with 2,700 fresh
// leases held, 11 % of the master's CPU at 4 workers x 1 slot. One
// growing slice copied the whole queue, into fresh pages, each time it
// doubled: the queue of 100,000 finished jobs waiting to retire cost 6 %
// of the master's CPU in the default bench.)
type fifo[T any] struct {
	blocks [][]T // each of capacity fifoBlock; entries from head in the first
	head   int
	n      int
	spare  []T // an emptied block (length 0), or nil
}

func (f *fifo[T]) push(e T) {
	last := len(f.blocks) - 1
	if last < 0 || len(f.blocks[last]) == fifoBlock {
		b := f.spare
		if b == nil {
			b = make([]T, 0, fifoBlock)
		}
		f.spare = nil
		f.blocks = append(f.blocks, b)
		last++
	}
	f.blocks[last] = append(f.blocks[last], e)
	f.n++
}

func (f *fifo[T]) len() int { return f.n }

// front returns the oldest entry; the queue must not be empty.
func (f *fifo[T]) front() *T { return &f.blocks[0][f.head] }

// pop removes the oldest entry and returns it; the queue must not be
// empty.
func (f *fifo[T]) pop() T {
	var zero T
	b := f.blocks[0]
	e := b[f.head]
	b[f.head] = zero // no block keeps a popped entry reachable
	f.head++
	f.n--
	if f.head == len(b) && (len(b) == fifoBlock || f.n == 0) {
		f.spare = b[:0]
		f.blocks = slices.Delete(f.blocks, 0, 1)
		f.head = 0
	}
	return e
}
