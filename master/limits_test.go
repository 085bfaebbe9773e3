package master_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"net/http"
	"strconv"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestLimits: each limit gives a clear error and changes nothing.
func TestLimits(t *testing.T) {
	m := startMaster(t, master.Config{MaxSubmit: 10, MaxArgsBytes: 100, MaxResultBytes: 1000, MaxConnections: 6})
	master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "w", Slots: 2, MaxResultBytes: 500},
		map[string]worker.HandlerFunc{
			"loud": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
				return jobs.Result{Output: strings.Repeat("x", 2000)}, nil
			},
			"fat": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
				return jobs.Result{Data: strings.Repeat("d", 600)}, nil
			},
		})
	mc := client(t, m.Addr())
	ctx := context.Background()

	many := make([]jobs.Spec, 11)
	for i := range many {
		many[i] = jobs.Spec{Type: "loud"}
	}
	if _, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: many}); !errors.Is(err, rpcapi.ErrBadRequest) || !strings.Contains(err.Error(), "max_submit") {
		t.Errorf("11 jobs in one submit: %v", err)
	}
	big := jobs.Spec{Type: "loud", Args: map[string]string{"k": strings.Repeat("v", 200)}}
	if _, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "loud"}, big}}); !errors.Is(err, rpcapi.ErrBadRequest) || !strings.Contains(err.Error(), "max_args_bytes") {
		t.Errorf("200-byte args: %v", err)
	}
	if st, _ := mc.Status(ctx); st.Counts[jobs.Pending]+st.Counts[jobs.Running] != 0 {
		t.Fatalf("rejected submits created jobs: %v", st.Counts)
	}

	// Output over the master's max_result_bytes is cut to fit by the
	// worker (register_worker told it the limit); data over the worker's
	// fails the job at once.
	ids := submit(t, mc, jobs.Spec{Type: "loud", Retries: 3}, jobs.Spec{Type: "fat", Retries: 3})
	waitAll(t, mc, ids, 10*time.Second)
	if j := getJob(t, mc, ids[0]).Job; j.State != jobs.Succeeded || len(j.Attempts[0].Output) > 1000 ||
		!strings.HasSuffix(j.Attempts[0].Output, "xxxx") {
		t.Errorf("job %s: %s %+v; want succeeded with the output's end in 1000 bytes", ids[0], j.State, j.Attempts)
	}
	if j := getJob(t, mc, ids[1]).Job; j.State != jobs.Failed || len(j.Attempts) != 1 || !strings.Contains(j.Attempts[0].Error, "max_result_bytes 500") {
		t.Errorf("job %s: %s %+v; want failed at once with max_result_bytes 500", ids[1], j.State, j.Attempts)
	}

	// Hold gob connections open until the listener refuses one with 503.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	refused := false
	for range 10 {
		c, err := net.Dial("tcp", m.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		// A CONNECT authenticates the connection (no token is set):
		// anonymous ones have a budget of their own.
		io.WriteString(c, "CONNECT "+rpcapi.GoRPCPath+" HTTP/1.0\n\n")
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if strings.Contains(line, "503") {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("10 open connections and none refused with 503 (max_connections 6)")
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	pollT(t, 10*time.Second, "the master to accept calls again", func() bool {
		c := rpcapi.NewClient(m.Addr())
		defer c.Close()
		_, err := rpcapi.MasterClient{C: c}.Status(ctx)
		return err == nil
	})
}

// TestSubmitBytesCap: a submit whose jobs hold more than max_submit_bytes
// after decoding is refused whole on every transport (gob, XML-RPC, the
// JSON API) and creates nothing; one just under the cap goes in.
func TestSubmitBytesCap(t *testing.T) {
	m := startMaster(t, master.Config{MaxSubmitBytes: 100_000})
	ctx := context.Background()
	arg := strings.Repeat("a", 40_000)
	spec := jobs.Spec{Type: "t", Args: map[string]string{"k": arg}}
	over := []jobs.Spec{spec, spec, spec} // 3 × (40,001 + 1 + 512) bytes
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		c, err := rpcapi.NewCaller(m.Addr(), transport)
		if err != nil {
			t.Fatal(err)
		}
		mc := rpcapi.MasterClient{C: c}
		if _, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: over}); !errors.Is(err, rpcapi.ErrBadRequest) ||
			!strings.Contains(err.Error(), "max_submit_bytes") {
			t.Errorf("%s: a submit of 3 jobs of 40,000 bytes at a 100,000-byte cap: %v; want bad_request naming max_submit_bytes", transport, err)
		}
		if cl, ok := c.(io.Closer); ok {
			cl.Close()
		}
	}
	api := newHTTPAPI(t, m)
	body := `{"jobs": [` + strings.Repeat(`{"type": "t", "args": {"k": "`+arg+`"}},`, 2) + `{"type": "t", "args": {"k": "` + arg + `"}}]}`
	if code, b := api.do("POST", "/jobs", body); code != 400 || !strings.Contains(string(b), "max_submit_bytes") {
		t.Errorf("POST /api/v1/jobs of 3 jobs of 40,000 bytes: %d %s; want 400 naming max_submit_bytes", code, b)
	}
	mc := client(t, m.Addr())
	if st, _ := mc.Status(ctx); st.Counts[jobs.Pending] != 0 {
		t.Fatalf("refused submits created jobs: %v", st.Counts)
	}
	if ids := submit(t, mc, spec, spec); len(ids) != 2 {
		t.Fatalf("a submit of 2 jobs of 40,000 bytes: %v", ids)
	}
	if n := metricT(t, m.Addr(), "", `drover_submits_refused_total{limit="max_submit_bytes"}`); n != 3 {
		t.Errorf(`drover_submits_refused_total{limit="max_submit_bytes"} = %v after three refused submits, want 3`, n)
	}
}

