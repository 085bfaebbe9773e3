package worker_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/worker"
)

// logNote is what ends a stream of an attempt's log that lost bytes to
// log_max_bytes.
const logNote = "\n[drover: this attempt's log reached log_max_bytes; the rest of this stream was not kept]\n"

// jobLog reads a stream of a job's first attempt's log through the
// master's API, as drover logs does.
func jobLog(t *testing.T, c *drovertest.Cluster, id, stream string) (int, string) {
	t.Helper()
	res, err := http.Get("http://" + c.Addr() + "/api/v1/jobs/" + id + "/attempts/1/log?stream=" + stream)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// logBytes is what the files under dir take.
func logBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		n += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCappedLogSurvives: with log_max_bytes = 10000, a command job that
// prints 23,893 bytes keeps its log once it has ended, readable through
// the master: the first bytes up to the cap (log_max_bytes less 180),
// then the note; the directory stays within the bound. A later job whose
// stdout and stderr pass the bound only together keeps its own, and the
// older log makes room for it.
func TestCappedLogSurvives(t *testing.T) {
	const bound = 10000
	dir := t.TempDir()
	c := drovertest.Start(t, drovertest.Options{Slots: 1, Commands: map[string]worker.Command{
		"seq":  {Argv: []string{"seq", "1", "5000"}},
		"both": {Argv: []string{"sh", "-c", "seq 1 1500; seq 1 1500 >&2"}},
	}, ConfigureWorker: func(_ int, cfg *worker.Config) { cfg.LogDir, cfg.LogMaxBytes = dir, bound }})
	var all strings.Builder
	for i := 1; i <= 5000; i++ {
		fmt.Fprintln(&all, i)
	}
	limit := bound - 2*len(logNote)

	ids := c.Submit(jobs.Spec{Type: "seq"})
	c.WaitAll(ids, 20*time.Second)
	if j := c.Job(ids[0]); j.State != jobs.Succeeded {
		t.Fatalf("seq: %s", j.State)
	}
	status, out := jobLog(t, c, ids[0], "stdout")
	if want := all.String()[:limit] + logNote; status != http.StatusOK || out != want {
		t.Errorf("seq's log once ended: HTTP %d, %d bytes ending %q; want 200, %d bytes: the first %d, then the note",
			status, len(out), out[max(0, len(out)-120):], len(want), limit)
	}
	if n := logBytes(t, dir); n > bound {
		t.Errorf("the log dir holds %d bytes; want at most %d", n, bound)
	}

	ids2 := c.Submit(jobs.Spec{Type: "both"})
	c.WaitAll(ids2, 20*time.Second)
	_, out = jobLog(t, c, ids2[0], "stdout")
	_, errs := jobLog(t, c, ids2[0], "stderr")
	kept := len(strings.TrimSuffix(out, logNote)) + len(strings.TrimSuffix(errs, logNote))
	if kept != limit || !strings.HasSuffix(out, logNote) && !strings.HasSuffix(errs, logNote) {
		t.Errorf("both's log: %d bytes of output kept, notes after stdout %v, stderr %v; want %d and a note",
			kept, strings.HasSuffix(out, logNote), strings.HasSuffix(errs, logNote), limit)
	}
	if status, _ := jobLog(t, c, ids[0], "stdout"); status == http.StatusOK {
		t.Error("seq's older log is still there: it should have made room")
	}
	if n := logBytes(t, dir); n > bound {
		t.Errorf("the log dir holds %d bytes; want at most %d", n, bound)
	}
}

// TestMissingDirFailsTheAttempt: a command whose dir is not there fails
// its attempt, and is retried, with an error that names the dir.
func TestMissingDirFailsTheAttempt(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone")
	c := drovertest.Start(t, drovertest.Options{Commands: map[string]worker.Command{
		"indir": {Argv: []string{"sh", "-c", "true"}, Dir: "{where}"},
	}})
	ids := c.Submit(jobs.Spec{Type: "indir", Retries: 1, Args: map[string]string{"where": missing}})
	c.WaitAll(ids, 20*time.Second)
	j := c.Job(ids[0])
	want := fmt.Sprintf(`worker: dir %q (from the template's dir "{where}"): no such directory`, missing)
	if j.State != jobs.Failed || len(j.Attempts) != 2 || j.Attempts[0].Error != want {
		t.Errorf("job: %s after %d attempts, first error %q; want failed after 2 attempts, with %q",
			j.State, len(j.Attempts), j.Attempts[0].Error, want)
	}
}

// TestIdleWorkerDropsAgedLogs: with log_max_age = 3s, the log of a job
// that ended is gone a few seconds later although no other attempt ends
// on that worker (README: log_max_age).
func TestIdleWorkerDropsAgedLogs(t *testing.T) {
	dir := t.TempDir()
	c := drovertest.Start(t, drovertest.Options{Slots: 1, Commands: map[string]worker.Command{
		"hi": {Argv: []string{"echo", "hi"}},
	}, ConfigureWorker: func(_ int, cfg *worker.Config) { cfg.LogDir, cfg.LogMaxAge = dir, 3*time.Second }})
	ids := c.Submit(jobs.Spec{Type: "hi"})
	c.WaitAll(ids, 20*time.Second)
	if status, out := jobLog(t, c, ids[0], "stdout"); status != http.StatusOK || out != "hi\n" {
		t.Fatalf("the log right after the job: HTTP %d %q; want 200 \"hi\\n\"", status, out)
	}
	drovertest.Eventually(t, 20*time.Second, "the idle worker to remove the log older than log_max_age", func() bool {
		status, _ := jobLog(t, c, ids[0], "stdout")
		return status != http.StatusOK
	})
	des, err := os.ReadDir(dir)
	if err != nil || len(des) != 0 {
		t.Errorf("log_dir after the log aged out: %d entries, %v; want none", len(des), err)
	}
}
