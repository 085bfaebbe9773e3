package rpcapi

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

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

// TestXMLRPCServerBadInput: every kind of bad request gets the documented
// HTTP status or fault, and none reaches the API.
func TestXMLRPCServerBadInput(t *testing.T) {
	fm := newFakeMaster("x")
	mux := http.NewServeMux()
	mux.Handle(XMLRPCPath, NewXMLRPCHandler(fm, nil, XMLRPCOptions{MaxBody: 64 << 10}))
	srv := startServer(t, "127.0.0.1:0", mux)
	url := "http://" + srv.addr + XMLRPCPath

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
	fm := newFakeMaster("x")
	mux := http.NewServeMux()
	mux.Handle(XMLRPCPath, NewXMLRPCHandler(fm, nil, XMLRPCOptions{}))
	srv := startServer(t, "127.0.0.1:0", mux)
	url := "http://" + srv.addr + XMLRPCPath
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
