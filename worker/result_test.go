package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// sh is a command template that runs script with sh -c (no braces: they
// are the template's).
func sh(script string) worker.Command { return worker.Command{Argv: []string{"sh", "-c", script}} }

// TestResultFileIsData: what a command job writes to $DROVER_RESULT
// becomes its data, over both transports; the job sees its ID, attempt
// and group; the file's directory is gone after the attempt; and a
// group's follow-up job (then) gets each member's data in its input.
func TestResultFileIsData(t *testing.T) {
	for _, transport := range []string{"gob", "xmlrpc"} {
		t.Run(transport, func(t *testing.T) {
			c := drovertest.Start(t, drovertest.Options{Transport: transport, Commands: map[string]worker.Command{
				"emit":    sh(`printf 'job=%s attempt=%s group=%s file=%s' "$DROVER_JOB_ID" "$DROVER_ATTEMPT" "$DROVER_GROUP" "$DROVER_RESULT" > "$DROVER_RESULT"`),
				"collect": sh(`cat > "$DROVER_RESULT"`),
			}})
			then := &jobs.Spec{Type: "collect"}
			ids := c.Submit(jobs.Spec{Type: "emit", Group: "g1", Then: then}, jobs.Spec{Type: "emit", Group: "g1", Then: then})
			c.WaitAll(ids, 10*time.Second)
			want := map[string]string{}
			for _, id := range ids {
				j := c.Job(id)
				data := j.Attempts[len(j.Attempts)-1].Data
				prefix := "job=" + id + " attempt=1 group=g1 file="
				if j.State != jobs.Succeeded || !strings.HasPrefix(data, prefix) {
					t.Fatalf("job %s: %s, data %q; want succeeded with data starting %q", id, j.State, data, prefix)
				}
				file := strings.TrimPrefix(data, prefix)
				if _, err := os.Stat(file); !os.IsNotExist(err) {
					t.Errorf("job %s: its result file %s is still there after the attempt (%v)", id, file, err)
				}
				want[id] = data
			}
			var thenID string
			drovertest.Eventually(t, 10*time.Second, "the follow-up job to finish", func() bool {
				g, err := c.Client().GetGroup(t.Context(), "g1")
				if err != nil || g.OnDone == nil || g.OnDone.Then == "" {
					return false
				}
				thenID = g.OnDone.Then
				return c.Job(thenID).State.Final()
			})
			fj := c.Job(thenID)
			var in master.ThenInput
			if err := json.Unmarshal([]byte(fj.Attempts[len(fj.Attempts)-1].Data), &in); err != nil {
				t.Fatalf("follow-up %s (%s): data is not the group's results: %v", thenID, fj.State, err)
			}
			for _, r := range in.Results {
				if r.Data != want[r.ID] {
					t.Errorf("follow-up's input: job %s data %q; want %q", r.ID, r.Data, want[r.ID])
				}
			}
			if len(in.Results) != len(ids) {
				t.Errorf("follow-up's input has %d results; want %d", len(in.Results), len(ids))
			}
		})
	}
}

// TestOutputTrimmedToMaster: a job that succeeds with more output than
// the master's max_result_bytes leaves room for beside its data
// succeeds, with its data whole and the end of its output.
func TestOutputTrimmedToMaster(t *testing.T) {
	const limit = 4096
	c := drovertest.Start(t, drovertest.Options{
		Commands: map[string]worker.Command{
			"loud": sh(`i=0; while [ $i -lt 2000 ]; do echo "line $i of the crawl log"; i=$((i+1)); done; printf 'items' > "$DROVER_RESULT"; echo last line`),
		},
		ConfigureMaster: func(cfg *master.Config) { cfg.MaxResultBytes = limit },
	})
	ids := c.Submit(jobs.Spec{Type: "loud"})
	c.WaitAll(ids, 10*time.Second)
	j := c.Job(ids[0])
	a := j.Attempts[len(j.Attempts)-1]
	if j.State != jobs.Succeeded || a.Data != "items" {
		t.Fatalf("job %s, data %q, error %q; want succeeded with data %q", j.State, a.Data, a.Error, "items")
	}
	if n := len(a.Output) + len(a.Data); n > limit {
		t.Errorf("output and data take %d bytes; want at most the master's %d", n, limit)
	}
	if !strings.HasPrefix(a.Output, "...[truncated ") || !strings.HasSuffix(a.Output, "line 1999 of the crawl log\nlast line\n") {
		t.Errorf("output %q...%q; want the truncation note, then the end of the output", a.Output[:min(40, len(a.Output))],
			a.Output[max(0, len(a.Output)-40):])
	}
}

