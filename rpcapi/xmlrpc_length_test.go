package rpcapi

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
	fm := newFakeMaster("x")
	mux := http.NewServeMux()
	mux.Handle(XMLRPCPath, NewXMLRPCHandler(fm, nil, XMLRPCOptions{MaxBody: 1024}))
	srv := startServer(t, "127.0.0.1:0", mux)
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
