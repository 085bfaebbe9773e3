package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The budget tests attack a real drover master process as a client
// holding the token could, and measure what each attack costs the
// process: VmRSS from /proc/PID/status before and after, VmHWM (the
// peak) during. Each test starts a master of its own, so that the peak
// is the attack's.

const budgetToken = "tok-budget-3c9e"

// budgetMaster is a drover master process under attack.
type budgetMaster struct {
	t    *testing.T
	p    *testproc.Proc
	addr string
}

// startBudgetMaster starts a master with an in-memory store, the token
// and the extra master.toml lines conf.
func startBudgetMaster(t *testing.T, conf string) *budgetMaster {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "master.toml")
	body := fmt.Sprintf("listen = \"127.0.0.1:0\"\nstore = \"memory\"\ntoken = %q\n%s\n", budgetToken, conf)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testproc.Options{Name: "master"}.Start(t, testproc.Drover(t), "master", "--config", path, "--log-format", "json")
	m := &budgetMaster{t: t, p: p, addr: p.Addr()}
	testproc.PollErr(t, 10*time.Second, "the master to answer", func() error {
		_, err := m.client(rpcapi.TransportGob).Status(context.Background())
		return err
	})
	return m
}

// client returns a client of the master over transport, with the token,
// closed at the test's end.
func (m *budgetMaster) client(transport string) rpcapi.MasterClient {
	m.t.Helper()
	c, err := rpcapi.NewCaller(m.addr, transport, rpcapi.WithToken(budgetToken))
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { c.Close() })
	return rpcapi.MasterClient{C: c}
}

// memStat is what /proc/PID/status says of a process's memory, in bytes.
type memStat struct{ rss, hwm int64 }

// mem reads the master's VmRSS and VmHWM.
func (m *budgetMaster) mem() memStat {
	m.t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.p.PID()))
	if err != nil {
		m.t.Fatalf("the master's memory: %v", err)
	}
	var s memStat
	for line := range strings.Lines(string(data)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val) // "123456 kB"
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || len(f) != 2 || f[1] != "kB" {
			m.t.Fatalf("the master's %s: %q", key, val)
		}
		if key == "VmRSS" {
			s.rss = kb << 10
		} else {
			s.hwm = kb << 10
		}
	}
	if s.rss == 0 || s.hwm == 0 {
		m.t.Fatalf("no VmRSS or VmHWM in /proc/%d/status", m.p.PID())
	}
	return s
}

// metric returns the sum of metric name on the master's /metrics.
func (m *budgetMaster) metric(name string) float64 {
	m.t.Helper()
	req, err := http.NewRequest("GET", "http://"+m.addr+"/metrics", nil)
	if err != nil {
		m.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+budgetToken)
	cl := http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		m.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		m.t.Fatalf("metrics: %s %v: %s", resp.Status, err, b)
	}
	v, ok := drovertest.MetricValue(string(b), name)
	if !ok {
		m.t.Fatalf("no %s on /metrics", name)
	}
	return v
}

// dialGob opens a gob connection with the token: the CONNECT and its
// answer. The connection is closed at the test's end.
func (m *budgetMaster) dialGob() net.Conn {
	m.t.Helper()
	conn, err := net.DialTimeout("tcp", m.addr, 5*time.Second)
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n", rpcapi.GoRPCPath, budgetToken)
	// Read the answer a byte at a time: nothing of the gob stream that
	// follows may stay in a buffer of ours.
	br := bufio.NewReaderSize(oneByte{conn}, 16)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.Status != "200 Connected to Go RPC" {
		m.t.Fatalf("CONNECT %s: %v %v", rpcapi.GoRPCPath, resp, err)
	}
	conn.SetDeadline(time.Time{})
	return conn
}

// errorTB turns poll's Fatalf into Errorf: the test goes on to its
// measurements when a condition times out.
type errorTB struct{ t *testing.T }

func (e errorTB) Helper()                           { e.t.Helper() }
func (e errorTB) Fatalf(format string, args ...any) { e.t.Helper(); e.t.Errorf(format, args...) }

// oneByte reads at most one byte at a time.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 1)]) }

