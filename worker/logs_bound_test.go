package worker

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/rpcapi"
)

// dirBytes is what the logs in dir take: the sizes of the files in its
// log directories.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if !de.IsDir() || !logDirName.MatchString(de.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			info, err := f.Info()
			if err != nil {
				t.Fatal(err)
			}
			n += info.Size()
		}
	}
	return n
}

// TestLogCapKeepsTheLatest: an attempt whose output passes log_max_bytes,
// on one stream or on both together, keeps its log when it ends, cut
// logNoteRoom short of the bound with a note ending each stream that
// lost bytes, so that it fits the bound whole; the older logs are
// removed to make room for it.
func TestLogCapKeepsTheLatest(t *testing.T) {
	const bound = 2000
	for _, tc := range []struct {
		name          string
		stdout        string
		stderr        string
		noteOut, note bool // a note ends stdout; ends stderr
	}{
		{"stdout alone passes", strings.Repeat("o", 5000), "", true, false},
		{"together they pass", strings.Repeat("o", 1200), strings.Repeat("e", 1200), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testLogStore(t, bound, time.Hour)
			old := rpcapi.JobRef{JobID: "old", Attempt: 1}
			writeAttempt(t, s, old, strings.Repeat("x", 500), "", time.Now().Add(-time.Minute))
			ref := rpcapi.JobRef{JobID: "big", Attempt: 2}
			a := s.open(ref)
			for i := 0; i < len(tc.stdout); i += 100 {
				a.writer(rpcapi.StreamStdout).Write([]byte(tc.stdout[i:min(i+100, len(tc.stdout))]))
			}
			a.writer(rpcapi.StreamStderr).Write([]byte(tc.stderr))
			s.finish(a)

			out, done, err := readAll(t, s, ref, rpcapi.StreamStdout)
			if err != nil || !done {
				t.Fatalf("the latest attempt's stdout after it ended: %v, done %v; want its log kept", err, done)
			}
			errs, _, err := readAll(t, s, ref, rpcapi.StreamStderr)
			if err != nil {
				t.Fatalf("stderr: %v", err)
			}
			kept := int64(len(strings.TrimSuffix(out, logCutNote)) + len(strings.TrimSuffix(errs, logCutNote)))
			if kept != logCap(bound) {
				t.Errorf("output kept: %d bytes; want the cap, %d", kept, logCap(bound))
			}
			if got := strings.HasSuffix(out, logCutNote); got != tc.noteOut {
				t.Errorf("note after stdout: %v; want %v", got, tc.noteOut)
			}
			if got := strings.HasSuffix(errs, logCutNote); got != tc.note {
				t.Errorf("note after stderr: %v; want %v", got, tc.note)
			}
			if _, _, err := readAll(t, s, old, rpcapi.StreamStdout); err == nil {
				t.Error("the older log is still there: it should have made room")
			}
			if n := dirBytes(t, s.dir); n > bound {
				t.Errorf("the logs take %d bytes; want at most log_max_bytes, %d", n, bound)
			}
		})
	}
}

// TestLogEndedStaysBesideRunning: while running attempts' logs take the
// room, the log of an attempt that ends stays (the directory is over the
// bound until the next end); the next attempt to end pushes it out.
func TestLogEndedStaysBesideRunning(t *testing.T) {
	const bound = 2000
	s := testLogStore(t, bound, time.Hour)
	write := func(a *attemptLog, n int) { a.writer(rpcapi.StreamStdout).Write([]byte(strings.Repeat("z", n))) }
	first, second := rpcapi.JobRef{JobID: "first", Attempt: 1}, rpcapi.JobRef{JobID: "second", Attempt: 1}
	a, b := s.open(first), s.open(second)
	write(a, 1500)
	write(b, 1500)
	s.finish(a) // 1500 ended + 1500 running
	if _, _, err := readAll(t, s, first, rpcapi.StreamStdout); err != nil {
		t.Fatalf("the log of the attempt that just ended, beside a running one: %v; want it kept", err)
	}
	os.Chtimes(filepath.Join(s.dir, logDirOf(second), rpcapi.StreamStdout), time.Now().Add(time.Second), time.Now().Add(time.Second))
	s.finish(b)
	if _, _, err := readAll(t, s, second, rpcapi.StreamStdout); err != nil {
		t.Errorf("the second attempt's log once it ended: %v; want it kept", err)
	}
	if _, _, err := readAll(t, s, first, rpcapi.StreamStdout); err == nil {
		t.Error("the first attempt's log after the second ended: kept; want it removed to fit the bound")
	}
}

// TestLogMaxBytesMinimum: log_max_bytes below MinLogMaxBytes is refused,
// naming the key; the minimum passes.
func TestLogMaxBytesMinimum(t *testing.T) {
	c := Config{LogMaxBytes: MinLogMaxBytes - 1}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "log_max_bytes") || !strings.Contains(err.Error(), "1024") {
		t.Errorf("LogMaxBytes %d: %v; want an error naming log_max_bytes and the minimum", MinLogMaxBytes-1, err)
	}
	c = Config{LogMaxBytes: MinLogMaxBytes}
	if err := c.Validate(); err != nil {
		t.Errorf("LogMaxBytes %d: %v", MinLogMaxBytes, err)
	}
	if logCap(MinLogMaxBytes) <= 0 {
		t.Errorf("the cap at the minimum bound is %d", logCap(MinLogMaxBytes))
	}
}

// TestQuietLogsBounded: attempts that print nothing still take the disk
// (a directory and two files each), and each log counts LogEntryCost
// against log_max_bytes (README): with room for 10 such logs, 40 quiet
// attempts leave the 10 latest.
func TestQuietLogsBounded(t *testing.T) {
	s := testLogStore(t, 10*LogEntryCost, time.Hour)
	s.entryCost = LogEntryCost
	start := time.Now().Add(-time.Minute)
	for i := range 40 {
		writeAttempt(t, s, rpcapi.JobRef{JobID: fmt.Sprint(i), Attempt: 1}, "", "", start.Add(time.Duration(i)*time.Second))
	}
	des, err := os.ReadDir(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, de := range des {
		kept = append(kept, de.Name())
	}
	if len(kept) != 10 || !slices.Contains(kept, "39.1") || slices.Contains(kept, "29.1") {
		t.Errorf("logs kept: %v; want the 10 latest, 30.1 to 39.1", kept)
	}
}
