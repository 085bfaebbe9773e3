package worker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/rpcapi"
)

// testLogStore is a log store whose logs count their bytes alone (no
// LogEntryCost), so that tests of its arithmetic read in bytes;
// TestQuietLogsBounded has the cost.
func testLogStore(t *testing.T, maxBytes int64, maxAge time.Duration) *logStore {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	s := newLogStore(&Config{LogDir: t.TempDir(), LogMaxBytes: maxBytes, LogMaxAge: maxAge, Logger: l})
	s.entryCost = 0
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// writeAttempt runs an attempt's log through the store: it writes out and
// errOut, ends the attempt, and dates its files at ended.
func writeAttempt(t *testing.T, s *logStore, ref rpcapi.JobRef, out, errOut string, ended time.Time) {
	t.Helper()
	a := s.open(ref)
	a.writer(rpcapi.StreamStdout).Write([]byte(out))
	a.writer(rpcapi.StreamStderr).Write([]byte(errOut))
	a.closeFiles()
	for _, name := range logStreams {
		if err := os.Chtimes(filepath.Join(s.dir, logDirOf(ref), name), ended, ended); err != nil {
			t.Fatal(err)
		}
	}
	s.finish(a)
}

func readAll(t *testing.T, s *logStore, ref rpcapi.JobRef, stream string) (string, bool, error) {
	t.Helper()
	r, err := s.read(&rpcapi.ReadLogArgs{JobID: ref.JobID, Attempt: ref.Attempt, Stream: stream})
	if err != nil {
		return "", false, err
	}
	return string(r.Data), r.Done, nil
}

// TestLogStreamsApart: an attempt's stdout and stderr are read apart, with
// offsets, and the log says when the attempt has ended.
func TestLogStreamsApart(t *testing.T) {
	s := testLogStore(t, 1<<20, time.Hour)
	ref := rpcapi.JobRef{JobID: "7", Attempt: 2}
	a := s.open(ref)
	a.writer(rpcapi.StreamStdout).Write([]byte("item 1\n"))
	a.writer(rpcapi.StreamStderr).Write([]byte("INFO: crawled\n"))
	a.writer(rpcapi.StreamStdout).Write([]byte("item 2\n"))
	if got, done, err := readAll(t, s, ref, rpcapi.StreamStdout); err != nil || got != "item 1\nitem 2\n" || done {
		t.Errorf("stdout while running: %q done=%v %v; want both items, not done", got, done, err)
	}
	s.finish(a)
	if got, done, err := readAll(t, s, ref, rpcapi.StreamStderr); err != nil || got != "INFO: crawled\n" || !done {
		t.Errorf("stderr after the end: %q done=%v %v; want the one line, done", got, done, err)
	}
	r, err := s.read(&rpcapi.ReadLogArgs{JobID: "7", Attempt: 2, Stream: rpcapi.StreamStdout, Offset: 5, Max: 4})
	if err != nil || string(r.Data) != "1\nit" || r.Size != 14 {
		t.Errorf("stdout at 5, 4 bytes: %q of %d, %v; want \"1\\nit\" of 14", r.Data, r.Size, err)
	}
	for _, bad := range []rpcapi.ReadLogArgs{
		{JobID: "7", Attempt: 2, Stream: "both"}, {JobID: "7", Attempt: 0, Stream: "stdout"},
		{JobID: "7", Attempt: 2, Stream: "stdout", Offset: -1}, {JobID: "7", Attempt: 2, Stream: "stdout", Max: rpcapi.MaxReadLog + 1},
	} {
		if _, err := s.read(&bad); !errors.Is(err, rpcapi.ErrBadRequest) {
			t.Errorf("read %+v: %v; want a bad request", bad, err)
		}
	}
	if _, err := s.read(&rpcapi.ReadLogArgs{JobID: "7", Attempt: 3, Stream: "stdout"}); !errors.Is(err, rpcapi.ErrNotFound) {
		t.Errorf("read of an attempt never run: %v; want not found", err)
	}
}

// TestLogRetention: logs of ended attempts go when older than the age
// bound, then oldest first until the rest fit the size bound; a running
// attempt's log and files that are not logs stay.
func TestLogRetention(t *testing.T) {
	s := testLogStore(t, 1000, time.Hour)
	now := time.Now()
	foreign := filepath.Join(s.dir, "notes.txt")
	if err := os.WriteFile(foreign, []byte(strings.Repeat("x", 5000)), 0o600); err != nil {
		t.Fatal(err)
	}
	running := s.open(rpcapi.JobRef{JobID: "run", Attempt: 1})
	running.writer(rpcapi.StreamStdout).Write([]byte(strings.Repeat("r", 300)))
	defer s.finish(running)
	ref := func(id string) rpcapi.JobRef { return rpcapi.JobRef{JobID: id, Attempt: 1} }
	writeAttempt(t, s, ref("ancient"), "a", "", now.Add(-2*time.Hour)) // over the age
	writeAttempt(t, s, ref("old"), strings.Repeat("o", 200), strings.Repeat("e", 200), now.Add(-30*time.Minute))
	writeAttempt(t, s, ref("mid"), strings.Repeat("m", 200), "", now.Add(-20*time.Minute))
	writeAttempt(t, s, ref("new"), strings.Repeat("n", 200), "", now.Add(-10*time.Minute))
	// 300 running + 400 old + 200 mid + 200 new = 1100 > 1000: old goes.
	for id, want := range map[string]bool{"ancient": false, "old": false, "mid": true, "new": true, "run": true} {
		_, _, err := readAll(t, s, ref(id), rpcapi.StreamStdout)
		if got := err == nil; got != want {
			t.Errorf("log of %s kept: %v (%v); want %v", id, got, err, want)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("a file that is not a log was touched: %v", err)
	}
}

// TestLogBudget: one attempt's log stops logNoteRoom short of
// log_max_bytes, and a note ends the stream that lost bytes; a stream
// that lost none has no note.
func TestLogBudget(t *testing.T) {
	s := testLogStore(t, 10+logNoteRoom, time.Hour)
	ref := rpcapi.JobRef{JobID: "big", Attempt: 1}
	a := s.open(ref)
	a.writer(rpcapi.StreamStderr).Write([]byte("err"))
	if n, err := a.writer(rpcapi.StreamStdout).Write([]byte("0123456789abcdef")); n != 16 || err != nil {
		t.Fatalf("write past the budget: %d, %v; want all taken, no error", n, err)
	}
	a.closeFiles()
	if got, _, err := readAll(t, s, ref, rpcapi.StreamStdout); err != nil || got != "0123456"+logCutNote {
		t.Errorf("stdout %q, %v; want the 7 bytes left after stderr's 3, then the note", got, err)
	}
	if got, _, err := readAll(t, s, ref, rpcapi.StreamStderr); err != nil || got != "err" {
		t.Errorf("stderr %q, %v; want its 3 bytes, no note: it lost none", got, err)
	}
}

// TestLogSharedDir: a worker applying its bounds to a log_dir it shares
// leaves the log of another worker's running attempt, and removes it once
// that attempt has ended.
func TestLogSharedDir(t *testing.T) {
	mine := testLogStore(t, 10, time.Hour)
	theirs := newLogStore(&Config{LogDir: mine.dir, LogMaxBytes: 1 << 20, LogMaxAge: time.Hour, Logger: mine.log})
	ref := rpcapi.JobRef{JobID: "b", Attempt: 1}
	running := theirs.open(ref)
	running.writer(rpcapi.StreamStdout).Write([]byte(strings.Repeat("b", 50)))
	mine.prune(time.Now()) // 50 bytes over a bound of 10
	if got, _, err := readAll(t, theirs, ref, rpcapi.StreamStdout); err != nil || len(got) != 50 {
		t.Fatalf("the other worker's running log after my prune: %d bytes, %v; want all 50", len(got), err)
	}
	theirs.finish(running)
	mine.prune(time.Now())
	if _, _, err := readAll(t, theirs, ref, rpcapi.StreamStdout); !errors.Is(err, rpcapi.ErrNotFound) {
		t.Errorf("the other worker's log once ended, after my prune: %v; want it removed", err)
	}
}

// TestLogDirNames: IDs that cannot be directory names as they are get a
// name no other ID gets.
func TestLogDirNames(t *testing.T) {
	seen := map[string]string{}
	for _, id := range []string{"x2f", "/", "~2f", "7", "a.b", ".x", "x2e78"} {
		name := logDirOf(rpcapi.JobRef{JobID: id, Attempt: 1})
		if other, dup := seen[name]; dup {
			t.Errorf("jobs %q and %q share the log directory %q", other, id, name)
		}
		seen[name] = id
		if !logDirName.MatchString(name) {
			t.Errorf("job %q: directory %q is not one prune recognises", id, name)
		}
	}
}
