// Package gopool runs functions on goroutines that stay for the next one.
//
// A goroutine started for each call of a hot path (an RPC served or sent)
// begins with a small stack and grows it again, copying it, for every call
// that decodes or encodes: at one job at a time per worker that was a sixth
// of the master's CPU. A Pool's goroutines keep the stacks they grew.
package gopool

import (
	"sync"
	"sync/atomic"
)

// Pool runs functions on its goroutines. There are never more of them than
// functions ever running at once; they stay until Wait. The zero Pool is
// not ready: use New.
type Pool struct {
	work    chan func() // unbuffered: taken only by a goroutine that waits for work
	wg      sync.WaitGroup
	started atomic.Int64 // goroutines started
}

// New returns an empty pool.
func New() *Pool { return &Pool{work: make(chan func())} }

// Go runs f on a goroutine of the pool that waits for work, or else on a
// new one, which then stays. It never waits for a running f.
func (p *Pool) Go(f func()) {
	select {
	case p.work <- f:
		return
	default:
	}
	p.started.Add(1)
	p.wg.Go(func() {
		f()
		for f := range p.work {
			f()
		}
	})
}

// Wait ends the pool: it waits for every function given to Go to return,
// then for the goroutines to end. Go must not be called during or after it.
func (p *Pool) Wait() {
	close(p.work)
	p.wg.Wait()
}
