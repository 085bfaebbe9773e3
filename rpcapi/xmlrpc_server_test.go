package rpcapi

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"bufio"
	"io"
	"net"
	"strconv"
	"time"

	"math"

	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/internal/xmlrpc"
)

// post sends body to the XML-RPC endpoint at url and returns the status
// and the body of the answer.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	return postType(t, url, "text/xml", body)
}

// postType is post with the Content-Type ctype (none if empty).
func postType(t *testing.T, url, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	code, b := testnet.Do(t, req)
	return code, string(b)
}

func call(method string, params ...any) string {
	var buf bytes.Buffer
	if err := xmlrpc.EncodeCall(&buf, method, params...); err != nil {
		panic(err)
	}
	return buf.String()
}

// serveXMLRPC serves a fake master's XML-RPC handler with opts on
// 127.0.0.1, and returns the fake, the server and the handler's URL.
func serveXMLRPC(t *testing.T, opts XMLRPCOptions) (*fakeMaster, *testServer, string) {
	t.Helper()
	fm := newFakeMaster("x")
	mux := http.NewServeMux()
	mux.Handle(XMLRPCPath, NewXMLRPCHandler(fm, nil, opts))
	srv := startServer(t, "127.0.0.1:0", mux)
	return fm, srv, "http://" + srv.addr + XMLRPCPath
}

