package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drover/drover/jobs"
)

// waitDelay bounds how long Wait waits for the output pipes after the job's
// process has exited, in case a process that escaped its group holds them.
const waitDelay = time.Second

// builtinNames are the placeholders a template has whatever the job's
// args: {attempt}, {group}, {job_id} and {worker} (see jobVars). A job
// arg of one of these names is refused when the template uses the name.
var builtinNames = []string{"attempt", "group", "job_id", "worker"}

// parseTemplate checks the template syntax of a command's argv, dir and
// env values, and the names of its env, and returns the sorted, unique
// names its placeholders use. A placeholder is {name} or {name:default},
// with name matching [A-Za-z_][A-Za-z0-9_]* and a default of any text
// without braces (empty too); "{{" and "}}" are literal braces; any other
// brace is an error naming the element, such as
// `argv[2] "x{a b}": bad placeholder "{a b}": ...`. The error has no
// "worker: " prefix because Config.Validate wraps it with one.
func parseTemplate(cmd Command) ([]string, error) {
	var names []string
	note := func(name, _ string, _ bool) string { names = append(names, name); return "" }
	for i, s := range cmd.Argv {
		if _, err := fill(s, note); err != nil {
			return nil, fmt.Errorf("argv[%d] %q: %w", i, s, err)
		}
	}
	if _, err := fill(cmd.Dir, note); err != nil {
		return nil, fmt.Errorf("dir %q: %w", cmd.Dir, err)
	}
	for _, k := range slices.Sorted(maps.Keys(cmd.Env)) {
		if err := checkEnvName(k); err != nil {
			return nil, err
		}
		if _, err := fill(cmd.Env[k], note); err != nil {
			return nil, fmt.Errorf("env %s %q: %w", k, cmd.Env[k], err)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// checkEnvName refuses a name a template's env may not set: an empty one,
// one with "=" or a NUL byte, and the DROVER_* names, which are the
// worker's to set for the job (DROVER_JOB_ID, DROVER_ATTEMPT, ...).
func checkEnvName(k string) error {
	switch {
	case k == "" || strings.ContainsAny(k, "=\x00"):
		return fmt.Errorf("env name %q: want a name without \"=\" or NUL", k)
	case strings.HasPrefix(k, envPrefix):
		return fmt.Errorf("env name %q: %s* variables are set by the worker, not by a template", k, envPrefix)
	}
	return nil
}

// jobVars returns the values of a template's placeholders for attempt
// attempt of job id (of group group, empty when none) on the worker called
// worker: the job's args, plus the built-ins {job_id}, {attempt},
// {group} and {worker}. A job arg named like a built-in the template uses
// is a Permanent error: the job cannot choose those values.
func jobVars(cmd Command, args map[string]string, id string, attempt int, group, worker string) (map[string]string, error) {
	names, err := parseTemplate(cmd)
	if err != nil {
		return nil, Permanent(fmt.Errorf("worker: command template: %w", err))
	}
	out := make(map[string]string, len(args)+len(builtinNames))
	for k, v := range args {
		if slices.Contains(builtinNames, k) {
			if _, used := slices.BinarySearch(names, k); used {
				return nil, Permanent(fmt.Errorf("worker: arg %q is not the job's to give: the command template's {%s} is set by the worker", k, k))
			}
			continue
		}
		out[k] = v
	}
	out["job_id"], out["attempt"], out["worker"] = id, strconv.Itoa(attempt), worker
	if group != "" {
		out["group"] = group // {group:default} takes its default otherwise
	}
	return out, nil
}

// expand returns cmd's argv, dir and env (as sorted "NAME=value" entries)
// with each {name} replaced by args[name], or by its default when args
// has no such name ({allow:} is empty then, {depth:2} is "2"); a built-in
// name missing from args ({group} of a job without a group) is empty
// unless it has a default. A value is substituted inside its one element
// as is: it is never split, never becomes a new element, never goes
// through a shell, and braces in it are not expanded again. Args the
// template does not use are ignored. Every error is Permanent: missing
// args (all of them are listed, sorted), a value with a NUL byte (no
// program can receive it), or bad template syntax.
func expand(cmd Command, args map[string]string) (argv []string, dir string, env []string, err error) {
	var missing, nul []string
	value := func(name, def string, hasDef bool) string {
		v, ok := args[name]
		switch {
		case !ok && hasDef:
			return def
		case !ok && !slices.Contains(builtinNames, name):
			missing = append(missing, name)
		case strings.IndexByte(v, 0) >= 0:
			nul = append(nul, name)
		}
		return v
	}
	argv = make([]string, len(cmd.Argv))
	for i, s := range cmd.Argv {
		if argv[i], err = fill(s, value); err != nil {
			return nil, "", nil, Permanent(fmt.Errorf("worker: command template argv[%d] %q: %w", i, s, err))
		}
	}
	if dir, err = fill(cmd.Dir, value); err != nil {
		return nil, "", nil, Permanent(fmt.Errorf("worker: command template dir %q: %w", cmd.Dir, err))
	}
	for _, k := range slices.Sorted(maps.Keys(cmd.Env)) {
		if err := checkEnvName(k); err != nil {
			return nil, "", nil, Permanent(fmt.Errorf("worker: command template: %w", err))
		}
		v, err := fill(cmd.Env[k], value)
		if err != nil {
			return nil, "", nil, Permanent(fmt.Errorf("worker: command template env %s %q: %w", k, cmd.Env[k], err))
		}
		env = append(env, k+"="+v)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		missing = slices.Compact(missing)
		var quoted, braced []string
		for _, name := range missing {
			quoted, braced = append(quoted, strconv.Quote(name)), append(braced, "{"+name+"}")
		}
		plural := map[bool]string{true: "s"}[len(missing) > 1]
		return nil, "", nil, Permanent(fmt.Errorf("worker: missing arg%s %s (the command template uses %s)",
			plural, strings.Join(quoted, ", "), strings.Join(braced, ", ")))
	}
	if len(nul) > 0 {
		slices.Sort(nul)
		return nil, "", nil, Permanent(fmt.Errorf("worker: arg %q contains a NUL byte", nul[0]))
	}
	return argv, dir, env, nil
}

// fill scans template s and returns it with each placeholder {name} or
// {name:default} replaced by value(name, default, whether it has one)
// and each "{{" or "}}" by one brace, or the first syntax error.
func fill(s string, value func(name, def string, hasDef bool) string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch s[i] {
		case '{':
			if strings.HasPrefix(s[i:], "{{") {
				b.WriteByte('{')
				i += 2
				continue
			}
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return "", fmt.Errorf(`bad placeholder: unterminated "{" at byte %d (write "{{" for a literal brace)`, i)
			}
			name, def, hasDef := strings.Cut(s[i+1:i+j], ":")
			switch {
			case !validArgName(name):
				return "", fmt.Errorf("bad placeholder %q: want {name} or {name:default}, name of letters, digits and _ not starting with a digit", s[i:i+j+1])
			case strings.IndexByte(def, '{') >= 0:
				return "", fmt.Errorf("bad placeholder %q: a default cannot hold a brace", s[i:i+j+1])
			}
			b.WriteString(value(name, def, hasDef))
			i += j + 1
		case '}':
			if !strings.HasPrefix(s[i:], "}}") {
				return "", fmt.Errorf(`bad placeholder: stray "}" at byte %d (write "}}" for a literal brace)`, i)
			}
			b.WriteByte('}')
			i += 2
		default:
			j := strings.IndexAny(s[i:], "{}")
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(s[i : i+j])
			i += j
		}
	}
	return b.String(), nil
}

// validArgName reports whether name matches [A-Za-z_][A-Za-z0-9_]*.
func validArgName(name string) bool {
	for i, c := range []byte(name) {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return name != ""
}

// runCommand runs cmd with args substituted (see expand) and returns its
// exit code and the tail of its output. The program runs without a shell, in
// dir, with the worker's environment minus every DROVER_* variable (see
// jobEnviron) plus cmd's Env, plus env (later entries win), in its
// own process group, with stdout and stderr both captured into the last
// outputLimit bytes (<= 0: 64 KiB) and, when watch is not nil, written to
// watch as well.
//
// When ctx is done before the process exits, the whole group gets SIGTERM,
// then SIGKILL after killGrace (<= 0: at once). Whenever the process exits,
// on its own or not, whatever is left of its group gets SIGKILL, so no
// process of the job outlives it (only one that moved itself to another
// group or session can).
//
// Result.ExitCode is the exit code, or -1 when the process was killed by a
// signal or never started. The error is nil when the process exited 0
// before ctx was done. Otherwise it reads like "worker: exit status 3" or
// "worker: killed by signal terminated after timeout"; when the process was
// stopped because ctx was done (or ctx was done before the start), it
// matches ctx.Err() and context.Cause(ctx) with errors.Is, so callers can
// tell context.DeadlineExceeded from context.Canceled. Argument errors from
// expand are Permanent; a start failure names argv[0].
func runCommand(ctx context.Context, cmd Command, args map[string]string, env []string, stdin string,
	outputLimit int, killGrace time.Duration, watch io.Writer) (jobs.Result, error) {
	return runCommandTo(ctx, cmd, args, env, stdin, outputLimit, killGrace, watch, nil, nil, nil)
}

// jobProcs reaches the processes of a command job that may have left its
// process group (setsid daemons): the worker's watchdog finds them by the
// job's mark. Neither method blocks for long.
type jobProcs interface {
	group(pgid int) // the job's process group, for the watchdog to stop if the worker cannot
	term()          // SIGTERM them: the job is being stopped
	end()           // SIGKILL them: the job's first process has exited
}

// runCommandTo is runCommand that also copies the command's stdout to
// stdout and its stderr to stderr when they are not nil (the attempt's
// full log, logs.go), and, when procs is not nil, stops with the group
// the job's processes outside it, and ends them when the job ends.
// Writers that must never fail the job never return an error.
func runCommandTo(ctx context.Context, cmd Command, args map[string]string, env []string, stdin string,
	outputLimit int, killGrace time.Duration, watch, stdout, stderr io.Writer, procs jobProcs) (jobs.Result, error) {
	res := jobs.Result{ExitCode: -1}
	argv, dir, cmdEnv, err := expand(cmd, args)
	if err != nil {
		return res, err
	}
	env = append(cmdEnv, env...)
	if len(argv) == 0 || argv[0] == "" {
		return res, Permanent(errors.New("worker: command has an empty program name"))
	}
	if ctx.Err() != nil {
		return res, stopped(ctx, "", "")
	}
	out := newTailBuffer(outputLimit)
	var w io.Writer = out
	if watch != nil {
		w = io.MultiWriter(out, watch)
	}
	c := commandFor(argv, dir, env, stdin, w)
	var lines []*wholeLines
	if stdout != nil || stderr != nil {
		// Two pipes, read at once: each stream reaches the watch a whole
		// line at a time, so a partial line of one never joins the other's.
		split := func(log io.Writer) io.Writer {
			ws := []io.Writer{out}
			if watch != nil {
				l := &wholeLines{w: watch}
				lines = append(lines, l)
				ws = append(ws, l)
			}
			if log != nil {
				ws = append(ws, log)
			}
			return io.MultiWriter(ws...)
		}
		c.Stdout, c.Stderr = split(stdout), split(stderr)
	}
	if err := c.Start(); err != nil {
		if dir != "" {
			if derr := checkRunDir(dir, cmd.Dir); derr != nil {
				return res, derr // exec's error would name the program
			}
		}
		return res, fmt.Errorf("worker: cannot start %q: %w", argv[0], err)
	}
	if procs != nil {
		procs.group(c.Process.Pid)
	}
	werr, termed, killed := waitOrStop(ctx, c, killGrace, procs)
	for _, l := range lines {
		l.flush()
	}

	res.Output = out.String()
	ps := c.ProcessState // set: Start succeeded
	res.ExitCode = ps.ExitCode()
	how := fmt.Sprintf("exit status %d", ps.ExitCode())
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		how = "killed by signal " + ws.Signal().String()
	}
	switch {
	case termed:
		note := ""
		if killed {
			note = fmt.Sprintf(" (still running %s after SIGTERM)", max(killGrace, 0))
		}
		return res, stopped(ctx, how, note)
	case ps.Success():
		// werr is nil, or ErrWaitDelay when a process outside the group held
		// the output open: the job itself succeeded either way.
		return res, nil
	}
	return res, &runError{msg: "worker: " + how, errs: []error{werr}}
}

// checkRunDir returns an error naming dir, the working directory of a
// command that did not start (expanded from its template's dir, tmpl),
// and what is wrong with it, when it is not a directory the command can
// start in; or nil. exec's error names the program instead ("fork/exec
// /usr/bin/sh: no such file or directory"). The attempt fails, and is
// retried, as any start that fails.
func checkRunDir(dir, tmpl string) error {
	info, err := os.Stat(dir)
	why := ""
	switch {
	case errors.Is(err, fs.ErrNotExist):
		why = "no such directory"
	case errors.Is(err, syscall.ENOTDIR):
		why = "not a directory (a part of its path is a file)"
	case errors.Is(err, fs.ErrPermission):
		why = "permission denied"
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		why = err.Error()
	case !info.IsDir():
		why, err = "not a directory", syscall.ENOTDIR
	default:
		if err = syscall.Access(dir, 1); err == nil { // X_OK: the process may enter it
			return nil
		}
		why = "permission denied (cannot enter it)"
	}
	return &runError{msg: fmt.Sprintf("worker: dir %q (from the template's dir %q): %s", dir, tmpl, why), errs: []error{err}}
}

// commandFor makes the command of argv in dir with the worker's
// environment less its DROVER_* variables (see jobEnviron) plus env, stdin
// as its input, its output and errors to out, in a process group of its
// own.
func commandFor(argv []string, dir string, env []string, stdin string, out io.Writer) *exec.Cmd {
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = dir
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	c.Env = jobEnviron(os.Environ())
	if dir != "" {
		// exec sets PWD only when Env is nil; keep it truthful for shells.
		if abs, err := filepath.Abs(dir); err == nil {
			c.Env = append(c.Env, "PWD="+abs)
		}
	}
	c.Env = append(c.Env, env...)
	c.Stdout, c.Stderr = out, out
	c.SysProcAttr = sysProcAttr()
	c.WaitDelay = waitDelay
	return c
}

// envPrefix starts the name of every environment variable drover reads or
// sets: DROVER_MASTER, DROVER_TOKEN, the roles' own (DROVER_WORKER_TOKEN,
// DROVER_MASTER_LISTEN, ...; README, "Environment variables"), and
// those a job gets (DROVER_JOB_ID, DROVER_ATTEMPT, DROVER_GROUP,
// DROVER_MASTER, DROVER_RESULT).
const envPrefix = "DROVER_"

// jobEnviron returns environ, the worker's environment, without the
// variables whose names start with envPrefix: a job must not see the
// worker's DROVER_TOKEN, nor any other DROVER_* setting, which may hold a
// secret. The worker adds the DROVER_* variables of the job itself.
func jobEnviron(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, envPrefix) {
			out = append(out, kv)
		}
	}
	return out
}

