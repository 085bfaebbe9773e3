package drovertest_test

import (
	"bufio"
	"context"
	"encoding/gob"
	"net"
	"net/rpc"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// Bounds of the memory tests: what the process may grow by while a
// hostile gob client does its worst. Both are far below the cost without
// the caps (a 512 MiB message, 50,000 calls).
const (
	oversizeBound  = 64 << 20
	pipelinedBound = 32 << 20
)

// gobConnect dials addr and does net/rpc's HTTP CONNECT handshake by hand.
func gobConnect(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", rpcapi.HostPort(addr), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("CONNECT " + rpcapi.GoRPCPath + " HTTP/1.0\n\n")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "200 Connected") {
		t.Fatalf("CONNECT: %q, %v", line, err)
	}
	conn.SetReadDeadline(time.Time{})
	return conn
}

// memPeak samples the heap and the stacks until stop is called, and
// returns the growth of HeapInuse+StackInuse at its peak and of HeapSys
// at the end, against the figures when it started (after a GC).
func memPeak() (stop func() (peak, sys uint64)) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, baseSys := ms.HeapInuse+ms.StackInuse, ms.HeapSys
	var max atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if v := ms.HeapInuse + ms.StackInuse; v > max.Load() {
				max.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return max.Load() - min(base, max.Load()), ms.HeapSys - min(baseSys, ms.HeapSys)
	}
}

// healthy checks that a well-behaved client still gets answers.
func healthy(t *testing.T, c *drovertest.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Client().Status(ctx); err != nil {
		t.Fatalf("healthy client: %v", err)
	}
}

// TestGobOversizeMessage sends one gob message announcing 512 MiB (and
// then garbage) to the master and to a worker's endpoint: each closes the
// connection on reading the length, before buffering the message, counts
// it, and keeps serving.
func TestGobOversizeMessage(t *testing.T) {
	c := drovertest.Start(t, drovertest.Options{
		Handlers: map[string]worker.HandlerFunc{"noop": func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{}, nil }}})
	for _, target := range []struct{ name, addr string }{
		{"master", c.Addr()},
		{"worker", c.Worker(0).Addr()},
	} {
		t.Run(target.name, func(t *testing.T) {
			conn := gobConnect(t, target.addr)
			stop := memPeak()
			// 512 MiB in gob's unsigned encoding: minus the byte count,
			// then the bytes, big-endian.
			const size = 512 << 20
			if _, err := conn.Write([]byte{0xfc, size >> 24, 0, 0, 0}); err != nil {
				t.Fatal(err)
			}
			junk := make([]byte, 1<<20)
			for i := range junk {
				junk[i] = byte(i*7 + 1)
			}
			conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			sent, closed := 0, false
			for sent < size {
				n, err := conn.Write(junk)
				sent += n
				if err != nil {
					closed = true
					break
				}
				if sent%(64<<20) == 0 {
					healthy(t, c)
				}
			}
			healthy(t, c)
			peak, sys := stop()
			t.Logf("%s: sent %d MiB before the connection closed; heap+stack peak growth %.1f MiB, HeapSys growth %.1f MiB (bound %d MiB)",
				target.name, sent>>20, float64(peak)/(1<<20), float64(sys)/(1<<20), oversizeBound>>20)
			if !closed {
				t.Errorf("%s read the whole 512 MiB message", target.name)
			}
			if peak > oversizeBound || sys > oversizeBound {
				t.Errorf("%s: memory grew by %d (peak) / %d (HeapSys) bytes, over %d", target.name, peak, sys, oversizeBound)
			}
			text, err := drovertest.FetchMetrics(target.addr)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := drovertest.MetricValue(text, "drover_rpc_oversize_messages_total"); v != 1 {
				t.Errorf("%s: drover_rpc_oversize_messages_total = %v, want 1", target.name, v)
			}
		})
	}
}

// TestGobPipelinedWaits sends 50,000 Master.Wait calls on one connection
// without reading a reply: the master runs max_calls_in_flight of them and
// reads no more until one ends, so memory stays bounded, and another
// client is served meanwhile.
func TestGobPipelinedWaits(t *testing.T) {
	c := drovertest.Start(t, drovertest.Options{Workers: -1})
	ids := c.Submit(jobs.Spec{Type: "nobody-runs-this"})
	conn := gobConnect(t, c.Addr())
	stop := memPeak()
	const calls = 50000
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		w := bufio.NewWriter(conn)
		enc := gob.NewEncoder(w)
		args := rpcapi.WaitArgs{IDs: ids, Timeout: rpcapi.MaxWait}
		for i := range calls {
			if enc.Encode(&rpc.Request{ServiceMethod: rpcapi.MasterWait, Seq: uint64(i)}) != nil || enc.Encode(&args) != nil {
				return
			}
			if i%1000 == 999 && w.Flush() != nil {
				return
			}
			sent.Add(1)
		}
		w.Flush()
	})
	// Wait until the writer is done or stalls (the master no longer
	// reads and the kernel's buffers are full), then a little more for
	// the master to start what it read.
	for prev, prevG := int64(-1), -1; prev != sent.Load() || prevG != runtime.NumGoroutine(); {
		prev, prevG = sent.Load(), runtime.NumGoroutine()
		time.Sleep(500 * time.Millisecond)
	}
	healthy(t, c)
	peak, sys := stop()
	t.Logf("%d of %d calls written; goroutines %d; heap+stack peak growth %.1f MiB, HeapSys growth %.1f MiB (bound %d MiB)",
		sent.Load(), calls, runtime.NumGoroutine(), float64(peak)/(1<<20), float64(sys)/(1<<20), pipelinedBound>>20)
	if peak > pipelinedBound {
		t.Errorf("memory grew by %d bytes, over %d", peak, pipelinedBound)
	}
	if v := c.Metric("drover_rpc_calls_held_back_total"); v < 1 {
		t.Errorf("drover_rpc_calls_held_back_total = %v, want at least 1", v)
	}
	conn.Close()
	wg.Wait()
}

// TestGobBigResultsBatch finishes 24 jobs at once, each with 512 KiB of
// data: 12 MiB of results, more than max_request_body, reach the master
// over gob because the worker splits them into Complete calls under the
// cap.
func TestGobBigResultsBatch(t *testing.T) {
	gate := make(chan struct{})
	data := strings.Repeat("d", 512<<10)
	// DeadAfter well above the time 12 MiB of reports take under -race:
	// this test is about their size, not about reaping.
	c := drovertest.Start(t, drovertest.Options{Slots: 24, DeadAfter: 10 * time.Second,
		Handlers: map[string]worker.HandlerFunc{"big": func(ctx context.Context, _ *jobs.Job) (jobs.Result, error) {
			select {
			case <-gate:
			case <-ctx.Done():
				return jobs.Result{}, ctx.Err()
			}
			return jobs.Result{Data: data}, nil
		}}})
	specs := make([]jobs.Spec, 24)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "big"}
	}
	ids := c.Submit(specs...)
	drovertest.Eventually(t, 10*time.Second, "all jobs running", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := c.Client().Status(ctx)
		return err == nil && st.Counts[jobs.Running] == len(ids)
	})
	close(gate)
	if r := c.WaitAll(ids, 20*time.Second); r.Counts[jobs.Succeeded] != len(ids) {
		t.Fatalf("counts %v, want %d succeeded", r.Counts, len(ids))
	}
	if v := c.Metric("drover_rpc_oversize_messages_total"); v != 0 {
		t.Errorf("drover_rpc_oversize_messages_total = %v, want 0", v)
	}
}
