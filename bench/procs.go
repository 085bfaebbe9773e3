package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/crash"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// RoleEnv names the environment variable that tells a re-executed binary
// which bench role to play. Test binaries check it in TestMain through
// MaybeRunRole.
const RoleEnv = "DROVER_BENCH_ROLE"

// The roles a bench child process plays.
const (
	RoleMaster = "master"
	RoleWorker = "worker"
	// RoleNoop serves the ceilings' no-op net/rpc method (Noop.Call): the
	// round trip to another process, which every hop of a job makes.
	RoleNoop = "noop"
)

// NoopType is the job type the bench workers run.
const NoopType = "bench.noop"

// Launcher returns the (unstarted) command that runs role with args in a new
// process.
type Launcher func(role string, args []string) (*exec.Cmd, error)

// Reexec re-executes the running binary as "BINARY prefix... ROLE args...",
// with RoleEnv=ROLE in its environment. "drover bench" uses
// Reexec("bench", "--role"); a test binary uses Reexec() and MaybeRunRole
// in its TestMain.
func Reexec(prefix ...string) Launcher {
	return func(role string, args []string) (*exec.Cmd, error) {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bench: own executable: %w", err)
		}
		var a []string
		a = append(a, prefix...)
		if len(prefix) > 0 {
			a = append(a, role)
		}
		a = append(a, args...)
		cmd := exec.Command(exe, a...)
		cmd.Env = append(os.Environ(), RoleEnv+"="+role)
		return cmd, nil
	}
}

// MaybeRunRole runs the role named by $DROVER_BENCH_ROLE with os.Args[1:]
// and returns its exit code and true; without the variable it returns
// false at once. Call it first thing in a test binary's TestMain.
func MaybeRunRole() (code int, ran bool) {
	role := os.Getenv(RoleEnv)
	if role == "" {
		return 0, false
	}
	if err := RunRole(role, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", role, err)
		return 1, true
	}
	return 0, true
}

// hello is the one line a child prints on stdout once it is ready.
type hello struct {
	Addr string `json:"addr"`
	PID  int    `json:"pid"`
	// StartS is how long master.Start took (opening and loading the store).
	StartS float64 `json:"start_s"`
}

// RunRole runs one bench child role until its stdin reaches EOF or it gets
// SIGTERM/SIGINT. args is one argument: the role's settings in JSON, as
// the bench writes them. The master role reads commands on stdin, one a
// line: "profile start" and "profile stop" bracket the CPU profile and the
// execution trace its settings name; "heap FILE" writes a heap profile to
// FILE; "free" runs debug.FreeOSMemory (a collection, then every free page
// back to the OS).
func RunRole(role string, args []string, stdout io.Writer) error {
	switch role {
	case RoleMaster:
		return masterRole(args, stdout)
	case RoleWorker:
		return workerRole(args, stdout)
	case RoleNoop:
		return noopRole(stdout)
	}
	return fmt.Errorf("bench: unknown role %q", role)
}

// logger returns a text logger to stderr at level.
func logger(level string) (*logrus.Logger, error) {
	lv, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetLevel(lv)
	return l, nil
}

// stdinLines sends stdin's lines on the returned channel and closes it at
// EOF.
func stdinLines() <-chan string {
	ch := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			ch <- strings.TrimSpace(sc.Text())
		}
		close(ch)
	}()
	return ch
}