// TestXMLRPCServerBadInput: every kind of bad request gets the documented
// HTTP status or fault, and none reaches the API.
func TestXMLRPCServerBadInput(t *testing.T) {
	fm, _, url := serveXMLRPC(t, XMLRPCOptions{MaxBody: 64 << 10})

	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	big := call("submit_jobs", map[string]any{"specs": []any{map[string]any{"type": strings.Repeat("x", 70<<10)}}})
	if code, _ := post(t, url, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", code)
	}
	deep := strings.Repeat("<value><array><data>", 40) + strings.Repeat("</data></array></value>", 40)
	for _, tc := range []struct {
		name, body string
		fault      string
	}{
		{"malformed XML", "<methodCall><methodName>ping", "<int>-32700</int>"},
		{"not XML-RPC", "<hello/>", "<int>-32700</int>"},
		{"DOCTYPE", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><methodCall><methodName>get_master_status</methodName></methodCall>`, "<int>-32700</int>"},
		{"too deep", "<methodCall><methodName>submit_jobs</methodName><params><param>" + deep + "</param></params></methodCall>", "<int>-32700</int>"},
		{"unknown method", call("no_such_method"), "<int>-32601</int>"},
		{"two params", call("get_job", map[string]any{"id": "1"}, map[string]any{"id": "2"}), "<int>-32602</int>"},
		{"wrong type", call("get_job", map[string]any{"id": int64(1)}), "<int>-32602</int>"},
		{"unknown member", call("submit_jobs", map[string]any{"specz": []any{}}), "<int>-32602</int>"},
		{"not a struct", call("submit_jobs", "jobs"), "<int>-32602</int>"},
		{"API error", call("get_job", map[string]any{"id": "not-found"}), "<int>2</int>"},
		{"API bad request", call("get_job", map[string]any{"id": "bad-request"}), "<int>3</int>"},
	} {
		code, body := post(t, url, tc.body)
		if code != 200 || !strings.Contains(body, "<name>faultCode</name>") || !strings.Contains(body, tc.fault) {
			t.Errorf("%s: HTTP %d %s; want fault %s", tc.name, code, body, tc.fault)
		}
	}
	if n := fm.submits(); n != 0 {
		t.Errorf("bad requests reached Submit %d times", n)
	}
	code, body := post(t, url, call("system.listMethods"))
	if code != 200 || !strings.Contains(body, "<string>submit_jobs</string>") || !strings.Contains(body, "<string>system.methodHelp</string>") {
		t.Errorf("listMethods: %d %s", code, body)
	}
}

// TestXMLRPCContentType: a call reaches the API only with an XML
// Content-Type (what Python's xmlrpc.client, kolo/xmlrpc and XMLClient
// send); the types a web page's form post or no-cors fetch can send get
// HTTP 415 with the reason.
func TestXMLRPCContentType(t *testing.T) {
	fm, _, url := serveXMLRPC(t, XMLRPCOptions{})
	submit := call("submit_jobs", map[string]any{"specs": []any{map[string]any{"type": "echo"}}})
	send := func(ct string) (int, string) { return postType(t, url, ct, submit) }
	for _, ct := range []string{"", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/json", "text/xmlx", "xml"} {
		code, body := send(ct)
		if code != http.StatusUnsupportedMediaType || !strings.Contains(body, "text/xml") {
			t.Errorf("Content-Type %q: HTTP %d %s; want 415 naming text/xml", ct, code, body)
		}
	}
	if n := fm.submits(); n != 0 {
		t.Fatalf("%d submits got through without an XML Content-Type", n)
	}
	for _, ct := range []string{"text/xml", "text/xml; charset=utf-8", "Text/XML", "application/xml"} {
		if code, body := send(ct); code != 200 || strings.Contains(body, "faultCode") {
			t.Errorf("Content-Type %q: HTTP %d %s", ct, code, body)
		}
	}
}

// rawPost writes head (a request's start line and headers, without the
// blank line), then body, to a new connection to addr, and returns the
// reply, or fails t if none comes within a generous deadline.
func rawPost(t *testing.T, addr, head, body string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
	if err != nil {
		t.Fatalf("%q: no reply (%v) after %v", head, err, time.Since(start))
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	t.Logf("%s after %v", res.Status, time.Since(start))
	return res.StatusCode, string(b)
}

// TestXMLRPCContentLengthOverLimit: a call whose Content-Length is over
// MaxBody gets HTTP 413 once its headers are read, with no body sent; a
// body of the limit's size is served, and a chunked body over it still
// gets 413.
func TestXMLRPCContentLengthOverLimit(t *testing.T) {
	_, srv, _ := serveXMLRPC(t, XMLRPCOptions{MaxBody: 1024})
	head := "POST " + XMLRPCPath + " HTTP/1.1\r\nHost: " + srv.addr + "\r\nContent-Type: text/xml"
	for _, n := range []int64{1025, 1 << 40} {
		code, body := rawPost(t, srv.addr, head+"\r\nContent-Length: "+strconv.FormatInt(n, 10), "")
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "over 1024 bytes") {
			t.Errorf("Content-Length %d, no body: HTTP %d %s; want 413", n, code, body)
		}
	}
	full := call("get_master_status")
	full += strings.Repeat(" ", 1024-len(full))
	code, body := rawPost(t, srv.addr, head+"\r\nContent-Length: 1024", full)
	if code != 200 || strings.Contains(body, "faultCode") {
		t.Errorf("a body of 1024 bytes: HTTP %d %s", code, body)
	}
	chunked := strconv.FormatInt(int64(len(full)+1), 16) + "\r\n" + full + " \r\n0\r\n\r\n"
	if code, body := rawPost(t, srv.addr, head+"\r\nTransfer-Encoding: chunked", chunked); code != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body of 1025 bytes: HTTP %d %s; want 413", code, body)
	}
}

// TestXMLRPCNumberOutOfRange: a duration that is NaN, infinite or too big
// for its type, however it is written, is fault -32602 (invalid params)
// naming the member, as docs/protocol.md has it for a bad value, not
// -32700 (the body is well-formed XML-RPC) and never a wrapped-around
// duration reaching the API.
func TestXMLRPCNumberOutOfRange(t *testing.T) {
	_, _, url := serveXMLRPC(t, XMLRPCOptions{})
	waitCall := func(value string) string {
		return `<?xml version="1.0"?><methodCall><methodName>wait_jobs</methodName><params><param><value><struct>` +
			`<member><name>timeout</name><value>` + value + `</value></member></struct></value></param></params></methodCall>`
	}
	for _, v := range []string{
		"<double>NaN</double>", "<double>nan</double>", "<double>inf</double>", "<double>+Inf</double>",
		"<double>-inf</double>", "<double>Infinity</double>", "<double>1e400</double>", "<double>-1e400</double>",
		"<double>1e300</double>", "<double>9.3e9</double>", "<double>-1</double>",
		"<string>NaN</string>", "<string>Inf</string>", "<string>-Inf</string>", "<string>1e400s</string>",
		"<string>99999999999h</string>",
		"<int>99999999999999999999</int>", "<i8>-99999999999999999999</i8>", "<i8>9223372036854775807</i8>",
	} {
		code, body := post(t, url, waitCall(v))
		if code != 200 || !strings.Contains(body, "<int>-32602</int>") ||
			!strings.Contains(body, "wait_jobs: xmlrpc: params[0].timeout: ") {
			t.Errorf("timeout %s: HTTP %d %s\nwant fault -32602 naming params[0].timeout", v, code, body)
		}
	}
	// The document is checked whole first: malformed after the number is
	// still a parse error, and an unknown method is still -32601.
	bad := strings.Replace(waitCall("<double>nan</double>"), "</methodCall>", "</methodCall><x/>", 1)
	if _, body := post(t, url, bad); !strings.Contains(body, "<int>-32700</int>") {
		t.Errorf("NaN in a malformed body: %s\nwant fault -32700", body)
	}
	unknown := strings.Replace(waitCall("<double>nan</double>"), "wait_jobs", "no_such", 1)
	if _, body := post(t, url, unknown); !strings.Contains(body, "<int>-32601</int>") {
		t.Errorf("NaN in a call of an unknown method: %s\nwant fault -32601", body)
	}
}

// TestWireDurationBounds: the largest double below the bound maps to a
// positive duration (no wrap-around), the bound itself is refused.
func TestWireDurationBounds(t *testing.T) {
	bound := float64(math.MaxInt64) / 1e9
	below := math.Nextafter(bound, 0)
	d, err := wireDuration(below, &xmlrpc.Path{Root: "x"})
	if err != nil || d <= 0 || d < time.Duration(math.MaxInt64)-time.Millisecond {
		t.Errorf("wireDuration(%v) = %v, %v; want just under the largest duration", below, d, err)
	}
	for _, f := range []float64{bound, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN()} {
		if d, err := wireDuration(f, &xmlrpc.Path{Root: "x"}); err == nil {
			t.Errorf("wireDuration(%v) = %v, want an error", f, d)
		}
	}
}
