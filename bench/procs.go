package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
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
// SIGTERM/SIGINT. The master role reads commands on stdin, one a line:
// "profile start" and "profile stop" bracket a CPU profile written to the
// --profile file; "heap FILE" writes a heap profile to FILE; "free" runs
// debug.FreeOSMemory (a collection, then every free page back to the OS).
func RunRole(role string, args []string, stdout io.Writer) error {
	switch role {
	case RoleMaster:
		return masterRole(args, stdout)
	case RoleWorker:
		return workerRole(args, stdout)
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
	f, err := parseMasterFlags(args)
	if err != nil {
		return err
	}
	log, err := logger(f.level)
	if err != nil {
		return err
	}
	dl, err := parseLimit(f.defaultLimit)
	if err != nil {
		return err
	}
	dir := f.dataDir
	if dir == "" && f.store == master.StoreBolt {
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
	rec := &recorder{profile: f.profile, trace: f.trace, log: log}
	rec.serve(ctx, stdinLines())
	perr := rec.stop()
	return errors.Join(m.Close(), perr)
}

// masterFlags is the master role's command line.
type masterFlags struct {
	store, dataDir, profile, trace, level, defaultLimit string
	heartbeat, retain, history                          time.Duration
	gcPercent, retainJobs, historyJobs                  int
}

// parseMasterFlags parses args, the master role's command line.
func parseMasterFlags(args []string) (*masterFlags, error) {
	f := &masterFlags{}
	fs := flag.NewFlagSet("bench master", flag.ContinueOnError)
	fs.StringVar(&f.store, "store", master.StoreBolt, "bolt or memory")
	fs.StringVar(&f.dataDir, "data-dir", "", "data dir (default: a temp dir, removed at exit)")
	fs.StringVar(&f.profile, "profile", "", "CPU profile file, written between the profile start and stop commands")
	fs.StringVar(&f.trace, "trace", "", "execution trace file, written between the same commands")
	fs.StringVar(&f.level, "log-level", "error", "log level")
	fs.DurationVar(&f.heartbeat, "heartbeat", 0, "heartbeat interval (0: default)")
	fs.IntVar(&f.gcPercent, "gc-percent", 0, "the master's GCPercent (0: the process's setting)")
	fs.DurationVar(&f.retain, "retain", 0, "the master's Retain (0: default)")
	fs.IntVar(&f.retainJobs, "retain-jobs", 0, "the master's RetainJobs (0: default)")
	fs.DurationVar(&f.history, "history", 0, "the master's History (0: default)")
	fs.IntVar(&f.historyJobs, "history-jobs", 0, "the master's HistoryJobs (0: default)")
	fs.StringVar(&f.defaultLimit, "default-limit", "", "the master's DefaultLimit: CONCURRENCY, CONCURRENCY,RATE or ,RATE (e.g. 1,10/s)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return f, nil
}

// config is the master's configuration from f, with data dir dir, logger
// log and default limit dl.
func (f *masterFlags) config(dir string, log *logrus.Logger, dl master.Limit) master.Config {
	return master.Config{Listen: "127.0.0.1:0", Store: f.store, DataDir: dir,
		HeartbeatInterval: f.heartbeat, Logger: log, GCPercent: f.gcPercent,
		Retain: f.retain, RetainJobs: f.retainJobs, History: f.history, HistoryJobs: f.historyJobs, DefaultLimit: dl}
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
	fs := flag.NewFlagSet("bench worker", flag.ContinueOnError)
	addr := fs.String("master", "", "master address")
	transport := fs.String("transport", "gob", "gob or xmlrpc")
	slots := fs.Int("slots", 256, "slots")
	work := fs.Duration("work", 0, "busy-wait per job")
	name := fs.String("name", "", "worker name")
	level := fs.String("log-level", "error", "log level")
	types := fs.Int("types", 0, "run this many job types (churnType) instead of "+NoopType+", as no-ops (a worker has at most 10000)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := logger(*level)
	if err != nil {
		return err
	}
	w, err := worker.New(worker.Config{Master: *addr, Transport: *transport, Slots: *slots,
		Name: *name, Logger: log, ShutdownGrace: 10 * time.Second})
	if err != nil {
		return err
	}
	d := *work
	noop := func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		if d > 0 {
			busyWait(ctx, d)
		}
		return jobs.Result{}, nil
	}
	if *types == 0 {
		w.Handle(NoopType, noop)
	}
	for i := range *types {
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
	for {
		select {
		case <-ctx.Done():
			return w.Shutdown(context.Background())
		case _, ok := <-lines:
			if !ok {
				return w.Shutdown(context.Background())
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

// spawn starts role, its stderr to stderr, and waits up to timeout for its
// hello line.
func spawn(launch Launcher, role string, args []string, stderr io.Writer, timeout time.Duration) (*proc, error) {
	cmd, err := launch(role, args)
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
