package drovertest

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Submit submits specs and returns their IDs, failing the test on error.
func (c *Cluster) Submit(specs ...jobs.Spec) []string {
	c.t.Helper()
	return testproc.Submit(c.t, c.mc, specs...)
}

// Job returns job id as the master has it, failing the test on error.
func (c *Cluster) Job(id string) jobs.Job {
	c.t.Helper()
	return testproc.Job(c.t, c.mc, id)
}

// WaitAll blocks until every job in ids is final (succeeded, failed or
// cancelled) and returns where they stand, riding out master restarts. It
// fails the test when timeout passes first.
func (c *Cluster) WaitAll(ids []string, timeout time.Duration) rpcapi.WaitReply {
	c.t.Helper()
	return testproc.WaitAll(c.t, c.mc, ids, timeout)
}

// WorkerInfo returns the master's record of worker i's latest
// registration (its current incarnation when that has registered), and
// false when the master has none.
func (c *Cluster) WorkerInfo(i int) (rpcapi.WorkerInfo, bool) {
	n := c.node(i)
	c.mu.Lock()
	w := n.w
	c.mu.Unlock()
	id := ""
	if w != nil {
		id = w.ID()
	}
	return testproc.WorkerInfo(c.mc, n.name, id)
}

// MetricsText returns the master's /metrics page (Prometheus text),
// failing the test on error.
func (c *Cluster) MetricsText() string {
	c.t.Helper()
	s, err := FetchMetrics(c.addr)
	if err != nil {
		c.t.Fatalf("drovertest: %v", err)
	}
	return s
}

// Metric returns the sum of the samples of metric name on the master's
// /metrics page (0 when it has none), failing the test on error.
func (c *Cluster) Metric(name string) float64 {
	c.t.Helper()
	v, _ := MetricValue(c.MetricsText(), name)
	return v
}

// FetchMetrics gets the /metrics page of the node at addr (host:port).
func FetchMetrics(addr string) (string, error) {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + rpcapi.HostPort(addr) + "/metrics")
	if err != nil {
		return "", fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("metrics: %s: %s", resp.Status, b)
	}
	return string(b), nil
}

// MetricValue sums the samples of metric name (every label set) in a
// Prometheus text page, and reports whether there was any.
func MetricValue(text, name string) (float64, bool) {
	sum, found := 0.0, false
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sum, found = sum+v, true
	}
	return sum, found
}

// Eventually calls cond every 10ms until it returns true, and fails the
// test if timeout passes first.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testproc.Poll(t, timeout, what, cond)
}
