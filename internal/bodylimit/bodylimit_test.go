package bodylimit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serve runs h on a real server on loopback, through Serve when wrap is
// set, and returns its address.
func serve(t *testing.T, wrap bool, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hh http.Handler = h
	if wrap {
		hh = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { Serve(w, r, h) })
	}
	srv := &http.Server{Handler: hh, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// refuse replies 400 without reading the body, as a handler that finds
// the request wrong from its headers or its first bytes does.
func refuse(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "no thanks", http.StatusBadRequest)
}

// echoLen reads the whole body and replies with its length.
func echoLen(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	fmt.Fprint(w, n)
}

// post writes a request with an n-byte body as a client that sends the
// whole body before it reads does (Python's xmlrpc.client), on conn, and
// reads the reply.
func post(t *testing.T, conn net.Conn, br *bufio.Reader, n int, chunked bool) (*http.Response, string, error) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	head := "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
	if chunked {
		head += "Transfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(int64(n), 16) + "\r\n"
	} else {
		head += "Content-Length: " + strconv.Itoa(n) + "\r\n\r\n"
	}
	if _, err := io.WriteString(conn, head); err != nil {
		return nil, "", err
	}
	chunk := []byte(strings.Repeat("a", 64<<10))
	for left := n; left > 0; left -= len(chunk) {
		if _, err := conn.Write(chunk[:min(left, len(chunk))]); err != nil {
			return nil, "", fmt.Errorf("writing the body: %w", err)
		}
	}
	if chunked {
		if _, err := io.WriteString(conn, "\r\n0\r\n\r\n"); err != nil {
			return nil, "", err
		}
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, "", fmt.Errorf("reading the reply: %w", err)
	}
	b, err := io.ReadAll(res.Body)
	return res, string(b), err
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, bufio.NewReader(conn)
}

// TestRefusalIsRead: a handler that replies before reading an 8 MiB
// body: the client, which sends the whole body first, reads the reply,
// with its length, for a body of known length and a chunked one. Without
// Serve the same client sees its connection reset or a broken pipe; the
// test logs what it saw (the kernel's buffers decide, so it asserts
// nothing there).
func TestRefusalIsRead(t *testing.T) {
	const n = 8 << 20
	for _, chunked := range []bool{false, true} {
		conn, br := dial(t, serve(t, true, refuse))
		res, body, err := post(t, conn, br, n, chunked)
		if err != nil || res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "no thanks") || res.ContentLength != int64(len(body)) {
			t.Fatalf("chunked %v: %v, %q, %v; want the 400 whole, with its length", chunked, res, body, err)
		}
	}
	conn, br := dial(t, serve(t, false, refuse))
	if _, _, err := post(t, conn, br, n, false); err == nil {
		t.Log("without Serve the client read the refusal too (the kernel kept the reply); nothing shown")
	} else {
		t.Logf("without Serve: %v", err)
	}
}

// TestReadBodyPassesThrough: a handler that reads the body first replies
// as it writes, and the connection serves the next request.
func TestReadBodyPassesThrough(t *testing.T) {
	conn, br := dial(t, serve(t, true, echoLen))
	for _, n := range []int{0, 10, 3 << 20} {
		res, body, err := post(t, conn, br, n, n == 10)
		if err != nil || res.StatusCode != 200 || body != strconv.Itoa(n) || res.Close {
			t.Fatalf("body of %d: %v, %q, %v; want 200 %d on a connection kept open", n, res, body, err, n)
		}
	}
}

// TestExpectContinue: a client that waits for 100 Continue gets the
// refusal without sending its body, and nothing waits for it.
func TestExpectContinue(t *testing.T) {
	conn, br := dial(t, serve(t, true, refuse))
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("%v, %v; want 400", res, err)
	}
	if d := time.Since(start); d > discardTime {
		t.Fatalf("refusal after %v", d)
	}
}