func masterRole(args []string, stdout io.Writer) error {
	var f masterSpec
	log, err := decodeSpec(RoleMaster, args, &f)
	if err != nil {
		return err
	}
	dl, err := parseLimit(f.DefaultLimit)
	if err != nil {
		return err
	}
	if f.Cluster != nil {
		return memberRole(&f, log, dl, stdout)
	}
	dir := f.DataDir
	if dir == "" && f.Store == master.StoreBolt {
		if dir, err = os.MkdirTemp("", "drover-bench-master-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	m, err := master.New(f.config(dir, log, dl))
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := m.Start(); err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(hello{Addr: m.Addr(), PID: os.Getpid(),
		StartS: time.Since(t0).Seconds()}); err != nil {
		m.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rec := &recorder{profile: f.Profile, trace: f.Trace, log: log}
	rec.serve(ctx, stdinLines())
	perr := rec.stop()
	return errors.Join(m.Close(), perr)
}

// masterSpec is how the bench sets up a master role: the child's one
// argument, in JSON (see spawn).
type masterSpec struct {
	Store   string // bolt or memory
	DataDir string // "": a temp dir, removed at exit
	// Profile and Trace name the files of the CPU profile and the
	// execution trace written between the profile start and stop commands
	// ("": none).
	Profile, Trace string
	LogLevel       string
	// DefaultLimit is the master's default_limit: CONCURRENCY,
	// CONCURRENCY,RATE or ,RATE (e.g. 1,10/s); "" for none.
	DefaultLimit string
	// The master's settings of the same names; zero for their defaults
	// (GCPercent: the process's setting).
	GCPercent, RetainJobs, HistoryJobs int
	Retain, History                    time.Duration
	// Cluster, when set, makes the master a member of a raft group
	// (DataDir must be set, Store bolt).
	Cluster *memberSpec `json:",omitempty"`
}

// config is the master's configuration from f, with data dir dir, logger
// log and default limit dl.
func (f *masterSpec) config(dir string, log *logrus.Logger, dl master.Limit) master.Config {
	return master.Config{Listen: "127.0.0.1:0", Store: f.Store, DataDir: dir, Logger: log, GCPercent: f.GCPercent,
		Retain: f.Retain, RetainJobs: f.RetainJobs, History: f.History, HistoryJobs: f.HistoryJobs, DefaultLimit: dl}
}

// workerSpec is how the bench sets up a worker role, as masterSpec.
type workerSpec struct {
	Master, Transport, Name, LogLevel string
	Slots                             int
	Work                              time.Duration // busy-wait per job
	// Types, when above zero, makes the worker run that many job types
	// (churnType) instead of NoopType, as no-ops (at most 10000).
	Types int
}

func (f *masterSpec) logLevel() string { return f.LogLevel }
func (f *workerSpec) logLevel() string { return f.LogLevel }

// decodeSpec reads a role's one argument, the JSON of its spec, into v,
// and returns a logger to stderr at v's log level.
func decodeSpec(role string, args []string, v interface{ logLevel() string }) (*logrus.Logger, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("bench %s: want one argument (its settings in JSON), got %d", role, len(args))
	}
	d := json.NewDecoder(strings.NewReader(args[0]))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return nil, fmt.Errorf("bench %s: settings %q: %w", role, args[0], err)
	}
	log, err := logger(v.logLevel())
	if err != nil {
		return nil, fmt.Errorf("bench %s: log level: %w", role, err)
	}
	return log, nil
}

// recorder is the master role's CPU profile and execution trace, each
// written to its file (when named) between the profile start and stop
// commands.
type recorder struct {
	profile, trace string   // the files; "" for none
	prof, tr       *os.File // open while recording
	log            *logrus.Logger
}

// serve carries out the commands read from lines until ctx is done or
// lines is closed.
func (r *recorder) serve(ctx context.Context, lines <-chan string) {
	for {
		select {
		case <-ctx.Done():
			return
		case l, ok := <-lines:
			if !ok {
				return
			}
			r.command(l)
		}
	}
}

// command carries out one command: profile start, profile stop, free or
// heap PATH.
func (r *recorder) command(l string) {
	switch l {
	case "profile start":
		r.start()
	case "profile stop":
		if err := r.stop(); err != nil {
			r.log.WithError(err).Error("profile")
		}
	case "free":
		debug.FreeOSMemory()
	default:
		if path, ok := strings.CutPrefix(l, "heap "); ok {
			if err := writeHeapProfile(path); err != nil {
				r.log.WithError(err).Error("heap profile")
			}
		}
	}
}

// start starts the CPU profile and the trace that are named and not
// already running.
func (r *recorder) start() {
	var err error
	if r.profile != "" && r.prof == nil {
		if r.prof, err = startRecording(r.profile, pprof.StartCPUProfile); err != nil {
			r.log.WithError(err).Error("profile")
		}
	}
	if r.trace != "" && r.tr == nil {
		if r.tr, err = startRecording(r.trace, trace.Start); err != nil {
			r.log.WithError(err).Error("trace")
		}
	}
}

// stop stops and closes whichever of the CPU profile and the trace is
// running.
func (r *recorder) stop() error {
	var errs []error
	if r.prof != nil {
		pprof.StopCPUProfile()
		errs = append(errs, r.prof.Close())
		r.prof = nil
	}
	if r.tr != nil {
		trace.Stop()
		errs = append(errs, r.tr.Close())
		r.tr = nil
	}
	return errors.Join(errs...)
}

// writeHeapProfile collects garbage and writes the heap profile to path.
func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
}

