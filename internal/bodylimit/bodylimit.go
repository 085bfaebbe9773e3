// Package bodylimit lets an HTTP handler refuse a request before it has
// read the whole body (a 413 over the limit, a 400 or an XML-RPC fault on
// a malformed body) in a way the client can read.
//
// Most clients (Python's xmlrpc.client, curl without 100-continue, Go's
// net/http) send a whole body before they read a reply. A server that
// replies and closes with part of the body unread makes the kernel reset
// the connection, and the client reports "connection reset" instead of
// the reply. Serve sends the handler's reply, then reads and drops the
// rest of the body before the connection goes on or closes: up to
// MaxDiscard bytes, for discardTime at most. A larger body is cut off,
// and its client may see the reset.
package bodylimit

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// MaxDiscard bounds the bytes of a body that Serve reads after the
// handler has replied.
const MaxDiscard = 64 << 20

// discardTime bounds how long Serve reads after the handler has replied.
const discardTime = 5 * time.Second

// Serve runs h on w and r. When h replies before it has read r's body to
// its end, the reply is held until h returns and sent whole (with its
// length, so the client knows it has all of it), and then the rest of the
// body is read and dropped, if the body's length is at most MaxDiscard
// (or unknown). A request that asked "Expect: 100-continue" has sent no
// body that h did not ask for, and none is read.
func Serve(w http.ResponseWriter, r *http.Request, h func(http.ResponseWriter, *http.Request)) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength > MaxDiscard || r.Header.Get("Expect") == "100-continue" {
		h(w, r)
		return
	}
	rc := http.NewResponseController(w)
	if rc.EnableFullDuplex() != nil { // reads after the reply would fail
		h(w, r)
		return
	}
	b := &body{ReadCloser: r.Body}
	r.Body = b
	rw := &replyWriter{ResponseWriter: w, body: b}
	h(rw, r)
	if b.done || (rw.decided && rw.held == nil) {
		return // h read the body first: its reply went out as it wrote it
	}
	if rw.held != nil {
		w.Header().Set("Content-Length", strconv.Itoa(rw.held.Len()))
		w.WriteHeader(rw.status)
		_, _ = w.Write(rw.held.Bytes())
		_ = rc.Flush()
	}
	_ = rc.SetReadDeadline(time.Now().Add(discardTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(b, MaxDiscard))
}

// body notes whether its reads have come to the end.
type body struct {
	io.ReadCloser
	done bool
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.done = true
	}
	return n, err
}

// replyWriter passes a handler's reply through, unless the handler began
// it before the body's end: then it holds the reply (held) for Serve.
type replyWriter struct {
	http.ResponseWriter
	body    *body
	decided bool          // the reply has begun
	held    *bytes.Buffer // the reply held, when it began before the body's end
	status  int
}

func (w *replyWriter) begin(status int) {
	if w.decided {
		return
	}
	w.decided = true
	if !w.body.done {
		w.held, w.status = new(bytes.Buffer), status
	}
}

func (w *replyWriter) WriteHeader(status int) {
	w.begin(status)
	if w.held == nil {
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *replyWriter) Write(p []byte) (int, error) {
	w.begin(http.StatusOK)
	if w.held != nil {
		return w.held.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the connection's writer.
func (w *replyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
