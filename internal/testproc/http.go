package testproc

import (
	"io"
	"net/http"
)

// HTTPDo sends req with http.DefaultClient and returns the reply with its
// whole body, read and closed, failing the test if either fails.
func HTTPDo(tb TB, req *http.Request) (*http.Response, []byte) {
	tb.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading the reply: %v", req.Method, req.URL, err)
	}
	return res, b
}
