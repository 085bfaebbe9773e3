package testproc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Proc is a running (or exited) process with its output kept in memory.
// Its methods are safe for concurrent use.
type Proc struct {
	name   string
	cmd    *exec.Cmd
	tb     TB // nil for a Proc from Launch
	out    *output
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's error, set before done closes
	killed atomic.Bool   // Kill was called: any exit status is fine
}

// ErrExited is returned by WaitLine when the process ends first.
var ErrExited = errors.New("testproc: the process exited")

// Launch starts cmd, named name in messages, and returns it running. It
// keeps the process's stdout and stderr in memory, except a stream for
// which cmd already has a writer: that goes only there. Launch registers
// no cleanup and takes no TB: the caller must see the process end (Kill,
// Stop, or WaitExit). It is the part of testproc that is not for tests.
func Launch(name string, cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{name: name, cmd: cmd, out: newOutput(), done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = stream{p.out, 0}
	}
	if cmd.Stderr == nil {
		cmd.Stderr = stream{p.out, 1}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testproc: start %s: %w", name, err)
	}
	go func() { // ends with the process; done tells its waiters
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Options says how to start or run a process. The zero value is ready to
// use.
type Options struct {
	// Name names the process in messages. Default: the base name of its
	// path.
	Name string
	// Env is added to the test process's environment. Start adds
	// TMPDIR, a temporary directory of the test's, unless Env sets it.
	Env []string
	// Grace is how the cleanup of Start ends the process. Zero: it is
	// killed (SIGCONT, then SIGKILL). Above zero: it gets SIGTERM and
	// Grace to exit, and the test fails if it has to be killed then, or if
	// it exited with an error (unless the test called Kill).
	Grace time.Duration
	// Timeout bounds Run: a process still running after it is killed and
	// the test fails. Zero: no bound.
	Timeout time.Duration
}

func (o Options) command(path string, args []string) (string, *exec.Cmd) {
	cmd := exec.Command(path, args...)
	if len(o.Env) > 0 {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	name := o.Name
	if name == "" {
		name = filepath.Base(path)
	}
	return name, cmd
}

// Start starts path with args and returns it running; see Options.Start.
func Start(tb TB, path string, args ...string) *Proc {
	tb.Helper()
	return Options{}.Start(tb, path, args...)
}

// Start starts path with args, failing the test if it cannot, and returns
// it running. At the test's cleanup the process is ended (see Grace), its
// output is checked for a data race report ("WARNING: DATA RACE", which
// fails the test) and logged, its last 16 KB, if the test failed.
func (o Options) Start(tb TB, path string, args ...string) *Proc {
	tb.Helper()
	if !slices.ContainsFunc(o.Env, func(v string) bool { return strings.HasPrefix(v, "TMPDIR=") }) {
		o.Env = append(slices.Clip(o.Env), "TMPDIR="+tmpDir(tb))
	}
	name, cmd := o.command(path, args)
	p, err := Launch(name, cmd)
	if err != nil {
		tb.Fatalf("%v", err)
		return nil
	}
	p.tb = tb
	tb.Cleanup(func() { p.cleanup(o.Grace, strings.Join(append([]string{path}, args...), " ")) })
	return p
}

// tmpDirs holds the $TMPDIR of the processes each test starts, one
// temporary directory a test (TB): what a killed process leaves there
// goes with the test, and the test's processes share it as a machine's
// processes share /tmp.
var tmpDirs sync.Map // TB -> string

func tmpDir(tb TB) string {
	if d, ok := tmpDirs.Load(tb); ok {
		return d.(string)
	}
	d := tb.TempDir()
	if prev, loaded := tmpDirs.LoadOrStore(tb, d); loaded {
		return prev.(string)
	}
	tb.Cleanup(func() { tmpDirs.Delete(tb) })
	return d
}

func (p *Proc) cleanup(grace time.Duration, command string) {
	p.Signal(syscall.SIGCONT) // a stopped process takes no SIGTERM
	ignored := false
	if grace > 0 && !p.Exited() {
		p.Signal(syscall.SIGTERM)
		ignored = !p.WaitExit(grace)
	}
	p.kill()
	switch {
	case ignored:
		p.tb.Errorf("%s ignored SIGTERM for %s; killed", p.name, grace)
	case grace > 0 && p.err != nil && !p.killed.Load():
		p.tb.Errorf("%s (%s): %v", p.name, command, p.err)
	}
	out := p.Output()
	if strings.Contains(out, "WARNING: DATA RACE") {
		p.tb.Errorf("%s (pid %d) reported a data race:\n%s", p.name, p.PID(), out)
	} else if p.tb.Failed() {
		p.tb.Logf("--- output of %s (pid %d, %s), last 16KB ---\n%s", p.name, p.PID(), command, tail(out, 16<<10))
	}
}

// Name returns the process's name in messages.
func (p *Proc) Name() string { return p.name }

// PID returns the process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Stdout returns what the process has written to stdout so far.
func (p *Proc) Stdout() string { return p.out.stream(0) }

// Stderr returns what the process has written to stderr so far.
func (p *Proc) Stderr() string { return p.out.stream(1) }

// Output returns what the process has written to stdout and stderr so
// far, interleaved a line at a time in the order the lines ended, then the
// unfinished line of each.
func (p *Proc) Output() string { return p.out.combined() }

// Lines returns the whole lines the process has written so far, of
// stdout and stderr in the order they ended, each with when it did.
func (p *Proc) Lines() []Line { return p.out.lines() }

// Done returns a channel closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns how the process ended (exec.Cmd.Wait's error: nil for exit
// status 0), or nil while it runs.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Signal sends sig to the process unless it has exited.
func (p *Proc) Signal(sig os.Signal) {
	if !p.Exited() {
		p.cmd.Process.Signal(sig) // it may have exited since: nothing to do then
	}
}

// WaitExit waits up to timeout for the process to exit and reports
// whether it did.
func (p *Proc) WaitExit(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// Kill kills the process with SIGKILL and waits until it is gone. A
// process killed with Kill may end with any status (see Options.Grace).
func (p *Proc) Kill() {
	p.killed.Store(true)
	p.kill()
}

func (p *Proc) kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to grace for the process to exit; then
// it kills it. It reports whether the process exited by itself.
func (p *Proc) Stop(grace time.Duration) bool {
	p.Signal(syscall.SIGTERM)
	if p.WaitExit(grace) {
		return true
	}
	p.kill()
	return false
}

// WaitLine waits up to timeout for a line of output, of stdout or stderr,
// for which match is true, and returns it without its newline. Lines are
// matched whole, once each, in the order they end; a last line without a
// newline only once the process has exited. The error wraps ErrExited when
// the process ends first, and says so when the time runs out.
func (p *Proc) WaitLine(timeout time.Duration, match func(line string) bool) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	off := 0
	for {
		exited := p.Exited() // before reading: all output is in once it has
		b, partials, changed := p.out.from(off)
		for {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				break
			}
			line := string(b[:i])
			b, off = b[i+1:], off+i+1
			if match(line) {
				return line, nil
			}
		}
		if exited {
			for _, l := range partials {
				if match(l) {
					return l, nil
				}
			}
			return "", fmt.Errorf("%w: %s: %v", ErrExited, p.name, p.err)
		}
		select {
		case <-changed:
		case <-p.done:
		case <-deadline.C:
			return "", fmt.Errorf("testproc: %s: no such line within %s", p.name, timeout)
		}
	}
}

// mustTB returns the TB of a Proc from Start.
func (p *Proc) mustTB() TB {
	if p.tb == nil {
		panic("testproc: " + p.name + " has no test: start it with Start, not Launch")
	}
	return p.tb
}

// WaitFor waits up to timeout for a line of output holding substr and
// returns it. The test fails if the process exits first or the time runs
// out. Only for a Proc from Start.
func (p *Proc) WaitFor(substr string, timeout time.Duration) string {
	tb := p.mustTB()
	tb.Helper()
	line, err := p.WaitLine(timeout, func(l string) bool { return strings.Contains(l, substr) })
	if err != nil {
		tb.Fatalf("waiting for %q: %v\n%s", substr, err, tail(p.Output(), 4096))
	}
	return line
}

// logLine matches a logrus text line "... msg=MSG ... FIELD=VALUE ...",
// the value quoted or not.
var logLine = regexp.MustCompile(`(?:^|\s)(\w+)=("(?:[^"\\]|\\.)*"|\S*)`)

// logFields returns the fields of a log line, JSON (log_format = "json")
// or logrus text, or nil.
func logFields(line string) map[string]string {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) == nil {
		f := make(map[string]string, len(m))
		for k, v := range m {
			if s, ok := v.(string); ok {
				f[k] = s
			} else {
				f[k] = fmt.Sprint(v)
			}
		}
		return f
	}
	var f map[string]string
	for _, kv := range logLine.FindAllStringSubmatch(line, -1) {
		v := kv[2]
		if strings.HasPrefix(v, `"`) {
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
		}
		if f == nil {
			f = map[string]string{}
		}
		f[kv[1]] = v
	}
	return f
}

// LogField waits up to timeout for the first log line (JSON or logrus
// text) whose msg is msg and returns its field (empty if the line has
// none). The test fails if the process exits first or the time runs out.
// Only for a Proc from Start.
func (p *Proc) LogField(msg, field string, timeout time.Duration) string {
	tb := p.mustTB()
	tb.Helper()
	var v string
	_, err := p.WaitLine(timeout, func(l string) bool {
		f := logFields(l)
		if f["msg"] != msg {
			return false
		}
		v = f[field]
		return true
	})
	if err != nil {
		tb.Fatalf("waiting for the log line %q: %v\n%s", msg, err, tail(p.Output(), 4096))
	}
	return v
}

// Addr waits up to StartTimeout for a drover master's "master listening"
// log line and returns the address in it. The test fails if the process
// exits first or the time runs out. Only for a Proc from Start.
func (p *Proc) Addr() string {
	tb := p.mustTB()
	tb.Helper()
	addr := p.LogField("master listening", "addr", StartTimeout)
	if addr == "" {
		tb.Fatalf("%s: the master listening line has no addr\n%s", p.name, tail(p.Output(), 4096))
	}
	return addr
}
