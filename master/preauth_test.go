package master_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// metricT reads one unlabelled value from the master's /metrics.
func metricT(t *testing.T, addr, token, name string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s in /metrics", name)
	return 0
}

// TestPreAuthFlood: 1,000 connections that send nothing, and some that
// CONNECT without the token, do not keep a client that has the token out
// (gob and XML-RPC, 10 of 10 each), and are closed after the pre-auth
// deadline.
func TestPreAuthFlood(t *testing.T) {
	const flood, noToken = 1000, 20
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if need := uint64(2*flood + 500); rl.Cur < need {
		if rl.Max < need {
			t.Skipf("fd limit %d, need %d", rl.Max, need)
		}
		old := rl
		rl.Cur = need
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	}
	const tok = "tok"
	m := startMaster(t, master.Config{Token: tok, MaxConnections: 50})
	addr := m.Addr()

	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range flood {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("raw connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	for range noToken {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		io.WriteString(c, "CONNECT "+rpcapi.GoRPCPath+" HTTP/1.0\r\n\r\n")
	}

	ctx := context.Background()
	for i := range 10 {
		for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
			c, err := rpcapi.NewCaller(addr, transport, rpcapi.WithToken(tok))
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			start := time.Now()
			_, err = rpcapi.MasterClient{C: c}.Status(cctx)
			cancel()
			if cl, ok := c.(io.Closer); ok {
				cl.Close()
			}
			if err != nil {
				t.Fatalf("%s client with the token, call %d of 10, with %d anonymous connections open: %v (after %v)",
					transport, i+1, flood+noToken, err, time.Since(start))
			}
		}
	}

	if n := metricT(t, addr, tok, "drover_connections_anonymous_evicted_total"); n < flood-listen.DefaultAnonymousConnections {
		t.Errorf("drover_connections_anonymous_evicted_total %v; want at least %d", n, flood-listen.DefaultAnonymousConnections)
	}
	// The anonymous connections the listener kept are closed after the
	// pre-auth deadline: every one of ours reads EOF (or the 503).
	deadline := time.Now().Add(listen.DefaultPreAuthTimeout + 10*time.Second)
	for i, c := range conns {
		c.SetReadDeadline(deadline)
		b, err := io.ReadAll(bufio.NewReader(c))
		if err != nil {
			t.Fatalf("connection %d still open %v after the flood: %v (read %q)", i+1, listen.DefaultPreAuthTimeout+10*time.Second, err, b)
		}
	}
	pollT(t, 10*time.Second, "no anonymous connection", func() bool {
		return metricT(t, addr, tok, "drover_connections_anonymous") == 0
	})
	if n := metricT(t, addr, tok, "drover_connections_preauth_closed_total"); n < 1 {
		t.Errorf("drover_connections_preauth_closed_total %v; want the anonymous connections kept past the deadline", n)
	}
}