// TestResultFileOverLimit: a result file over max_result_bytes fails the
// job without retries and keeps no data, with an error that says so.
func TestResultFileOverLimit(t *testing.T) {
	c := drovertest.Start(t, drovertest.Options{
		Commands:        map[string]worker.Command{"big": sh(`head -c 100 /dev/zero > "$DROVER_RESULT"`)},
		ConfigureWorker: func(_ int, cfg *worker.Config) { cfg.MaxResultBytes = 10 },
	})
	ids := c.Submit(jobs.Spec{Type: "big", Retries: 2})
	c.WaitAll(ids, 10*time.Second)
	j := c.Job(ids[0])
	a := j.Attempts[len(j.Attempts)-1]
	want := "holds 100 bytes, over max_result_bytes 10"
	if j.State != jobs.Failed || len(j.Attempts) != 1 || a.Data != "" || !strings.Contains(a.Error, want) {
		t.Fatalf("job %s after %d attempts, data %q, error %q; want failed at once, no data, error with %q",
			j.State, len(j.Attempts), a.Data, a.Error, want)
	}
}

// TestResultFileNotRegular: a job that leaves a FIFO or a link to a device
// where $DROVER_RESULT was fails at once, without retries and without its
// slot staying taken (a FIFO's open would wait for a writer); a file that
// says 0 bytes and holds more (/proc) is measured by what it holds.
func TestResultFileNotRegular(t *testing.T) {
	c := drovertest.Start(t, drovertest.Options{
		Slots: 1,
		Commands: map[string]worker.Command{
			"fifo": sh(`rm "$DROVER_RESULT" && mkfifo "$DROVER_RESULT"`),
			"dev":  sh(`ln -sf /dev/zero "$DROVER_RESULT"`),
			"proc": sh(`ln -sf /proc/self/status "$DROVER_RESULT"`),
			"ok":   sh(`printf fine > "$DROVER_RESULT"`),
		},
		ConfigureWorker: func(_ int, cfg *worker.Config) { cfg.MaxResultBytes = 10 },
	})
	want := map[string]string{
		"fifo": "$DROVER_RESULT is not a regular file (a FIFO)",
		"dev":  "$DROVER_RESULT is not a regular file (a character device)",
		"proc": "holds more than 10 bytes, over max_result_bytes 10",
	}
	for _, typ := range []string{"fifo", "dev", "proc"} {
		ids := c.Submit(jobs.Spec{Type: typ, Retries: 2, Timeout: time.Minute})
		c.WaitAll(ids, 10*time.Second)
		j := c.Job(ids[0])
		a := j.Attempts[len(j.Attempts)-1]
		if j.State != jobs.Failed || len(j.Attempts) != 1 || a.Data != "" || !strings.Contains(a.Error, want[typ]) {
			t.Errorf("%s: job %s after %d attempts, data %q, error %q; want failed at once, no data, error with %q",
				typ, j.State, len(j.Attempts), a.Data, a.Error, want[typ])
		}
	}
	ids := c.Submit(jobs.Spec{Type: "ok"})
	c.WaitAll(ids, 10*time.Second)
	if j := c.Job(ids[0]); j.State != jobs.Succeeded || j.Attempts[0].Data != "fine" {
		t.Fatalf("the next job on the one slot: %s, data %q; want succeeded with %q", j.State, j.Attempts[0].Data, "fine")
	}
}

