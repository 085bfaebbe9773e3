package rpcapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/xmlrpc"
)

// startXML serves the given APIs over XML-RPC and returns an XMLClient
// for them, closed when the test ends.
func startXML(t *testing.T, m MasterAPI, w WorkerAPI) *XMLClient {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(XMLRPCPath, NewXMLRPCHandler(m, w, XMLRPCOptions{}))
	srv := startServer(t, "127.0.0.1:0", mux)
	return newTestXMLClient(t, srv.addr)
}

// TestXMLRoundTripErrors: over XML-RPC too, a server error comes back as
// its sentinel with the server's whole text.
func TestXMLRoundTripErrors(t *testing.T) {
	c := startXML(t, newFakeMaster("x"), &fakeWorker{})
	m, w := MasterClient{C: c}, WorkerClient{C: c}
	for id, serverErr := range serverErrs {
		want := sentinels[Code(serverErr)]
		ctx := ctxT(t, 10*time.Second)
		_, errM := m.GetJob(ctx, id)
		errW := w.Cancel(ctx, &WorkerCancelArgs{Jobs: []JobRef{{JobID: id}}})
		for side, err := range map[string]error{"master": errM, "worker": errW} {
			for _, s := range allSentinels {
				if got := errors.Is(err, s); got != (s == want) {
					t.Errorf("%s %s: errors.Is(%v, %s) = %v", id, side, err, s.Code, got)
				}
			}
			if err == nil || err.Error() != serverErr.Error() {
				t.Errorf("%s %s: err text %v, want %q", id, side, err, serverErr)
			}
		}
	}
}

// xmlCanned serves every POST with status and body, and records the last
// request.
type xmlCanned struct {
	status int
	body   string
	req    *http.Request
	call   []byte
}

func (h *xmlCanned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.req = r
	h.call, _ = io.ReadAll(r.Body)
	w.WriteHeader(h.status)
	io.WriteString(w, h.body)
}

// xmlFault returns a fault response.
func xmlFault(t *testing.T, code int, msg string) string {
	t.Helper()
	var b bytes.Buffer
	if err := xmlrpc.EncodeFault(&b, code, msg); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestXMLClientErrors: every fault code, HTTP status and broken reply
// becomes the documented sentinel.
func TestXMLClientErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   *Error
		text   string // a substring of the error
	}{
		{"unknown worker", 200, xmlFault(t, FaultUnknownWorker, "rpcapi: unknown worker: w-1"), ErrUnknownWorker, "rpcapi: unknown worker: w-1"},
		{"not found", 200, xmlFault(t, FaultNotFound, "gone"), ErrNotFound, "gone"},
		{"bad request", 200, xmlFault(t, FaultBadRequest, "no type"), ErrBadRequest, "no type"},
		{"unavailable", 200, xmlFault(t, FaultUnavailable, "draining"), ErrUnavailable, "draining"},
		{"internal", 200, xmlFault(t, FaultInternal, "boom"), ErrInternal, "boom"},
		{"unauthorized fault", 200, xmlFault(t, FaultUnauthorized, "token"), ErrUnauthorized, "token"},
		{"parse", 200, xmlFault(t, FaultParse, "parse error: x"), ErrBadRequest, "parse error: x"},
		{"invalid params", 200, xmlFault(t, FaultInvalidParams, "get_job: bad"), ErrBadRequest, "get_job: bad"},
		{"method not found", 200, xmlFault(t, FaultMethodNotFound, "no method"), ErrNotFound, "no method"},
		{"unknown fault", 200, xmlFault(t, 99, "odd"), ErrInternal, "fault 99: odd"},
		{"401", 401, "no", ErrUnauthorized, "refused the token"},
		{"413", 413, "big", ErrBadRequest, "request body too large (HTTP 413)"},
		{"500", 500, "oops", ErrUnavailable, "HTTP 500 Internal Server Error"},
		{"not XML", 200, "<html>", ErrUnavailable, "xmlrpc: "},
		{"a call, not a response", 200, "<methodCall><methodName>x</methodName></methodCall>", ErrUnavailable, "want <methodResponse>"},
		{"reply of the wrong shape", 200, "<methodResponse><params><param><value><int>1</int></value></param></params></methodResponse>",
			ErrInternal, "decode get_job reply: xmlrpc: result: want struct, got int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &xmlCanned{status: tt.status, body: tt.body}
			srv := httptest.NewServer(h)
			defer srv.Close()
			c, err := NewXMLClient(srv.URL, WithToken("tok"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = MasterClient{C: c}.GetJob(ctxT(t, 10*time.Second), "j1")
			for _, s := range []*Error{ErrUnknownWorker, ErrNotFound, ErrBadRequest, ErrUnavailable, ErrUnauthorized, ErrInternal} {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(%v, %s) = %v", err, s.Code, got)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %v does not contain %q", err, tt.text)
			}
			// The request was a well-formed call with the token.
			method, params, derr := xmlrpc.DecodeCall(bytes.NewReader(h.call), xmlrpc.Limits{})
			if derr != nil || method != "get_job" || len(params) != 1 {
				t.Errorf("request %q: %q %v %v", h.call, method, params, derr)
			}
			if got := h.req.Header.Get("Authorization"); got != "Bearer tok" {
				t.Errorf("Authorization %q", got)
			}
			if got := h.req.Header.Get("Content-Type"); got != "text/xml" {
				t.Errorf("Content-Type %q", got)
			}
		})
	}
}

