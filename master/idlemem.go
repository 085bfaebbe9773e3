package master

import (
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"time"
)

// Memory after a burst. The Go runtime keeps the heap it grew to until
// the next collection, and a master that has gone idle allocates nothing
// to start one: after a million jobs were submitted, RSS stays at the
// submit's peak (about twice the live heap) for minutes. Once the master
// has allocated next to nothing for idleMemAfter, and holds more than
// idleMemSlack (and a quarter of the live heap) beyond what its last
// collection found live, it collects and returns the rest to the system
// (debug.FreeOSMemory), once per burst.
const (
	idleMemTick  = time.Second
	idleMemAfter = 2 * time.Second
	// idleAllocRate is the allocation rate under which the master counts
	// as idle: heartbeats and the reaper's passes allocate a little.
	idleAllocRate = 1 << 20 // bytes a second
	idleMemSlack  = 64 << 20
)

// heapSample is what idleMemLoop reads of the runtime.
type heapSample struct {
	allocs uint64 // bytes allocated since the process started
	held   uint64 // heap memory held: objects, dead ones included, and free spans not returned
	live   uint64 // the heap the last collection found live
}

var heapMetrics = []string{"/gc/heap/allocs:bytes", "/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes", "/memory/classes/heap/free:bytes", "/gc/heap/live:bytes"}

func readHeap(s []rtmetrics.Sample) heapSample {
	rtmetrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != rtmetrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	return heapSample{allocs: v(0), held: v(1) + v(2) + v(3), live: v(4)}
}

// idleRelease reports whether to return memory now: the allocations
// since idleFrom (a sample idleMemAfter old) are below the idle rate, and
// the heap held exceeds the live heap by the slack.
func idleRelease(idleFrom, now heapSample, idleFor time.Duration) bool {
	if now.allocs-idleFrom.allocs > uint64(idleFor.Seconds()*idleAllocRate) {
		return false
	}
	return now.held > now.live+max(idleMemSlack, now.live/4)
}

// idleMemLoop returns memory to the system once the master goes idle
// after a burst.
func (c *core) idleMemLoop() {
	t := time.NewTicker(idleMemTick)
	defer t.Stop()
	s := make([]rtmetrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	// The samples of the last idleMemAfter, oldest first.
	n := int(idleMemAfter / idleMemTick)
	window := make([]heapSample, 0, n+1)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		now := readHeap(s)
		window = append(window, now)
		if len(window) <= n {
			continue
		}
		window = window[1:]
		if idleRelease(window[0], now, idleMemAfter) {
			debug.FreeOSMemory()
			c.log.WithField("live_mib", now.live>>20).WithField("held_mib", now.held>>20).Debug("idle: heap returned to the system")
			window = window[:0]
		}
	}
}
