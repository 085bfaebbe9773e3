package master

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestQueueMemory measures the heap a master holds per pending job: it
// submits $DROVER_QUEUE_MEM jobs (e.g. 1000000) over the real gob
// transport, as "drover bench --scenario queue" does, and reports the
// live heap per job after a GC, for the memory and the bolt store. With
// $DROVER_QUEUE_MEM_PROFILE set, it writes a heap profile of each store
// there (PROFILE.memory, PROFILE.bolt). It is skipped unless the variable
// is set: a million jobs take a few seconds and a gigabyte.
func TestQueueMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DROVER_QUEUE_MEM"))
	if n <= 0 {
		t.Skip("set DROVER_QUEUE_MEM=jobs to run")
	}
	prof := os.Getenv("DROVER_QUEUE_MEM_PROFILE")
	stores := []string{StoreMemory, StoreBolt}
	if s := os.Getenv("DROVER_QUEUE_MEM_STORE"); s != "" {
		stores = []string{s}
	}
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			m := startT(t, Config{Listen: "127.0.0.1:0", Store: store, DataDir: t.TempDir(), Logger: quietLog()})
			before := liveHeap()
			rss0 := procRSS()
			var msb runtime.MemStats
			runtime.ReadMemStats(&msb)
			const batch, clients = 1000, 4
			specs := make([]jobs.Spec, batch)
			for i := range specs {
				specs[i] = jobs.Spec{Type: "bench.noop"}
			}
			var next sync.Mutex
			left := n
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for range clients {
				c, err := rpcapi.NewCaller(m.Addr(), rpcapi.TransportGob)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				mc := rpcapi.MasterClient{C: c}
				wg.Go(func() {
					for {
						next.Lock()
						k := min(batch, left)
						left -= k
						next.Unlock()
						if k == 0 {
							return
						}
						if _, err := mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: specs[:k]}); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // let the committer settle
			rss1 := procRSS()
			var ms0 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			after := liveHeap()
			m.core.mu.Lock()
			pending := m.core.queue.Len()
			m.core.mu.Unlock()
			if pending != n {
				t.Fatalf("%d jobs queued, want %d", pending, n)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Logf("store %s: %d pending; RSS %d MiB before, %d MiB after: %.0f bytes per job; live heap %d MiB before, %d MiB after: %.0f bytes per job; objects %d",
				store, n, rss0>>20, rss1>>20, float64(rss1-rss0)/float64(n), before>>20, after>>20, float64(after-before)/float64(n), ms.HeapObjects)
			t.Logf("at the end of the submit, before a GC: heap in use %d MiB, idle and not released %d MiB, GCs %d, next GC at %d MiB; allocated %.0f bytes per job",
				ms0.HeapInuse>>20, (ms0.HeapIdle-ms0.HeapReleased)>>20, ms0.NumGC-msb.NumGC, ms0.NextGC>>20, float64(ms0.TotalAlloc-msb.TotalAlloc)/float64(n))
			if prof != "" {
				f, err := os.Create(prof + "." + store)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// procRSS returns the process's resident set in bytes (0 where there is
// no /proc).
func procRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// liveHeap returns the bytes of live heap objects after a full GC.
func liveHeap() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
