package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		dir     string
		want    []string
		wantErr string
	}{
		{"no placeholders", []string{"ls", "-l"}, "", []string{}, ""},
		{"sorted unique from argv and dir", []string{"scrapy", "{spider}", "start_urls={urls}", "{spider}"}, "/srv/{project}",
			[]string{"project", "spider", "urls"}, ""},
		{"several in one element", []string{"x", "{a}-{b}_{_c9}"}, "", []string{"_c9", "a", "b"}, ""},
		{"escaped braces", []string{"awk", "{{print $1}}", "{{{f}}}"}, "", []string{"f"}, ""},
		{"space in name", []string{"a", "b", "x{a b}"}, "", nil, `argv[2] "x{a b}": bad placeholder "{a b}"`},
		{"empty name", []string{"a", "{}"}, "", nil, `argv[1] "{}": bad placeholder "{}"`},
		{"digit first", []string{"{1x}"}, "", nil, `argv[0] "{1x}": bad placeholder "{1x}"`},
		{"dash in name", []string{"{a-b}"}, "", nil, `bad placeholder "{a-b}"`},
		{"unterminated", []string{"a", "x{y"}, "", nil, `argv[1] "x{y": bad placeholder: unterminated "{" at byte 1`},
		{"stray close", []string{"a}b"}, "", nil, `argv[0] "a}b": bad placeholder: stray "}" at byte 1`},
		{"odd closing run", []string{"{a}}"}, "", nil, `stray "}"`},
		{"bad dir", []string{"ls"}, "/srv/{x", nil, `dir "/srv/{x": bad placeholder`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTemplate(Command{Argv: tt.argv, Dir: tt.dir})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("names = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	nasty := `it's "a b"; rm -rf / $(id) ` + "`id` | > * ~ \n\t{other} {{x}} -rf"
	tests := []struct {
		name     string
		cmd      Command
		args     map[string]string
		wantArgv []string
		wantDir  string
		wantErr  string // when set, the error must also be Permanent
	}{
		{"inside one element", Command{Argv: []string{"scrapy", "crawl", "{spider}", "-a", "start_urls={urls}"}, Dir: "/srv/{project}"},
			map[string]string{"spider": "news", "urls": "http://a http://b", "project": "p1"},
			[]string{"scrapy", "crawl", "news", "-a", "start_urls=http://a http://b"}, "/srv/p1", ""},
		{"nasty value stays one literal element", Command{Argv: []string{"echo", "{v}", "x{v}y"}},
			map[string]string{"v": nasty, "other": "EXPANDED", "x": "EXPANDED"},
			[]string{"echo", nasty, "x" + nasty + "y"}, "", ""},
		{"option-looking value is not split", Command{Argv: []string{"rm", "--", "{f}"}}, map[string]string{"f": "-rf /"},
			[]string{"rm", "--", "-rf /"}, "", ""},
		{"empty value keeps its element", Command{Argv: []string{"a", "{v}", "b"}}, map[string]string{"v": ""},
			[]string{"a", "", "b"}, "", ""},
		{"escapes", Command{Argv: []string{"awk", "{{print {n}}}", "}}{{"}}, map[string]string{"n": "$1"},
			[]string{"awk", "{print $1}", "}{"}, "", ""},
		{"extra args ignored", Command{Argv: []string{"true"}}, map[string]string{"unused": "x"},
			[]string{"true"}, "", ""},
		{"one missing", Command{Argv: []string{"a", "{x}"}}, nil, nil, "",
			`worker: missing arg "x" (the command template uses {x})`},
		{"all missing listed sorted", Command{Argv: []string{"{zeta}", "{alpha}", "{zeta}", "{ok}"}, Dir: "{mid}"},
			map[string]string{"ok": "1"}, nil, "",
			`worker: missing args "alpha", "mid", "zeta" (the command template uses {alpha}, {mid}, {zeta})`},
		{"NUL in value", Command{Argv: []string{"a", "{x}"}}, map[string]string{"x": "a\x00b"}, nil, "",
			`worker: arg "x" contains a NUL byte`},
		{"bad syntax", Command{Argv: []string{"a", "{x"}}, map[string]string{"x": "1"}, nil, "",
			`worker: command template argv[1] "{x": bad placeholder`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, dir, _, err := expand(tt.cmd, tt.args)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr && !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !IsPermanent(err) {
					t.Fatalf("IsPermanent(%v) = false", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(argv, tt.wantArgv) || dir != tt.wantDir {
				t.Fatalf("got %q dir %q, want %q dir %q", argv, dir, tt.wantArgv, tt.wantDir)
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	tests := []struct {
		name    string
		limit   int
		writes  []string
		want    string
		dropped int64
	}{
		{"empty", 8, nil, "", 0},
		{"under limit", 8, []string{"ab", "cd"}, "abcd", 0},
		{"exactly limit", 4, []string{"ab", "cd"}, "abcd", 0},
		{"wraps", 4, []string{"abc", "def"}, "...[truncated 2 bytes]\ncdef", 2},
		{"wraps many times", 3, []string{"a", "bc", "de", "f", "ghij", "k"}, "...[truncated 8 bytes]\nijk", 8},
		{"one big write", 4, []string{"0123456789"}, "...[truncated 6 bytes]\n6789", 6},
		{"cut inside a rune", 4, []string{"xxé", "€"}, "...[truncated 4 bytes]\n€", 3},
		{"default limit", 0, []string{strings.Repeat("a", 64<<10), "b"}, "...[truncated 1 bytes]\n" + strings.Repeat("a", 64<<10-1) + "b", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTailBuffer(tt.limit)
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := b.String(); got != tt.want {
				t.Fatalf("String = %q, want %q", got, tt.want)
			}
			if got := b.Truncated(); got != tt.dropped {
				t.Fatalf("Truncated = %d, want %d", got, tt.dropped)
			}
		})
	}
}

func TestTailBufferConcurrentAndBounded(t *testing.T) {
	const writers, records, width = 8, 2000, 9 // "w3-01234\n"
	const limit = 100 * width
	b := newTailBuffer(limit)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range records {
				fmt.Fprintf(b, "w%d-%05d\n", w, i)
			}
		})
	}
	wg.Wait()
	if cap(b.buf) > limit {
		t.Fatalf("buffer capacity %d exceeds limit %d", cap(b.buf), limit)
	}
	total := int64(writers * records * width)
	if b.Len() != total || b.Truncated() != total-limit {
		t.Fatalf("Len %d Truncated %d, want %d %d", b.Len(), b.Truncated(), total, total-limit)
	}
	s := b.String()
	prefix := fmt.Sprintf("...[truncated %d bytes]\n", total-limit)
	body, ok := strings.CutPrefix(s, prefix)
	if !ok || len(body) != limit {
		t.Fatalf("String has prefix %q and %d bytes after it, want %q and %d", s[:min(len(s), 40)], len(body), prefix, limit)
	}
	// Writes are atomic: the tail is whole records, each writer's in order.
	last := map[byte]int{}
	for _, rec := range strings.SplitAfter(body, "\n")[:100] {
		if len(rec) != width || rec[0] != 'w' || rec[2] != '-' {
			t.Fatalf("torn record %q", rec)
		}
		n, err := strconv.Atoi(rec[3:8])
		if err != nil {
			t.Fatalf("torn record %q", rec)
		}
		if prev, seen := last[rec[1]]; seen && n <= prev {
			t.Fatalf("writer %c out of order: %d after %d", rec[1], n, prev)
		}
		last[rec[1]] = n
	}
}

// procState returns the state and process group of pid from /proc, and
// false when there is no such process.
func procState(pid int) (state byte, pgrp int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 3 {
		return 0, 0, false
	}
	pgrp, _ = strconv.Atoi(f[2])
	return f[0][0], pgrp, true
}

// liveInGroup lists the processes of group pgid that are not zombies.
func liveInGroup(pgid int) []int {
	var live []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, pg, ok := procState(pid); ok && pg == pgid && st != 'Z' {
			live = append(live, pid)
		}
	}
	return live
}

// waitGroupGone polls until the pids written one a line to pidFile (the
// first being the group leader) and every other process of that group are
// gone or zombies, failing the test after 5s.
func waitGroupGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pid file %q: %v", b, err)
		}
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		t.Fatal("empty pid file")
	}
	testproc.PollErr(t, 5*time.Second, "the job's processes to end", func() error {
		live := liveInGroup(pids[0])
		for _, pid := range pids {
			if st, _, ok := procState(pid); ok && st != 'Z' && !slices.Contains(live, pid) {
				live = append(live, pid)
			}
		}
		if len(live) > 0 {
			return fmt.Errorf("still alive: %v", live)
		}
		return nil
	})
}

