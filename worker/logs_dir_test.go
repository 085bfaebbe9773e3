package worker

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"errors"
	"io/fs"

	"github.com/drover/drover/rpcapi"
)

// defaultLogDirWorker returns a worker with a command template and the
// default log_dir, under a temporary directory of the test's own
// ($TMPDIR), and that default log_dir. Its master is an address nobody
// listens on: Start does not need one.
func defaultLogDirWorker(t *testing.T, maxAge time.Duration) (*Worker, string) {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	log := logrus.New()
	log.SetOutput(testWriter{t})
	w, err := New(Config{Master: "127.0.0.1:1", Name: "deflog", NoFence: true, LogMaxAge: maxAge, Logger: log,
		Commands: map[string]Command{"echo": {Argv: []string{"echo", "hi"}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(tmp, "drover-logs-"+strconv.Itoa(os.Getuid()))
	if w.cfg.LogDir != want {
		t.Fatalf("default LogDir %q; want %q", w.cfg.LogDir, want)
	}
	return w, want
}

func shutdown(t *testing.T, w *Worker) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// oldLog makes a directory under parent that pruning would take for a
// log that ended long ago: name/stdout and name/stderr, dated 30 days
// back. It returns the directory.
func oldLog(t *testing.T, parent, name string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	then := time.Now().Add(-30 * 24 * time.Hour)
	for _, f := range logStreams {
		p := filepath.Join(dir, f)
		if err := os.WriteFile(p, []byte("precious\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, then, then); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDefaultLogDirMade: a worker with commands makes the default
// log_dir, mode 0700, when it is not there, and starts.
func TestDefaultLogDirMade(t *testing.T) {
	w, dir := defaultLogDirWorker(t, time.Hour)
	if err := w.Start(); err != nil {
		t.Fatalf("Start with no default log_dir yet: %v", err)
	}
	defer shutdown(t, w)
	info, err := os.Lstat(dir)
	if err != nil {
		t.Fatalf("the default log_dir was not made: %v", err)
	}
	if !info.IsDir() || info.Mode().Perm() != 0o700 {
		t.Errorf("the default log_dir: mode %v; want a directory of mode 0700", info.Mode())
	}
	if st := info.Sys().(*syscall.Stat_t); int(st.Uid) != os.Getuid() {
		t.Errorf("the default log_dir belongs to uid %d; want %d", st.Uid, os.Getuid())
	}
}

// TestDefaultLogDirKeptWhenSafe: a default log_dir that is a directory
// of the worker's user, mode 0700, is used: its old logs are pruned.
func TestDefaultLogDirKeptWhenSafe(t *testing.T) {
	w, dir := defaultLogDirWorker(t, time.Hour)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := oldLog(t, dir, "5.1")
	if err := w.Start(); err != nil {
		t.Fatalf("Start with a safe default log_dir: %v", err)
	}
	defer shutdown(t, w)
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("an old log in the default log_dir was not pruned: %v", err)
	}
}

// TestDefaultLogDirRefused: the worker does not start, with an error
// that says why and to set log_dir, when the default log_dir is a link
// (and nothing behind the link is pruned), not a directory, writable by
// others, or another user's.
func TestDefaultLogDirRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, dir string) (victim string)
		why  string
	}{
		{"a link to a directory of ours", func(t *testing.T, dir string) string {
			mine := t.TempDir()
			victim := oldLog(t, mine, "5.1") // it looks like an old log: pruning would remove it
			if err := os.Symlink(mine, dir); err != nil {
				t.Fatal(err)
			}
			return victim
		}, "is a symbolic link"},
		{"a dangling link", func(t *testing.T, dir string) string {
			if err := os.Symlink(filepath.Join(t.TempDir(), "nowhere"), dir); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "is a symbolic link"},
		{"a file", func(t *testing.T, dir string) string {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "is not a directory"},
		{"mode 0777", func(t *testing.T, dir string) string {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			return oldLog(t, dir, "5.1")
		}, "users other than its owner can write to it (mode 0777)"},
		{"mode 0770", func(t *testing.T, dir string) string {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o770); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "mode 0770"},
		{"another user's", func(t *testing.T, dir string) string {
			if os.Getuid() != 0 {
				t.Skip("needs root to give a directory to another user (TestLogDirProblem covers the check)")
			}
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(dir, 4242, 4242); err != nil {
				t.Fatal(err)
			}
			return ""
		}, "belongs to uid 4242, not to this worker's user (uid 0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, dir := defaultLogDirWorker(t, time.Hour)
			victim := tc.make(t, dir)
			err := w.Start()
			if err == nil {
				shutdown(t, w)
				t.Fatal("Start succeeded; want it refused")
			}
			for _, want := range []string{dir, tc.why, "set log_dir"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Start: %v; want it to say %q", err, want)
				}
			}
			if victim != "" {
				if _, err := os.Stat(filepath.Join(victim, rpcapi.StreamStdout)); err != nil {
					t.Errorf("a file behind the refused log_dir was removed: %v", err)
				}
			}
		})
	}
}

// TestLogDirProblem: the ownership check, for a uid that is not the
// directory's owner (which a test not run as root cannot make).
func TestLogDirProblem(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if why := logDirProblem(dir, info, os.Getuid()); why != "" {
		t.Errorf("our own 0700 directory: %q; want no problem", why)
	}
	other := os.Getuid() + 1
	want := "it belongs to uid " + strconv.Itoa(os.Getuid()) + ", not to this worker's user (uid " + strconv.Itoa(other) + ")"
	if why := logDirProblem(dir, info, other); why != want {
		t.Errorf("a directory of another user: %q; want %q", why, want)
	}
}

// TestDefaultLogDirSwappedForALink: a default log_dir that became a link
// after the worker started is not written through, and pruning leaves
// what is behind it: the attempt runs without a log.
func TestDefaultLogDirSwappedForALink(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "drover-logs")
	cfg := &Config{LogDir: dir, logDirDefault: true, LogMaxBytes: 1 << 20, LogMaxAge: time.Hour, Logger: logrus.New()}
	cfg.Logger.(*logrus.Logger).SetOutput(testWriter{t})
	s := newLogStore(cfg)
	if err := s.start(time.Now(), true); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	mine := t.TempDir()
	victim := oldLog(t, mine, "5.1")
	if err := os.Symlink(mine, dir); err != nil {
		t.Fatal(err)
	}
	ref := rpcapi.JobRef{JobID: "6", Attempt: 1}
	a := s.open(ref)
	a.writer(rpcapi.StreamStdout).Write([]byte("out"))
	s.finish(a)
	if _, err := os.Stat(filepath.Join(mine, logDirOf(ref))); !os.IsNotExist(err) {
		t.Errorf("an attempt's log was made through the link: %v", err)
	}
	s.prune(time.Now())
	if _, err := os.Stat(filepath.Join(victim, rpcapi.StreamStdout)); err != nil {
		t.Errorf("pruning went through the link: %v", err)
	}
}

// TestExplicitLogDirLink: a log_dir that is set may be a link, and is
// pruned through it; inside it, pruning follows no link: an old log's
// directory that is a link, or whose files are links, is left, and so
// is what they point to.
func TestExplicitLogDirLink(t *testing.T) {
	real, elsewhere := t.TempDir(), t.TempDir()
	link := filepath.Join(t.TempDir(), "logs")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	old := oldLog(t, real, "5.1")
	victimDir := oldLog(t, elsewhere, "victim")
	if err := os.Symlink(victimDir, filepath.Join(real, "6.1")); err != nil {
		t.Fatal(err)
	}
	victimFile := filepath.Join(oldLog(t, elsewhere, "files"), rpcapi.StreamStdout)
	linked := oldLog(t, real, "7.1")
	os.Remove(filepath.Join(linked, rpcapi.StreamStdout))
	if err := os.Symlink(victimFile, filepath.Join(linked, rpcapi.StreamStdout)); err != nil {
		t.Fatal(err)
	}

	log := logrus.New()
	log.SetOutput(testWriter{t})
	w, err := New(Config{Master: "127.0.0.1:1", Name: "linklog", NoFence: true, LogDir: link, LogMaxAge: time.Hour, Logger: log,
		Commands: map[string]Command{"echo": {Argv: []string{"echo", "hi"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatalf("Start with a log_dir that is a link: %v", err)
	}
	defer shutdown(t, w)
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("an old log behind the log_dir link was not pruned: %v", err)
	}
	for _, p := range []string{filepath.Join(victimDir, rpcapi.StreamStdout), victimFile} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("pruning followed a link to %s: %v", p, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(real, "6.1")); err != nil {
		t.Errorf("a link named like a log was removed: %v", err)
	}
}

// TestLogPruneLeavesLinks: a log directory that became a link after the
// store took it for a log (a swap between the scan and the removal) is
// removed as a link: what it points to stays. And a link is never taken
// for a log.
func TestLogPruneLeavesLinks(t *testing.T) {
	s := testLogStore(t, 1<<20, time.Hour)
	victim := oldLog(t, t.TempDir(), "victim")
	if err := os.Symlink(victim, filepath.Join(s.dir, "5.1")); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.entry("5.1"); ok {
		t.Error("a link to a directory of stream files was taken for a log")
	}
	s.mu.Lock()
	s.remember(logEntry{name: "5.1", size: 18, mod: time.Now().Add(-30 * 24 * time.Hour)})
	s.applyBounds(time.Now(), "", s.maxBytes)
	s.mu.Unlock()
	if _, err := os.Stat(filepath.Join(victim, rpcapi.StreamStdout)); err != nil {
		t.Errorf("pruning removed what a link points to: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(s.dir, "5.1")); !os.IsNotExist(err) {
		t.Errorf("the link itself: %v; want it removed", err)
	}
}

// TestDefaultLogDirModeInFull: the refusal of a default log_dir that
// others can write shows its mode in full octal, the sticky, setgid and
// setuid bits included, as ls and chmod write it; the error is a
// *LogDirError whose message for a program names Config.LogDir, and
// which can name the setting otherwise (drover worker: log_dir).
func TestDefaultLogDirModeInFull(t *testing.T) {
	for _, tc := range []struct {
		mode fs.FileMode
		want string
	}{
		{fs.ModeSticky | 0o703, "(mode 1703)"},
		{fs.ModeSetgid | 0o770, "(mode 2770)"},
		{fs.ModeSticky | fs.ModeSetgid | 0o777, "(mode 3777)"},
		{0o722, "(mode 0722)"},
	} {
		w, dir := defaultLogDirWorker(t, time.Hour)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, tc.mode); err != nil {
			t.Fatal(err)
		}
		if info, err := os.Lstat(dir); err != nil || info.Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetgid) != tc.mode {
			t.Skipf("chmod %v gave %v (%v): the file system keeps other bits", tc.mode, info.Mode(), err)
		}
		err := w.Start()
		if err == nil {
			shutdown(t, w)
			t.Fatalf("mode %v: Start succeeded; want it refused", tc.mode)
		}
		if !strings.Contains(err.Error(), "users other than its owner can write to it "+tc.want) ||
			!strings.Contains(err.Error(), "Config.LogDir") {
			t.Errorf("mode %v: %v; want it to say %s and name Config.LogDir", tc.mode, err, tc.want)
		}
		var le *LogDirError
		if !errors.As(err, &le) {
			t.Fatalf("mode %v: %T is not a *LogDirError", tc.mode, err)
		}
		msg := le.Message("log_dir")
		if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "or set log_dir to a directory of your choice") ||
			strings.Contains(msg, "Config.") {
			t.Errorf("mode %v: Message(log_dir) %q; want the mode and log_dir, no Go field", tc.mode, msg)
		}
	}
}