// processGroup is the process group of a started command.
type processGroup struct {
	pid  int
	mu   sync.Mutex
	gone bool
}

// signal sends sig to the whole group (ignoring ESRCH: already empty)
// until the group is marked gone, after which its pgid may be reused.
func (g *processGroup) signal(sig syscall.Signal, markGone bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.gone {
		_ = syscall.Kill(-g.pid, sig)
		g.gone = markGone
	}
}

// waitOrStop waits for the started command c. If ctx ends first it sends
// the group SIGTERM (and procs, when not nil), then SIGKILL after
// killGrace. What the first process left, in the group and in procs, gets
// SIGKILL as soon as it has exited (not after c.Wait's wait for the
// output, which a process outside the group may hold open for
// WaitDelay); procs, of a run ctx ended, once killGrace has passed too.
// It returns c.Wait's error, whether ctx ended the run (termed) and
// whether SIGKILL was sent.
func waitOrStop(ctx context.Context, c *exec.Cmd, killGrace time.Duration, procs jobProcs) (werr error, termed, killed bool) {
	g := &processGroup{pid: c.Process.Pid}
	gone := make(chan struct{}) // the first process has exited
	done := make(chan error, 1)
	go func() {
		exited := waitExited(c.Process.Pid) == nil
		if exited {
			// The leader is an unreaped zombie: its pgid is still ours.
			g.signal(syscall.SIGKILL, true)
			close(gone)
		}
		err := c.Wait()
		g.signal(syscall.SIGKILL, true) // a no-op unless waitExited failed
		if !exited {
			close(gone)
		}
		done <- err
	}()
	end := func() {
		if procs != nil {
			procs.end()
		}
	}
	select {
	case <-gone:
		end()
		return <-done, false, false
	case <-ctx.Done():
	}
	g.signal(syscall.SIGTERM, false)
	if procs != nil {
		procs.term()
	}
	graceEnd := time.Now().Add(max(killGrace, 0))
	t := time.NewTimer(max(killGrace, 0))
	defer t.Stop()
	select {
	case <-gone:
		if left := time.Until(graceEnd); left > 0 && procs != nil {
			time.AfterFunc(left, end)
		} else {
			end()
		}
	case <-t.C:
		killed = true
		g.signal(syscall.SIGKILL, false)
		<-gone
		end()
	}
	return <-done, true, killed
}

