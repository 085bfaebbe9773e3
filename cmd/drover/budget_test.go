package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"os"
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
	p, _ := startMaster(t, fmt.Sprintf("token = %q\n%s\n", budgetToken, conf), nil, "--log-format", "json")
	m := &budgetMaster{t: t, p: p, addr: p.Addr()}
	mc := m.client(rpcapi.TransportGob)
	testproc.PollErr(t, 10*time.Second, "the master to answer", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := mc.Status(ctx)
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
	b := m.request("GET", "/metrics", "", nil, 10*time.Second)
	v, ok := drovertest.MetricValue(string(b), name)
	if !ok {
		m.t.Fatalf("no %s on /metrics", name)
	}
	return v
}

// request sends method path to the master with the token (and body, of
// type ctype, when there is one), and returns the body of the answer; it
// fails the test unless the answer is a 200 within timeout.
func (m *budgetMaster) request(method, path, ctype string, body []byte, timeout time.Duration) []byte {
	m.t.Helper()
	req, err := http.NewRequest(method, "http://"+m.addr+path, bytes.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+budgetToken)
	cl := http.Client{Timeout: timeout}
	resp, err := cl.Do(req)
	if err != nil {
		m.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		m.t.Fatalf("%s %s: %s %v: %.500s", method, path, resp.Status, err, b)
	}
	return b
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
	once    sync.Once
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

// halt stops the healthy client and waits until it has. It may be
// called more than once.
func (h *healthy) halt() {
	h.once.Do(func() { close(h.stop) })
	<-h.done
}

// end stops the healthy client and fails the test if a call of it failed
// or none was answered.
func (h *healthy) end(t *testing.T) {
	t.Helper()
	h.halt()
	t.Logf("healthy client: %d status calls answered, the slowest in %v", h.ok, h.slowest)
	for _, err := range h.errs {
		t.Errorf("healthy client: %v", err)
	}
	if h.ok == 0 {
		t.Error("healthy client: no call answered during the attack")
	}
}

const mib = 1 << 20

// bound is how far, in MiB, an attack may take the master's RSS above
// where it was: plain, or when the master is built with -race (which
// takes several times the memory), race. Each bound is about three times
// what the attack was measured to take, rounded up.
type bound struct{ plain, race int64 }

// bytes returns the bound that applies to this test run's master.
func (b bound) bytes() int64 {
	if testproc.Race {
		return b.race * mib
	}
	return b.plain * mib
}

// attack measures the master's memory around attack, with the healthy
// client calling throughout: it logs VmRSS before and after and the
// peak, and fails the test if the peak or the memory after are more than
// limit over the memory before.
func (m *budgetMaster) attack(name string, limit bound, attack func(h *healthy)) {
	m.t.Helper()
	bound := limit.bytes()
	before := m.mem()
	h := m.startHealthy()
	defer h.halt() // when attack fails the test
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
	// Measured: the peak grows by under 1 MiB (-race: 1 to 3 MiB), and
	// 0.1 to 4 MiB are sent; without the cap (max_request_body = 1 GiB)
	// all 512 MiB are sent and the peak grows by 1.3 GiB.
	m.attack("a 512 MiB gob message", bound{16, 16}, func(*healthy) {
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
// drover_rpc_calls_held_back_total), and its memory stays bounded while
// the healthy client is answered. No call is refused: once the job is
// cancelled, every one of the 50,000 is answered (after the measurement:
// 50,000 calls answered one after another are not the attack).
func TestBudgetPipelinedCalls(t *testing.T) {
	const calls = 50000
	m := startBudgetMaster(t, "")
	mc := m.client(rpcapi.TransportGob)
	ids := testproc.Submit(t, mc, jobs.Spec{Type: "nobody-runs-this"})
	// Measured: the peak grows by 3 to 8 MiB (-race: 10 to 19 MiB);
	// without the cap (max_calls_in_flight = 1000000) by 190 to 360 MiB
	// (-race: 1.1 GiB).
	var p *pipeline
	m.attack("50,000 pipelined Wait calls", bound{32, 64}, func(h *healthy) {
		p = startPipeline(t, rpc.NewClient(m.dialGob()), calls, &rpcapi.WaitArgs{IDs: ids, Timeout: 25 * time.Second})
		// Wait until every call is sent, or the writing has stopped for a
		// second: the master reads no more.
		last, since := int64(-1), time.Now()
		testproc.Poll(t, 30*time.Second, "the calls sent or held back", func() bool {
			if n := p.sent.Load(); n != last {
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
		t.Logf("%d of %d calls sent, %d answered, when the writing stopped", p.sent.Load(), calls, len(p.done))
		if len(p.done) > 0 {
			t.Errorf("%d of the Wait calls answered while the job was pending", len(p.done))
		}
	})

	// The calls were held back, not refused: with the job final, each
	// is answered.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := mc.Cancel(ctx, &rpcapi.CancelArgs{IDs: ids}); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	start := time.Now()
	testproc.Poll(t, 60*time.Second, "every pipelined call answered", func() bool { return len(p.done) == calls })
	t.Logf("with the job cancelled, the %d calls answered in %v", calls, time.Since(start))
	for range calls {
		if c := <-p.done; c.Error != nil {
			t.Fatalf("a pipelined call: %v", c.Error)
		} else if r := c.Reply.(*rpcapi.WaitReply); !r.Done {
			t.Fatalf("a pipelined call answered before the job was final: %+v", r)
		}
	}
}

// pipeline sends calls on one connection without waiting for replies.
type pipeline struct {
	sent atomic.Int64   // calls written
	done chan *rpc.Call // the answered calls
}

// startPipeline sends n calls of Master.Wait with args on cl, from a
// goroutine that ends when all are sent or cl is closed, which the test's
// cleanup does.
func startPipeline(t *testing.T, cl *rpc.Client, n int, args *rpcapi.WaitArgs) *pipeline {
	p := &pipeline{done: make(chan *rpc.Call, n)}
	var closing atomic.Bool
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for range n {
			if closing.Load() {
				return
			}
			// Go returns once the call is written (or cl is closed):
			// with the master reading no more, when the TCP buffers
			// are full.
			cl.Go(rpcapi.MasterWait, args, new(rpcapi.WaitReply), p.done)
			p.sent.Add(1)
		}
	}()
	t.Cleanup(func() {
		closing.Store(true)
		cl.Close()
		<-stopped
	})
	return p
}

// The master's budgets for a submit, at their defaults (README,
// master.toml).
const (
	maxRequestBody = 4 * mib
	maxSubmit      = 100000
	maxArgsBytes   = 64 << 10
	maxSubmitBytes = 64 * mib
)

// gobFit returns the most specs of the form spec(i), up to maxSubmit,
// whose gob args stay a KiB under maxRequestBody.
func gobFit(t *testing.T, spec func(i int) jobs.Spec) []jobs.Spec {
	t.Helper()
	specs := make([]jobs.Spec, 0, 1024)
	size := 1 + 3 // the version and the count
	for i := range maxSubmit {
		s := spec(i)
		n := len(jobs.AppendSpec(nil, &s))
		if size+n > maxRequestBody-1024 {
			break
		}
		specs, size = append(specs, s), size+n
	}
	b, err := (&rpcapi.SubmitArgs{Specs: specs}).GobEncode()
	if err != nil || len(b) > maxRequestBody-1024 {
		t.Fatalf("%d specs encode to %d bytes (%v); want at most %d", len(specs), len(b), err, maxRequestBody-1024)
	}
	t.Logf("%d jobs in a gob submit of %.2f MiB", len(specs), float64(len(b))/mib)
	return specs
}

// xmlFit returns the body of an XML-RPC submit_jobs of as many jobs of
// type "t" with the one arg "a" = value as fit under maxRequestBody, up
// to maxSubmit, and their count.
func xmlFit(t *testing.T, value string) ([]byte, int) {
	t.Helper()
	const head = `<?xml version="1.0"?><methodCall><methodName>submit_jobs</methodName><params><param><value><struct><member><name>specs</name><value><array><data>`
	const tail = `</data></array></value></member></struct></value></param></params></methodCall>`
	job := `<value><struct><member><name>type</name><value><string>t</string></value></member>`
	if value != "" {
		job += `<member><name>args</name><value><struct><member><name>a</name><value><string>` + value + `</string></value></member></struct></value></member>`
	}
	job += `</struct></value>`
	n := min(maxSubmit, (maxRequestBody-len(head)-len(tail))/len(job))
	body := head + strings.Repeat(job, n) + tail
	t.Logf("%d jobs in an XML-RPC submit of %.2f MiB", n, float64(len(body))/mib)
	return []byte(body), n
}

// postXML posts an XML-RPC body with the token and fails the test unless
// it is answered without a fault.
func (m *budgetMaster) postXML(body []byte) {
	m.t.Helper()
	reply := m.request("POST", rpcapi.XMLRPCPath, "text/xml", body, 60*time.Second)
	if bytes.Contains(reply, []byte("<fault>")) {
		m.t.Fatalf("submit_jobs: %.500s", reply)
	}
}

// pending returns the count of pending jobs on the master.
func (m *budgetMaster) pending() int {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := m.client(rpcapi.TransportGob).Status(ctx)
	if err != nil {
		m.t.Fatalf("status: %v", err)
	}
	total := 0
	for _, n := range r.Counts {
		total += n
	}
	if total != r.Counts[jobs.Pending] {
		m.t.Errorf("jobs by state %v; want only pending ones", r.Counts)
	}
	return total
}

// TestBudgetLargestSubmit submits the largest submits the defaults allow,
// each to a master of its own: as many small jobs as fit under
// max_request_body (max_submit of them over gob, whose binary form is
// compact), and as many jobs with args of max_args_bytes, over gob and
// XML-RPC. Every one is accepted whole, the master's RSS stays bounded,
// and a client with the token is answered meanwhile.
func TestBudgetLargestSubmit(t *testing.T) {
	if testing.Short() {
		t.Skip("submits of up to 100,000 jobs")
	}
	largest := strings.Repeat("a", maxArgsBytes-1) // with the key "a": max_args_bytes
	// The bounds hold the master's keeping of the jobs too. Measured, the
	// peak grows by: 163 MiB (-race: 480 MiB) for gob's 100,000 small
	// jobs, 76 MiB (-race: 261 MiB) for XML-RPC's 42,364, 36 MiB (-race:
	// 90 to 97 MiB) for 63 jobs of the largest args on either transport.
	for _, tc := range []struct {
		name  string
		bound bound
		gob   func(i int) jobs.Spec // nil: XML-RPC
		value string
	}{
		{name: "gob small jobs", bound: bound{512, 1472}, gob: func(i int) jobs.Spec {
			return jobs.Spec{Type: "t", Input: fmt.Sprintf("%-19d", i)} // max_submit of them fit
		}},
		{name: "gob largest args", bound: bound{128, 320}, gob: func(int) jobs.Spec {
			return jobs.Spec{Type: "t", Args: map[string]string{"a": largest}}
		}},
		{name: "xmlrpc small jobs", bound: bound{256, 832}},
		{name: "xmlrpc largest args", bound: bound{128, 320}, value: largest},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			m := startBudgetMaster(t, "")
			var n int
			m.attack(tc.name, tc.bound, func(*healthy) {
				if tc.gob == nil {
					var body []byte
					body, n = xmlFit(t, tc.value)
					m.postXML(body)
					return
				}
				specs := gobFit(t, tc.gob)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				r, err := m.client(rpcapi.TransportGob).Submit(ctx, &rpcapi.SubmitArgs{Specs: specs})
				if err != nil {
					t.Fatalf("submit: %v", err)
				}
				if n = len(specs); len(r.IDs) != n {
					t.Fatalf("submit of %d jobs: %d IDs", n, len(r.IDs))
				}
			})
			if got := m.pending(); got != n {
				t.Errorf("%d jobs on the master after a submit of %d", got, n)
			}
		})
	}
}

// TestBudgetSubmitBytes submits, to a master whose max_request_body lets
// it through, max_submit jobs whose text passes max_submit_bytes (64 MiB,
// counting 512 bytes a job) by their last 7,000 or so: the submit is
// refused whole (bad_request naming max_submit_bytes), no job is created,
// and the master's RSS stays bounded.
func TestBudgetSubmitBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("a submit of 100,000 jobs")
	}
	m := startBudgetMaster(t, "max_request_body = 134217728")
	// 100,000 × (512 + 1 + 200 + 10) bytes: 69 MiB by max_submit_bytes'
	// count, 22 MiB on the wire.
	specs := make([]jobs.Spec, maxSubmit)
	pad := strings.Repeat("p", 200)
	counted := 0
	for i := range specs {
		specs[i] = jobs.Spec{Type: "t", Input: fmt.Sprintf("%s%010d", pad, i)}
		counted += 512 + len(specs[i].Type) + len(specs[i].Input)
	}
	if counted <= maxSubmitBytes {
		t.Fatalf("the submit counts %d bytes; want over max_submit_bytes (%d)", counted, maxSubmitBytes)
	}
	var err error
	// Measured: the peak grows by 77 to 96 MiB (-race: 230 to 276 MiB);
	// without the budget (max_submit_bytes = 1 GiB) the jobs are made and
	// it grows by 300 MiB.
	m.attack("a submit over max_submit_bytes", bound{256, 832}, func(*healthy) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, err = m.client(rpcapi.TransportGob).Submit(ctx, &rpcapi.SubmitArgs{Specs: specs})
	})
	if !errors.Is(err, rpcapi.ErrBadRequest) || !strings.Contains(err.Error(), "max_submit_bytes") {
		t.Errorf("a submit of %d jobs over max_submit_bytes: %v; want bad_request naming max_submit_bytes", len(specs), err)
	}
	if n := m.pending(); n != 0 {
		t.Errorf("%d jobs on the master after a refused submit; want none", n)
	}
}
