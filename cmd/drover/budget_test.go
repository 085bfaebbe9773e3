package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testproc"
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
func (m *budgetMaster) attack(name string, bound int64, attack func()) {
	m.t.Helper()
	before := m.mem()
	h := m.startHealthy()
	attack()
	// The master still answers once the attack is over.
	n := h.answered()
	testproc.Poll(m.t, 10*time.Second, "the healthy client answered after the attack", func() bool { return h.answered() >= n+2 })
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
	m.attack("a 512 MiB gob message", 64*mib, func() {
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