// startRecording creates path and starts a recorder (a CPU profile, an
// execution trace) writing to it.
func startRecording(path string, start func(io.Writer) error) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func workerRole(args []string, stdout io.Writer) error {
	var f workerSpec
	log, err := decodeSpec(RoleWorker, args, &f)
	if err != nil {
		return err
	}
	w, err := worker.New(worker.Config{Master: f.Master, Transport: f.Transport, Slots: f.Slots,
		Name: f.Name, Logger: log, ShutdownGrace: 10 * time.Second})
	if err != nil {
		return err
	}
	d := f.Work
	noop := func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		if d > 0 {
			busyWait(ctx, d)
		}
		return jobs.Result{}, nil
	}
	if f.Types == 0 {
		w.Handle(NoopType, noop)
	}
	for i := range f.Types {
		w.Handle(churnType(i), noop)
	}
	if err := w.Start(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	lines := stdinLines()
	select {
	case <-w.Registered():
	case <-time.After(30 * time.Second):
		crash.Worker(w)
		return errors.New("not registered with the master after 30s")
	case <-ctx.Done():
		crash.Worker(w)
		return nil
	}
	if err := json.NewEncoder(stdout).Encode(hello{Addr: w.Addr(), PID: os.Getpid()}); err != nil {
		crash.Worker(w)
		return err
	}
	untilStop(ctx, lines)
	return w.Shutdown(context.Background())
}

// untilStop returns when ctx ends or stdin reaches EOF (lines is
// closed); it reads and ignores the lines before that.
func untilStop(ctx context.Context, lines <-chan string) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-lines:
			if !ok {
				return
			}
		}
	}
}

// busyWait spins on the CPU for d, or until ctx ends.
func busyWait(ctx context.Context, d time.Duration) {
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return
		}
	}
}

// proc is a bench child process: a testproc.Proc (which keeps its stdout,
// the hello line) with a stdin to send commands on.
type proc struct {
	*testproc.Proc
	stdin io.WriteCloser
	hello hello
}

// spawn starts role with spec (a masterSpec or workerSpec), its stderr to
// stderr, and waits up to timeout for its hello line.
func spawn(launch Launcher, role string, spec any, stderr io.Writer, timeout time.Duration) (*proc, error) {
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd, err := launch(role, []string{string(js)})
	if err != nil {
		return nil, err
	}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	tp, err := testproc.Launch(role, cmd)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	p := &proc{Proc: tp, stdin: stdin}
	l, err := tp.WaitLine(timeout, func(string) bool { return true })
	switch {
	case err != nil && !errors.Is(err, testproc.ErrExited):
		p.kill()
		return nil, fmt.Errorf("bench: %s not ready after %s", role, timeout)
	case err != nil || json.Unmarshal([]byte(l), &p.hello) != nil || (role == RoleMaster && p.hello.Addr == ""):
		p.kill()
		return nil, fmt.Errorf("bench: %s did not start (first line %q)", role, strings.TrimSpace(l))
	}
	return p, nil
}

func (p *proc) pid() int { return p.PID() }

// send writes one command line to the child's stdin.
func (p *proc) send(line string) error {
	_, err := io.WriteString(p.stdin, line+"\n")
	return err
}

// stop closes the child's stdin (its signal to stop cleanly) and waits up to
// grace before killing it. It reports whether the child stopped by itself.
func (p *proc) stop(grace time.Duration) bool {
	p.stdin.Close()
	if p.WaitExit(grace) {
		return true
	}
	p.kill()
	return false
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() { p.Kill() }