// TestXMLClientCtxAndClose: a call abandoned by its context, or made on a
// closed client, is ErrUnavailable.
func TestXMLClientCtxAndClose(t *testing.T) {
	fm := newFakeMaster("x")
	defer close(fm.release)
	c := startXML(t, fm, nil)
	m := MasterClient{C: c}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := m.Wait(ctx, &WaitArgs{Group: "block"})
		done <- err
	}()
	<-fm.waiting
	cancel()
	select {
	case err := <-done:
		wantUnavailable(t, err, "wait_jobs", "context canceled")
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end with its context")
	}
	if _, err := m.Status(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("Status after a cancelled call: %v", err)
	}
	c.Close()
	_, err := m.Status(ctxT(t, 10*time.Second))
	wantUnavailable(t, err, "client closed")
}

// TestNewCallerAddresses: NewCaller refuses, with an error that matches
// ErrBadRequest, an address its transport cannot use, rather than making a
// client whose every call fails as ErrUnavailable, which is retried.
func TestNewCallerAddresses(t *testing.T) {
	tests := []struct {
		transport, addr string
		ok              bool
	}{
		{TransportGob, "127.0.0.1:7070", true},
		{TransportGob, "http://127.0.0.1:7070", true},
		{TransportGob, "https://master.example:7070/", true},
		{TransportGob, "drover:secret@127.0.0.1:7070", true},
		{TransportGob, "[::1]:7070", true},
		{TransportGob, ":7070", true},
		{TransportGob, "127.0.0.1", false},
		{TransportGob, "master.example", false},
		{TransportGob, "https://master.example", false},
		{TransportGob, "drover:secret@127.0.0.1", false},
		{TransportGob, "::1", false},
		{TransportGob, "127.0.0.1:0", false},
		{TransportGob, "127.0.0.1:70000", false},
		{TransportGob, "127.0.0.1:7070/RPC2", false},
		{TransportGob, "ftp://127.0.0.1:7070", false},
		{TransportGob, "", false},
		{TransportXMLRPC, "127.0.0.1:7070", true},
		{TransportXMLRPC, "http://127.0.0.1", true}, // a URL's port may be left out
		{TransportXMLRPC, "https://master.example/RPC2", true},
		{TransportXMLRPC, "http://127.0.0.1:7070/rpc", true},
		{TransportXMLRPC, "127.0.0.1", false},
		{TransportXMLRPC, "drover:secret@127.0.0.1", false},
		{TransportXMLRPC, "127.0.0.1:0", false},
		{TransportXMLRPC, "http://127.0.0.1:99999", false},
		{TransportXMLRPC, "ftp://127.0.0.1:7070", false},
		{TransportXMLRPC, "", false},
	}
	for _, tt := range tests {
		c, err := NewCaller(tt.addr, tt.transport)
		if tt.ok {
			if err != nil {
				t.Errorf("NewCaller(%q, %s): %v; want a client", tt.addr, tt.transport, err)
			} else {
				c.Close()
			}
			continue
		}
		if err == nil {
			c.Close()
			t.Errorf("NewCaller(%q, %s) made a client; want an error", tt.addr, tt.transport)
			continue
		}
		t.Logf("NewCaller(%q, %s): %v", tt.addr, tt.transport, err)
		if !errors.Is(err, ErrBadRequest) || errors.Is(err, ErrUnavailable) {
			t.Errorf("NewCaller(%q, %s): %v; want ErrBadRequest", tt.addr, tt.transport, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("NewCaller(%q, %s): the error shows the password: %v", tt.addr, tt.transport, err)
		}
	}
}