// TestOutputUnderASmallLimit: an output_limit too small for the
// truncation note still keeps the output's tail (README: bytes of output
// kept per job, the tail), never from inside a UTF-8 sequence.
func TestOutputUnderASmallLimit(t *testing.T) {
	c := drovertest.Start(t, drovertest.Options{Workers: 1,
		ConfigureWorker: func(_ int, cfg *worker.Config) { cfg.OutputLimit = 10 },
		Handlers: map[string]worker.HandlerFunc{
			"loud": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
				return jobs.Result{Output: strings.Repeat("x", 500) + "€ the end"}, nil
			},
		}})
	ids := c.Submit(jobs.Spec{Type: "loud"})
	c.WaitAll(ids, 20*time.Second)
	if out := c.Job(ids[0]).Attempts[0].Output; out != " the end" {
		t.Errorf("output %q; want the tail within 10 bytes, \" the end\" (with the 3 bytes of € it is 11)", out)
	}
}

// TestLongErrorIsCut: a handler's error counts against the master's
// max_result_bytes with the output (docs/protocol.md, Report): the worker
// keeps the error's last 16 KiB and cuts the output to fit beside it, so
// the attempt is recorded with the handler's own error, not failed for
// its size.
func TestLongErrorIsCut(t *testing.T) {
	const limit = 20000
	long := strings.Repeat("a line of a long traceback\n", 4000) + "the last line"
	c := drovertest.Start(t, drovertest.Options{
		Handlers: map[string]worker.HandlerFunc{
			"fails": func(context.Context, *jobs.Job) (jobs.Result, error) {
				return jobs.Result{Output: strings.Repeat("o", 2*limit) + "end of output"}, errors.New(long)
			},
		},
		ConfigureMaster: func(cfg *master.Config) { cfg.MaxResultBytes = limit },
	})
	ids := c.Submit(jobs.Spec{Type: "fails"})
	c.WaitAll(ids, 10*time.Second)
	j := c.Job(ids[0])
	a := j.Attempts[len(j.Attempts)-1]
	if j.State != jobs.Failed || !strings.HasPrefix(a.Error, "...[truncated ") || !strings.HasSuffix(a.Error, "the last line") {
		t.Fatalf("job %s, error %q...; want failed with the end of the handler's error", j.State, a.Error[:min(80, len(a.Error))])
	}
	if len(a.Error) > 16<<10 {
		t.Errorf("error of %d bytes; want at most 16 KiB", len(a.Error))
	}
	if n := len(a.Output) + len(a.Error); n > limit || !strings.HasSuffix(a.Output, "end of output") {
		t.Errorf("output and error take %d bytes (output ends %q); want at most %d, the output's end kept", n,
			a.Output[max(0, len(a.Output)-20):], limit)
	}
}

// TestReportsFitASmallRequestBody: a master whose max_request_body (64
// KiB) is below its max_result_bytes (1 MiB) tells its workers half of
// the body (docs/protocol.md, register_worker), so reports of 60 KB of
// output each reach it, cut to fit, in calls of at most that much, and
// every job succeeds. Before, the worker sent them whole, the master
// closed the connection on each try, and the jobs stayed running.
func TestReportsFitASmallRequestBody(t *testing.T) {
	const body = 64 << 10
	out := strings.Repeat("a line of a long crawl log\n", 60000/27) + "the end"
	c := drovertest.Start(t, drovertest.Options{
		Handlers: map[string]worker.HandlerFunc{
			"loud": func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{Output: out}, nil },
		},
		ConfigureMaster: func(cfg *master.Config) { cfg.MaxRequestBody = body },
	})
	ids := c.Submit(jobs.Spec{Type: "loud"}, jobs.Spec{Type: "loud"}, jobs.Spec{Type: "loud"}, jobs.Spec{Type: "loud"})
	c.WaitAll(ids, 20*time.Second)
	for _, id := range ids {
		j := c.Job(id)
		a := j.Attempts[len(j.Attempts)-1]
		if j.State != jobs.Succeeded || len(a.Output) > body/2 || !strings.HasSuffix(a.Output, "the end") {
			t.Fatalf("job %s: %s, output of %d bytes ending %q; want succeeded, at most %d bytes, its end kept",
				id, j.State, len(a.Output), a.Output[max(0, len(a.Output)-10):], body/2)
		}
	}
}