// stopped returns the error of a run that ctx ended, or never started when
// how is empty. It matches ctx.Err() and context.Cause(ctx).
func stopped(ctx context.Context, how, note string) error {
	why := "cancel"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		why = "timeout"
	}
	msg := "worker: not started: " + why
	if how != "" {
		msg = "worker: " + how + " after " + why + note
	}
	errs := []error{ctx.Err()}
	if cause := context.Cause(ctx); cause != ctx.Err() {
		errs = append(errs, cause)
	}
	return &runError{msg: msg, errs: errs}
}

// runError is a runCommand failure: a message plus the errors it matches.
type runError struct {
	msg  string
	errs []error
}

func (e *runError) Error() string   { return e.msg }
func (e *runError) Unwrap() []error { return e.errs }

// wholeLines passes what is written to it on to w a line at a time,
// keeping a partial line until its end (or flush); one per stream. A line
// longer than maxWatchLine goes on in pieces (the watch cuts it anyway).
type wholeLines struct {
	w    io.Writer
	part []byte
}

func (l *wholeLines) Write(p []byte) (int, error) {
	n := len(p)
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		l.part = append(l.part, p[:i+1]...)
		l.flush()
		p = p[i+1:]
	}
	l.part = append(l.part, p...)
	if len(l.part) >= maxWatchLine {
		l.flush()
	}
	return n, nil
}

// flush passes on what is held.
func (l *wholeLines) flush() {
	if len(l.part) > 0 {
		l.w.Write(l.part)
		l.part = l.part[:0]
	}
}
