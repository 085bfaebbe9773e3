package master_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/internal/xmlrpc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// encodeCall is an XML-RPC methodCall of method with one struct param.
func encodeCall(t testing.TB, method string, param map[string]any) string {
	t.Helper()
	var b bytes.Buffer
	if err := xmlrpc.EncodeCall(&b, method, param); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// sendHost sends one request to addr with the given Host header and returns
// the status and body.
func sendHost(t testing.TB, method, addr, path, host, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, b := testproc.HTTPDo(t, req)
	return res.StatusCode, string(b)
}

// connectHost opens net/rpc's CONNECT to addr with the given Host header
// and returns the status line's code and text.
func connectHost(t testing.TB, addr, host string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "CONNECT "+rpcapi.GoRPCPath+" HTTP/1.0\r\nHost: "+host+"\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	if res.StatusCode != http.StatusOK {
		b, _ = io.ReadAll(res.Body)
	}
	return res.StatusCode, res.Status + " " + string(b)
}

// TestDNSRebinding: a request whose Host is a name the listener does not
// answer to (a web page's own name rebound to the machine's address) is
// refused on every path of a master and a worker, and changes nothing;
// with the name in allowed_hosts, the same requests pass.
func TestDNSRebinding(t *testing.T) {
	const evil = "rebind.example"
	submit := encodeCall(t, "submit_jobs", map[string]any{"specs": []any{map[string]any{"type": "echo"}}})
	ping := encodeCall(t, "ping", map[string]any{})
	for _, allowed := range []bool{false, true} {
		var hosts []string
		if allowed {
			hosts = []string{evil}
		}
		m := startMaster(t, master.Config{AllowedHosts: hosts})
		w := master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "w", AllowedHosts: hosts}, map[string]worker.HandlerFunc{"echo": echo})
		c := newHTTPAPI(t, m)
		for _, host := range []string{evil, evil + ":80", "REBIND.example."} {
			type check struct {
				what       string
				code, pass int
				body       string
			}
			var checks []check
			add := func(what string, pass int) func(int, string) {
				return func(code int, body string) { checks = append(checks, check{what, code, pass, body}) }
			}
			add("master POST /RPC2", 200)(sendHost(t, "POST", m.Addr(), rpcapi.XMLRPCPath, host, "text/xml", submit))
			add("master CONNECT", 200)(connectHost(t, m.Addr(), host))
			add("master POST /api/v1/jobs", 201)(sendHost(t, "POST", m.Addr(), "/api/v1/jobs", host, "application/json", `{"type": "echo"}`))
			add("master GET /api/v1/jobs", 200)(sendHost(t, "GET", m.Addr(), "/api/v1/jobs", host, "", ""))
			add("master GET /", 200)(sendHost(t, "GET", m.Addr(), "/", host, "", ""))
			add("master GET /metrics", 200)(sendHost(t, "GET", m.Addr(), "/metrics", host, "", ""))
			add("worker POST /RPC2", 200)(sendHost(t, "POST", w.Addr(), rpcapi.XMLRPCPath, host, "text/xml", ping))
			add("worker CONNECT", 200)(connectHost(t, w.Addr(), host))
			for _, ch := range checks {
				switch {
				case allowed && ch.code != ch.pass:
					t.Errorf("allowed_hosts = [%q], Host %q: %s: %d %s, want %d", evil, host, ch.what, ch.code, ch.body, ch.pass)
				case !allowed && (ch.code != http.StatusForbidden || !strings.Contains(ch.body, "allowed_hosts")):
					t.Errorf("Host %q: %s: %d %s, want 403 naming allowed_hosts", host, ch.what, ch.code, ch.body)
				}
			}
		}
		var page struct{ Jobs []struct{ ID string } }
		c.get("jobs", &page)
		if want := map[bool]int{false: 0, true: 6}[allowed]; len(page.Jobs) != want {
			t.Errorf("allowed %v: %d jobs on the master, want %d", allowed, len(page.Jobs), want)
		}
	}
}

// TestDefaultHostNames: clients that reach a master by the names it
// answers to by default (an IP address, localhost) keep working over
// both transports, and a Go client refused for its Host says why.
func TestDefaultHostNames(t *testing.T) {
	m := startMaster(t, master.Config{})
	_, port, _ := net.SplitHostPort(m.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, addr := range []string{m.Addr(), "localhost:" + port} {
		gc := rpcapi.NewClient(addr)
		xc, err := rpcapi.NewXMLClient(addr)
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]rpcapi.Caller{"gob": gc, "xmlrpc": xc} {
			if _, err := (rpcapi.MasterClient{C: c}).Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "echo"}}}); err != nil {
				t.Errorf("%s client of %s: %v", name, addr, err)
			}
		}
		gc.Close()
		xc.Close()
	}
	// A Host the master does not answer to, through a proxy that sets it.
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(&url.URL{Scheme: "http", Host: m.Addr()})
		r.Out.Host = "rebind.example"
	}})
	defer proxy.Close()
	xc, err := rpcapi.NewXMLClient(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer xc.Close()
	_, err = (rpcapi.MasterClient{C: xc}).Status(ctx)
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "allowed_hosts") {
		t.Errorf("XML-RPC through a foreign Host: %v; want the 403 and its reason", err)
	}
	t.Logf("refused: %v", err)
}
