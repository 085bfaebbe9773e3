package rpcapi

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/xmlrpc"
)

// TestXMLRPCNumberOutOfRange: a duration that is NaN, infinite or too big
// for its type, however it is written, is fault -32602 (invalid params)
// naming the member, as docs/protocol.md has it for a bad value, not
// -32700 (the body is well-formed XML-RPC) and never a wrapped-around
// duration reaching the API.
func TestXMLRPCNumberOutOfRange(t *testing.T) {
	fm := newFakeMaster("x")
	mux := http.NewServeMux()
	mux.Handle(XMLRPCPath, NewXMLRPCHandler(fm, nil, XMLRPCOptions{}))
	srv := startServer(t, "127.0.0.1:0", mux)
	url := "http://" + srv.addr + XMLRPCPath
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
