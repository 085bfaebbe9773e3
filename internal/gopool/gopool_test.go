package gopool

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestPoolRunsEverything: every function given to Go runs once, Wait
// returns after all of them, and the goroutines are never more than the
// functions that ran at once.
func TestPoolRunsEverything(t *testing.T) {
	p := New()
	var ran, running, most atomic.Int64
	release := make(chan struct{})
	var started sync.WaitGroup
	const blocked = 3
	started.Add(blocked)
	for range blocked { // three at once: three goroutines
		p.Go(func() {
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			started.Done()
			<-release
			running.Add(-1)
			ran.Add(1)
		})
	}
	started.Wait()
	close(release)
	for range 1000 { // one after another: they reuse the three
		p.Go(func() { ran.Add(1) })
	}
	p.Wait()
	if got := ran.Load(); got != blocked+1000 {
		t.Fatalf("ran %d functions, want %d", got, blocked+1000)
	}
	if most.Load() != blocked {
		t.Fatalf("at most %d ran at once, want %d", most.Load(), blocked)
	}
}

// TestPoolReuses: functions given to Go one after another, each after
// the previous returned, run on few goroutines, not one each.
func TestPoolReuses(t *testing.T) {
	p := New()
	done := make(chan struct{})
	for range 1000 {
		p.Go(func() { done <- struct{}{} })
		<-done
	}
	p.Wait()
	// The goroutine that ran the last function may not wait for work yet
	// when the next comes: a few more start, never one per call.
	if n := p.started.Load(); n > 100 {
		t.Fatalf("1,000 calls one after another started %d goroutines", n)
	}
}