// Shell scripts used as command subjects. $1 is a file for their pids.
const (
	scriptTwoChildren  = `echo $$ > "$1"; sleep 30 & echo $! >> "$1"; sleep 30 & echo $! >> "$1"; echo started; wait`
	scriptIgnoreTerm   = `trap "" TERM; echo $$ > "$1"; sleep 30 & echo $! >> "$1"; echo started; wait`
	scriptBackgrounded = `echo $$ > "$1"; sleep 30 & echo $! >> "$1"; echo done`
)

func TestRunCommand(t *testing.T) {
	tmp := t.TempDir()
	sub := filepath.Join(tmp, "sub dir")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	realSub, err := filepath.EvalSymlinks(sub)
	if err != nil {
		t.Fatal(err)
	}
	var seqWant strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintln(&seqWant, i)
	}
	seqTail := seqWant.String()[seqWant.Len()-100:]
	nasty := `a b; echo INJECTED $(echo INJECTED) "q" 'q' {other} -rf`
	tests := []struct {
		name     string
		cmd      Command
		args     map[string]string
		env      []string
		limit    int
		wantCode int
		wantOut  string // exact, unless wantErr is set and wantOut is empty
		wantErr  string // substring
		check    func(t *testing.T, err error)
	}{
		{name: "exit 0 captures stdout and stderr", cmd: Command{Argv: []string{"sh", "-c", "echo out; echo err >&2"}},
			wantOut: "out\nerr\n"},
		{name: "exit 3", cmd: Command{Argv: []string{"sh", "-c", "echo failing; exit 3"}},
			wantCode: 3, wantOut: "failing\n", wantErr: "worker: exit status 3",
			check: func(t *testing.T, err error) {
				var ee *exec.ExitError
				if !errors.As(err, &ee) || IsPermanent(err) {
					t.Errorf("err %v: want an *exec.ExitError, not permanent", err)
				}
			}},
		{name: "env reaches the process", cmd: Command{Argv: []string{"sh", "-c", "echo $DROVER_JOB_ID"}},
			env: []string{"DROVER_JOB_ID=j-42"}, wantOut: "j-42\n"},
		{name: "templated dir is honoured", cmd: Command{Argv: []string{"sh", "-c", `pwd -P; echo "$PWD"`}, Dir: "{root}/sub dir"},
			args: map[string]string{"root": tmp}, wantOut: realSub + "\n" + sub + "\n"},
		{name: "arg is one literal argument", cmd: Command{Argv: []string{"printf", "<%s>\n", "{v}", "x{v}"}},
			args: map[string]string{"v": nasty, "other": "EXPANDED"}, wantOut: "<" + nasty + ">\n<x" + nasty + ">\n"},
		{name: "output tail is kept", cmd: Command{Argv: []string{"seq", "1000"}}, limit: 100,
			wantOut: fmt.Sprintf("...[truncated %d bytes]\n%s", seqWant.Len()-100, seqTail)},
		{name: "missing arg starts nothing", cmd: Command{Argv: []string{"touch", filepath.Join(tmp, "marker"), "{nope}"}},
			wantCode: -1, wantErr: `worker: missing arg "nope"`,
			check: func(t *testing.T, err error) {
				if !IsPermanent(err) {
					t.Errorf("IsPermanent(%v) = false", err)
				}
				if _, statErr := os.Stat(filepath.Join(tmp, "marker")); statErr == nil {
					t.Error("the command ran")
				}
			}},
		{name: "program not found", cmd: Command{Argv: []string{"drover-no-such-program", "x"}},
			wantCode: -1, wantErr: `worker: cannot start "drover-no-such-program"`,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, exec.ErrNotFound) {
					t.Errorf("err %v: want exec.ErrNotFound", err)
				}
			}},
		{name: "empty program", cmd: Command{Argv: []string{"{prog}"}}, args: map[string]string{"prog": ""},
			wantCode: -1, wantErr: "worker: command has an empty program name"},
		{name: "dir not found", cmd: Command{Argv: []string{"sh", "-c", "true"}, Dir: "{root}/nope"}, args: map[string]string{"root": tmp},
			wantCode: -1, wantErr: fmt.Sprintf(`worker: dir %q (from the template's dir "{root}/nope"): no such directory`, filepath.Join(tmp, "nope")),
			check: func(t *testing.T, err error) {
				if IsPermanent(err) || !errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "sh") {
					t.Errorf("err %v: want one that is retried, matches fs.ErrNotExist, and does not name the program", err)
				}
			}},
		{name: "dir is a file", cmd: Command{Argv: []string{"true"}, Dir: filepath.Join(tmp, "file")},
			wantCode: -1, wantErr: fmt.Sprintf(`worker: dir %q (from the template's dir %[1]q): not a directory`, filepath.Join(tmp, "file"))},
		{name: "dir under a file", cmd: Command{Argv: []string{"true"}, Dir: filepath.Join(tmp, "file", "sub")},
			wantCode: -1, wantErr: fmt.Sprintf(`worker: dir %q (from the template's dir %[1]q): not a directory (a part of its path is a file)`, filepath.Join(tmp, "file", "sub"))},
	}
	if err := os.WriteFile(filepath.Join(tmp, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := runCommand(t.Context(), tt.cmd, tt.args, tt.env, "", tt.limit, time.Second, nil)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if res.ExitCode != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", res.ExitCode, tt.wantCode)
			}
			if (tt.wantErr == "" || tt.wantOut != "") && res.Output != tt.wantOut {
				t.Errorf("Output = %q, want %q", res.Output, tt.wantOut)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestRunCommandStopsTheGroup(t *testing.T) {
	errCause := errors.New("job timeout")
	tests := []struct {
		name        string
		script      string
		ctx         func(context.Context) (context.Context, context.CancelFunc)
		wantIs      []error
		notIs       error
		wantErr     string
		wantCode    int
		minDuration time.Duration // the kill grace must have been waited out
		maxDuration time.Duration
	}{
		{name: "timeout kills children too", script: scriptTwoChildren,
			ctx: func(c context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(c, 200*time.Millisecond)
			},
			wantIs: []error{context.DeadlineExceeded}, notIs: context.Canceled,
			wantErr: "worker: killed by signal terminated after timeout", wantCode: -1, maxDuration: 5 * time.Second},
		{name: "SIGTERM ignored: SIGKILL after grace", script: scriptIgnoreTerm,
			ctx: func(c context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeoutCause(c, 200*time.Millisecond, errCause)
			},
			wantIs: []error{context.DeadlineExceeded, errCause}, notIs: context.Canceled,
			wantErr:  "worker: killed by signal killed after timeout (still running 300ms after SIGTERM)",
			wantCode: -1, minDuration: 500 * time.Millisecond, maxDuration: 5 * time.Second},
		{name: "cancel", script: scriptTwoChildren,
			ctx: func(c context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(c)
				time.AfterFunc(200*time.Millisecond, cancel)
				return ctx, cancel
			},
			wantIs: []error{context.Canceled}, notIs: context.DeadlineExceeded,
			wantErr: "worker: killed by signal terminated after cancel", wantCode: -1, maxDuration: 5 * time.Second},
		{name: "background child killed when the job exits", script: scriptBackgrounded,
			ctx: func(c context.Context) (context.Context, context.CancelFunc) { return context.WithCancel(c) },
			// Well under waitDelay: the group is killed before Wait.
			maxDuration: waitDelay - 100*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pids")
			start := time.Now() // before the deadline is set
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()
			cmd := Command{Argv: []string{"sh", "-c", tt.script, "sh", "{pidfile}"}}
			res, err := runCommand(ctx, cmd, map[string]string{"pidfile": pidFile}, nil, "", 0, 300*time.Millisecond, nil)
			elapsed := time.Since(start)
			waitGroupGone(t, pidFile)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			for _, target := range tt.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
			if tt.notIs != nil && errors.Is(err, tt.notIs) {
				t.Errorf("errors.Is(%v, %v) = true", err, tt.notIs)
			}
			if res.ExitCode != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", res.ExitCode, tt.wantCode)
			}
			if elapsed < tt.minDuration || elapsed > tt.maxDuration {
				t.Errorf("took %v, want between %v and %v", elapsed, tt.minDuration, tt.maxDuration)
			}
			if !strings.Contains(res.Output, "started") && !strings.Contains(res.Output, "done") {
				t.Errorf("Output = %q", res.Output)
			}
		})
	}
}

func TestRunCommandContextDoneBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	marker := filepath.Join(t.TempDir(), "marker")
	res, err := runCommand(ctx, Command{Argv: []string{"touch", marker}}, nil, nil, "", 0, time.Second, nil)
	if !errors.Is(err, context.Canceled) || res.ExitCode != -1 || err.Error() != "worker: not started: cancel" {
		t.Fatalf("res %+v err %v", res, err)
	}
	if _, statErr := os.Stat(marker); statErr == nil {
		t.Fatal("the command ran")
	}
}

// TestRunCommandEnv: a job's process gets the worker's environment without
// any DROVER_* variable (DROVER_TOKEN above all), plus the env it is given,
// and keeps the worker's ordinary variables.
func TestRunCommandEnv(t *testing.T) {
	const token = "tok-3b1f9c"
	t.Setenv("DROVER_TOKEN", token)
	t.Setenv("DROVER_TOKEN_FILE", "/etc/drover/"+token)
	t.Setenv("DROVER_LISTEN", "127.0.0.1:0")
	t.Setenv("DROVER_MASTER", "http://drover:"+token+"@127.0.0.1:7070")
	t.Setenv("FOO", "bar")
	t.Setenv("NOT_DROVER_X", "kept")
	res, err := runCommand(t.Context(), Command{Argv: []string{"env"}}, nil,
		[]string{"DROVER_JOB_ID=j-1", "DROVER_MASTER=127.0.0.1:7070"}, "", 0, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	var drover []string
	for line := range strings.Lines(res.Output) {
		if strings.HasPrefix(line, "DROVER_") {
			drover = append(drover, strings.TrimSpace(line))
		}
	}
	if want := []string{"DROVER_JOB_ID=j-1", "DROVER_MASTER=127.0.0.1:7070"}; !slices.Equal(drover, want) {
		t.Errorf("DROVER_* of the job = %q, want %q", drover, want)
	}
	if strings.Contains(res.Output, token) {
		t.Error("the job's environment holds the token")
	}
	for _, kv := range []string{"FOO=bar", "NOT_DROVER_X=kept", "PATH=" + os.Getenv("PATH")} {
		if !strings.Contains("\n"+res.Output, "\n"+kv+"\n") {
			t.Errorf("the job's environment lacks %s", kv)
		}
	}
}

func TestRedactUserinfo(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:7070", "127.0.0.1:7070"},
		{"localhost:7070", "localhost:7070"},
		{"http://127.0.0.1:7070", "http://127.0.0.1:7070"},
		{"https://drover:tok@m.example:7070/RPC2", "https://m.example:7070/RPC2"},
		{"http://tok@m.example:7070", "http://m.example:7070"},
		{"drover:tok@m.example:7070", "m.example:7070"},
		{"http://drover:tok@a:7070, https://tok@b:7070/RPC2,c:7070", "http://a:7070,https://b:7070/RPC2,c:7070"},
		{"drover:tok@a:7070,drover:tok@b:7070", "a:7070,b:7070"},
	} {
		if got := redactUserinfo(tc.in); got != tc.want {
			t.Errorf("redactUserinfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRunCommandDirNotEnterable: a dir the worker's user may not enter
// fails the start with an error that names the dir, not the program.
func TestRunCommandDirNotEnterable(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root enters every directory")
	}
	dir := filepath.Join(t.TempDir(), "closed")
	if err := os.Mkdir(dir, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCommand(t.Context(), Command{Argv: []string{"true"}, Dir: dir}, nil, nil, "", 0, time.Second, nil)
	want := fmt.Sprintf(`worker: dir %q (from the template's dir %[1]q): permission denied (cannot enter it)`, dir)
	if err == nil || err.Error() != want {
		t.Errorf("err = %v; want %q", err, want)
	}
}
