package master_test

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// logGet requests path (with header h, if any) from m's API and returns
// the reply's status, headers and body.
func logGet(t *testing.T, m *master.Master, path string, h ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+m.Addr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	res, b := testproc.HTTPDo(t, req)
	return res.StatusCode, res.Header, string(b)
}

// gatedJob is a command job that writes a line to stdout and one to
// stderr, waits for the file {gate}, then writes one more to each.
var gatedJob = worker.Command{Argv: []string{"sh", "-c",
	`echo out1; echo err1 >&2; while [ ! -e "$0" ]; do sleep 0.02; done; echo out2; echo err2 >&2`, "{gate}"}}

// TestJobLogAPI: GET /api/v1/jobs/{id}/attempts/{n}/log serves an
// attempt's stdout and stderr apart, from the worker that ran it, while
// it runs and after: whole, from an offset, by Range, and followed live
// until the attempt ends.
func TestJobLogAPI(t *testing.T) {
	m := startMaster(t, master.Config{})
	master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "logger", Slots: 1, LogDir: t.TempDir(),
		Commands: map[string]worker.Command{"gated": gatedJob}}, nil)
	gate := filepath.Join(t.TempDir(), "gate")
	ids := submit(t, client(t, m.Addr()), jobs.Spec{Type: "gated", Args: map[string]string{"gate": gate}})
	base := "/api/v1/jobs/" + ids[0] + "/attempts/1/log"
	// The two streams are written by one shell but read by two pipes:
	// wait for the first line of each.
	poll.Until(t, 10*time.Second, "stdout's and stderr's first lines through the master", func() bool {
		status, _, out := logGet(t, m, base)
		_, _, errs := logGet(t, m, base+"?stream=stderr")
		return status == 200 && out == "out1\n" && errs != ""
	})
	if _, h, body := logGet(t, m, base+"?stream=stderr"); body != "err1\n" || h.Get("Drover-Log-Done") != "false" {
		t.Errorf("stderr while running: %q, done %q; want err1 alone, not done", body, h.Get("Drover-Log-Done"))
	}

	// Follow stderr: the first line, then, once the job goes on, the rest,
	// and the end of the reply when the attempt ends.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+m.Addr()+base+"?stream=stderr&follow=1", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rd := bufio.NewReader(res.Body)
	if line, err := rd.ReadString('\n'); line != "err1\n" || err != nil {
		t.Fatalf("follow: first line %q, %v", line, err)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rd)
	if string(rest) != "err2\n" || err != nil {
		t.Errorf("follow: then %q, %v; want err2 and the end", rest, err)
	}

	for _, c := range []struct {
		query, rng string
		status     int
		want       string
	}{
		{"", "", 200, "out1\nout2\n"},
		{"?stream=stderr", "", 200, "err1\nerr2\n"},
		{"?offset=5", "", 200, "out2\n"},
		{"?offset=99", "", 200, ""},
		{"", "bytes=5-", 206, "out2\n"},
		{"", "bytes=1-3", 206, "ut1"},
		{"", "bytes=-3", 206, "t2\n"},
	} {
		status, h, body := logGet(t, m, base+c.query, "Range", c.rng)
		if status != c.status || body != c.want || h.Get("Drover-Log-Done") != "true" || h.Get("Drover-Log-Size") != "10" {
			t.Errorf("%s Range %q: %d %q done %q size %q; want %d %q, done, size 10", c.query, c.rng, status, body,
				h.Get("Drover-Log-Done"), h.Get("Drover-Log-Size"), c.status, c.want)
		}
	}
	for _, c := range []struct {
		path, rng string
		status    int
	}{
		{base, "bytes=10-", 416},
		{base, "bytes=0-1,4-5", 400},
		{base + "?stream=both", "", 400},
		{base + "?follow=1", "bytes=0-", 400},
		{strings.Replace(base, "/1/log", "/0/log", 1), "", 400},
		{strings.Replace(base, "/1/log", "/2/log", 1), "", 404},
		{"/api/v1/jobs/999/attempts/1/log", "", 404},
	} {
		if status, _, body := logGet(t, m, c.path, "Range", c.rng); status != c.status {
			t.Errorf("%s Range %q: %d %s; want %d", c.path, c.rng, status, body, c.status)
		}
	}
}

// TestJobLogPullWorker: the log of an attempt a pull-mode worker ran is
// out of the master's reach: 409, saying why.
func TestJobLogPullWorker(t *testing.T) {
	m := startMaster(t, master.Config{})
	master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "puller", Mode: rpcapi.ModePull, LogDir: t.TempDir(),
		Commands: map[string]worker.Command{"hi": {Argv: []string{"echo", "hi"}}}}, nil)
	mc := client(t, m.Addr())
	ids := submit(t, mc, jobs.Spec{Type: "hi"})
	waitAll(t, mc, ids, 10*time.Second)
	status, _, body := logGet(t, m, "/api/v1/jobs/"+ids[0]+"/attempts/1/log")
	if status != 409 || !strings.Contains(body, "pull-mode worker") {
		t.Errorf("log of a pull worker's attempt: %d %s; want 409 saying it is a pull-mode worker", status, body)
	}
}