// healthy is a client with the token that asks the master for its
// status every 50 ms, alternating gob and XML-RPC, while an attack runs.
type healthy struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	ok      int
	slowest time.Duration
	errs    []error
}

// healthyDeadline is how long one of the healthy client's calls may take.
const healthyDeadline = 5 * time.Second

// startHealthy starts the healthy client.
func (m *budgetMaster) startHealthy() *healthy {
	h := &healthy{stop: make(chan struct{}), done: make(chan struct{})}
	mcs := []rpcapi.MasterClient{m.client(rpcapi.TransportGob), m.client(rpcapi.TransportXMLRPC)}
	go func() { // ends at stop; end waits for it
		defer close(h.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), healthyDeadline)
			start := time.Now()
			_, err := mcs[i%2].Status(ctx)
			took := time.Since(start)
			cancel()
			h.mu.Lock()
			if err != nil {
				h.errs = append(h.errs, fmt.Errorf("call %d after %v: %w", i+1, took, err))
			} else {
				h.ok++
			}
			h.slowest = max(h.slowest, took)
			h.mu.Unlock()
		}
	}()
	return h
}

// answered returns how many calls the master has answered so far.
func (h *healthy) answered() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ok
}

// await waits until the master has answered n more of the healthy
// client's calls (n/20 seconds), failing the test after 10 s + n/10 s.
func (h *healthy) await(t *testing.T, n int) {
	t.Helper()
	want := h.answered() + n
	testproc.Poll(t, 10*time.Second+time.Duration(n)*100*time.Millisecond, fmt.Sprintf("%d more answers to the healthy client", n),
		func() bool { return h.answered() >= want })
}

// end stops the healthy client and fails the test if a call of it failed
// or none was answered.
func (h *healthy) end(t *testing.T) {
	t.Helper()
	close(h.stop)
	<-h.done
	t.Logf("healthy client: %d status calls answered, the slowest in %v", h.ok, h.slowest)
	for _, err := range h.errs {
		t.Errorf("healthy client: %v", err)
	}
	if h.ok == 0 {
		t.Error("healthy client: no call answered during the attack")
	}
}

const mib = 1 << 20

// attack measures the master's memory around attack, with the healthy
// client calling throughout: it logs VmRSS before and after and the
// peak, and fails the test if the peak or the memory after are more than
// bound over the memory before.
func (m *budgetMaster) attack(name string, bound int64, attack func(h *healthy)) {
	m.t.Helper()
	before := m.mem()
	h := m.startHealthy()
	attack(h)
	// The master still answers once the attack is over.
	h.await(m.t, 2)
	h.end(m.t)
	after := m.mem()
	m.t.Logf("%s: master VmRSS %.1f MiB before, %.1f MiB after; peak VmHWM %.1f MiB (+%.1f MiB; bound +%d MiB)",
		name, float64(before.rss)/mib, float64(after.rss)/mib, float64(after.hwm)/mib, float64(after.hwm-before.rss)/mib, bound/mib)
	if grew := after.hwm - before.rss; grew > bound {
		m.t.Errorf("%s: the master's peak RSS grew by %.1f MiB; want at most %d MiB", name, float64(grew)/mib, bound/mib)
	}
	if grew := after.rss - before.rss; grew > bound {
		m.t.Errorf("%s: the master's RSS is %.1f MiB above what it was before; want at most %d MiB", name, float64(grew)/mib, bound/mib)
	}
	if m.p.Exited() {
		m.t.Fatalf("%s: the master exited: %v", name, m.p.Err())
	}
}

