package master_test

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/master"
)

// rawRequest sends a request's headers, and no body, over a new TCP
// connection to addr, and returns the reply's status line and body, or
// fails t if none comes within a generous deadline.
func rawRequest(t *testing.T, addr, method, path, ctype string, length int64) (status int, body string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hdr := method + " " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: " + ctype +
		"\r\nContent-Length: " + strconv.FormatInt(length, 10) + "\r\n\r\n"
	if _, err := c.Write([]byte(hdr)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s with Content-Length %d and no body: no reply (%v) after %v", method, path, length, err, time.Since(start))
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