// TestGobIdleTimeoutConf: gob_idle_timeout closes a gob connection that
// has had no call in flight that long (counted by
// drover_rpc_idle_closed_total); one that keeps calling stays open.
func TestGobIdleTimeoutConf(t *testing.T) {
	m := startMaster(t, master.Config{GobIdleTimeout: 300 * time.Millisecond})
	idle, busy := client(t, m.Addr()), client(t, m.Addr())
	ctx := context.Background()
	for _, mc := range []rpcapi.MasterClient{idle, busy} {
		if _, err := mc.Status(ctx); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for metricT(t, m.Addr(), "", "drover_rpc_idle_closed_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no gob connection closed for idling 300 ms within 10 s")
		}
		if _, err := busy.Status(ctx); err != nil {
			t.Fatalf("the connection that kept calling every 50 ms: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the busy client's pace, not a wait for the result
	}
	if n := metricT(t, m.Addr(), "", "drover_rpc_idle_closed_total"); n != 1 {
		t.Errorf("drover_rpc_idle_closed_total = %v, want 1 (only the idle connection)", n)
	}
}

// rawRequest sends a request's headers, and no body, over a new TCP
// connection to addr, and returns the reply's status line and body, or
// fails t if none comes within a generous deadline.
func rawRequest(t *testing.T, addr, method, path, ctype string, length int64) (status int, body string) {
	t.Helper()
	return rawSend(t, addr, method, path, ctype, length, "")
}

// rawSend is rawRequest with a body, sent whole before the reply is read,
// as Python's xmlrpc.client and urllib do.
func rawSend(t *testing.T, addr, method, path, ctype string, length int64, sent string) (status int, body string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hdr := method + " " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: " + ctype +
		"\r\nContent-Length: " + strconv.FormatInt(length, 10) + "\r\n\r\n"
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(hdr + sent)); err != nil {
		t.Fatalf("%s %s with a body of %d bytes: %v", method, path, len(sent), err)
	}
	start := time.Now()
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s with Content-Length %d and %d bytes sent: no reply (%v) after %v", method, path, length, len(sent), err, time.Since(start))
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	t.Logf("%s %s: %s after %v", method, path, res.Status, time.Since(start))
	return res.StatusCode, b.String()
}

// TestOverLimitBodySentWhole: a client that sends its whole body before
// it reads (Python's xmlrpc.client, urllib) reads the 413 for a body over
// max_request_body, and the 400 or fault for a malformed one, instead of
// a reset connection (docs/api.md, docs/protocol.md).
func TestOverLimitBodySentWhole(t *testing.T) {
	m := startAPIMaster(t, master.Config{MaxRequestBody: 64 << 10})
	big := strings.Repeat("<", 20<<20)
	junk := strings.Repeat("<", 60<<10)
	for _, tc := range []struct {
		path, ctype, body string
		status            int
		want              string
	}{
		{"/api/v1/jobs", "application/json", big, 413, `"too_large"`},
		{"/RPC2", "text/xml", big, 413, "over 65536 bytes"},
		{"/api/v1/jobs", "application/json", junk, 400, `"bad_request"`},
		{"/RPC2", "text/xml", junk, 200, "<int>-32700</int>"},
	} {
		status, body := rawSend(t, m.Addr(), "POST", tc.path, tc.ctype, int64(len(tc.body)), tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s with %d bytes: %d %s; want %d with %s", tc.path, len(tc.body), status, body, tc.status, tc.want)
		}
	}
}

// TestOverLimitContentLength: a request whose Content-Length is over
// max_request_body gets HTTP 413 as soon as its headers are read, on the
// JSON API (docs/api.md: too_large) and on /RPC2 (docs/protocol.md), with
// no body sent at all.
func TestOverLimitContentLength(t *testing.T) {
	m := startAPIMaster(t, master.Config{MaxRequestBody: 1024})
	for _, tc := range []struct{ path, ctype string }{
		{"/api/v1/jobs", "application/json"},
		{"/api/v1/jobs/cancel", "application/json"},
		{"/api/v1/jobs/1/cancel", "application/json"},
		{"/api/v1/schedules/nope/pause", "application/json"},
		{"/RPC2", "text/xml"},
	} {
		for _, n := range []int64{1025, 1 << 40} {
			status, body := rawRequest(t, m.Addr(), "POST", tc.path, tc.ctype, n)
			if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "1024") {
				t.Errorf("POST %s, Content-Length %d: %d %s; want 413 naming the limit", tc.path, n, status, body)
			}
			if strings.HasPrefix(tc.path, "/api/") && !strings.Contains(body, `"too_large"`) {
				t.Errorf("POST %s: %s; want the JSON error too_large", tc.path, body)
			}
		}
	}
}