// TestBudgetOversizeGobMessage sends, on a gob connection with the token,
// a length prefix announcing a 512 MiB message and then streams garbage:
// the master closes the connection when it reads the prefix, before the
// message (so the stream is cut off long before 512 MiB are sent), logs
// and counts it, and its memory stays as it was.
func TestBudgetOversizeGobMessage(t *testing.T) {
	const announced = 512 * mib
	m := startBudgetMaster(t, "")
	var sent int64
	var werr error
	// Measured: the peak grows by under 1 MiB (-race: 1 MiB); without the
	// cap (max_request_body = 1 GiB) by 1.3 GiB, and all 512 MiB are sent.
	m.attack("a 512 MiB gob message", 16*mib, func(*healthy) {
		conn := m.dialGob()
		// gob's length prefix: minus the count of big-endian bytes, then
		// the bytes.
		prefix := []byte{0xfc, announced >> 24, announced >> 16 & 0xff, announced >> 8 & 0xff, announced & 0xff}
		garbage := make([]byte, 64<<10)
		for i := range garbage {
			garbage[i] = byte(i*7 + 1)
		}
		conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, werr = conn.Write(prefix); werr != nil {
			return
		}
		for sent < announced {
			var n int
			n, werr = conn.Write(garbage[:min(int64(len(garbage)), announced-sent)])
			sent += int64(n)
			if werr != nil {
				break
			}
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := conn.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
			t.Errorf("the connection still open after the message: read %d bytes, %v", n, err)
		}
	})
	t.Logf("sent %.1f MiB of the announced %d MiB before the write failed: %v", float64(sent)/mib, announced/mib, werr)
	if werr == nil || sent > 64*mib {
		t.Errorf("sent %d bytes of the 512 MiB message (write error %v); want the master to close the connection within the first 64 MiB", sent, werr)
	}
	if n := m.metric("drover_rpc_oversize_messages_total"); n != 1 {
		t.Errorf("drover_rpc_oversize_messages_total %v; want 1", n)
	}
	line := m.p.WaitFor("gob connection closed: message too large", 10*time.Second)
	if !strings.Contains(line, strconv.Itoa(announced)) {
		t.Errorf("the log line does not give the message's length %d: %s", announced, line)
	}
}

// TestBudgetPipelinedCalls pipelines 50,000 Master.Wait calls on one gob
// connection with the token, each waiting up to 25 s for a job that no
// worker runs: the master runs max_calls_in_flight (256) of them and
// stops reading the connection (counted in
// drover_rpc_calls_held_back_total), refuses none, and its memory stays
// bounded while the healthy client is answered.
func TestBudgetPipelinedCalls(t *testing.T) {
	const calls = 50000
	m := startBudgetMaster(t, "")
	ids := testproc.Submit(t, m.client(rpcapi.TransportGob), jobs.Spec{Type: "nobody-runs-this"})
	var sent atomic.Int64
	done := make(chan *rpc.Call, calls)
	// Measured: the peak grows by 3 to 7 MiB (-race: 10 MiB); without the
	// cap (max_calls_in_flight = 1000000) by 190 MiB (-race: 1.1 GiB).
	m.attack("50,000 pipelined Wait calls", 32*mib, func(h *healthy) {
		cl := rpc.NewClient(m.dialGob())
		defer cl.Close()
		stopped := make(chan struct{})
		go func() { // ends when the calls are sent or the connection closes
			defer close(stopped)
			for range calls {
				call := cl.Go(rpcapi.MasterWait, &rpcapi.WaitArgs{IDs: ids, Timeout: 25 * time.Second}, new(rpcapi.WaitReply), done)
				if call.Error != nil {
					return
				}
				sent.Add(1)
			}
		}()
		// Wait until every call is sent, or the writing has stopped for a
		// second: the master reads no more.
		last, since := int64(-1), time.Now()
		testproc.Poll(t, 30*time.Second, "the calls sent or held back", func() bool {
			if n := sent.Load(); n != last {
				last, since = n, time.Now()
			}
			return last == calls || time.Since(since) > time.Second
		})
		start := time.Now()
		poll.Until(errorTB{t}, 10*time.Second, "drover_rpc_calls_held_back_total to count the connection held back", func() bool {
			return m.metric("drover_rpc_calls_held_back_total") >= 1
		})
		t.Logf("drover_rpc_calls_held_back_total %v, %v after the calls were sent", m.metric("drover_rpc_calls_held_back_total"), time.Since(start))
		// Keep them there a second longer, for the master to read what
		// it will of them.
		h.await(t, 20)
		answered := len(done)
		for range answered {
			if c := <-done; c.Error != nil {
				t.Errorf("a pipelined call was answered with an error: %v", c.Error)
			}
		}
		t.Logf("%d of %d calls sent, %d answered, when the writing stopped", sent.Load(), calls, answered)
		cl.Close()
		<-stopped
	})
}
