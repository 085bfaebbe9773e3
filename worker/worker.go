package worker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/crash"
	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/internal/watchdog"
	"github.com/drover/drover/internal/webguard"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// HandlerFunc runs one job of a type in a goroutine of its own. It must
// return when ctx is done (timeout, cancel, shutdown). A returned error
// fails the attempt (Permanent(err) fails the job without retries); a
// panic fails the attempt with the panic text. An attempt whose job's
// timeout passes before the handler returns ends as a timeout, whatever
// it returns. j holds what a task carries (docs/protocol.md, Task): its
// ID, Attempt, State, Worker, and of its Spec the Type, Args, Timeout,
// Input and Group; the rest of the spec stays at the master.
type HandlerFunc func(ctx context.Context, j *jobs.Job) (jobs.Result, error)

// Worker runs jobs pushed by a master: Go handlers in goroutines and
// subprocesses from command templates. Create it with New, add handlers
// with Handle, then Start; stop it with Shutdown.
type Worker struct {
	cfg      Config
	log      logrus.FieldLogger
	handlers map[string]HandlerFunc
	mc       rpcapi.Caller
	master   rpcapi.MasterClient
	direct   rpcapi.MasterClient // the runners' own reports (runner); master's Caller or dc
	dc       rpcapi.Caller       // nil when direct is master
	metrics  *metrics
	logs     *logStore // the full logs of command attempts
	fence    *fence    // the fence deadline (fence.go)
	// wd ends what command jobs leave behind (internal/watchdog); nil
	// without commands, on systems other than Linux, or when it could not
	// start.
	wd *watchdog.Watchdog
	// instance is sent with every registration (RegisterArgs.Instance):
	// registering again after a lost reply keeps the jobs the last
	// registration was given.
	instance string

	mu     sync.Mutex // guards the fields below
	id     string
	secret string // the registration's: sent to the master, required of it
	// term is the highest raft term a master has named to this worker
	// (rpcapi.RegisterReply.Term); 0 while only single masters have.
	term int64
	// masterMaxResult is the max_result_bytes of the master's register
	// reply (its own, or half its max_request_body when less), 0 until
	// it says.
	masterMaxResult int
	// deadAfter is the master's dead_after (its register reply); zero:
	// unknown, no fencing.
	deadAfter time.Duration
	// reportWait bounds a task_complete call (reportTimeout), in ns; set
	// with deadAfter, read without mu.
	reportWait atomic.Int64
	wdTold     time.Time // the last fence deadline the watchdog was told (renewFence)
	// wdLapsed is the latest deadline the watchdog was told that passed
	// before a renewal (renewFence): it may have killed jobs then.
	wdLapsed time.Time
	running  map[string]*run
	okObs    map[string]prometheus.Observer // the run-time histograms of jobs that end ok, by type (okObserver)
	results  []rpcapi.Report                // finished, not yet sent
	sending  map[int][]rpcapi.Report        // sent in Complete calls not yet answered or not yet durable, by call
	sendSeq  int                            // the last key of sending
	// tickets are the calls of sending that the master answered before
	// their reports were on disk, with the commit that makes them durable
	// (CompleteReply.Commit); they go again if the worker registers anew.
	tickets map[int]int64
	// ticketLow is at most the least commit of tickets (it may be lower:
	// a ticket that went again is not looked for), so that a reply
	// whose durable commit is below it walks no ticket.
	ticketLow   int64
	wanting     bool          // a Complete call asking for tasks (Want) is in flight
	noWant      bool          // the master refused a Want (a master of an earlier release): until the next registration
	retry       time.Duration // backoff after failed Complete calls
	draining    bool
	masterDrain bool // draining because the master said so: its undrain (a beat with status ok) ends it
	leaving     bool // Shutdown is logging out: beats stop, and an unknown answer is no cause to register
	started     bool
	idle        chan struct{} // closed when running becomes empty while draining

	runq        chan *run // jobs for the runners
	idleRunners int       // runners waiting on runq with no job promised to them
	runClosed   bool      // runq is closed

	regc    chan string   // asks the heartbeat loop to re-register now: the worker ID the master did not know (askRegister)
	beatc   chan struct{} // asks the heartbeat loop to beat now
	fetchc  chan struct{} // pull mode: a slot freed or the worker registered
	reportc chan struct{} // wakes the reporter
	sentc   chan struct{} // a Complete call of the reporter ended
	ready   chan struct{} // closed at the first registration
	readyMu sync.Once

	ln     *listen.TrackingListener
	srv    *http.Server
	ctx    context.Context // ends when the worker stops for good
	cancel context.CancelFunc
	jobsWG sync.WaitGroup // jobs started and not finished
	runWG  sync.WaitGroup // runner goroutines
	loopWG sync.WaitGroup // heartbeat, reporter, server
	once   sync.Once
}

// run is one attempt in progress.
type run struct {
	ref     rpcapi.JobRef
	typ     string
	cancel  context.CancelFunc
	started time.Time
	// drop: the master no longer leases it (or the worker is leaving); its
	// result is not reported.
	drop bool
	// cancelled: the master cancelled it; its result is reported as
	// cancelled.
	cancelled bool

	// What to run, for the runner that takes it.
	task    rpcapi.Task
	handler HandlerFunc
	cmd     *Command
	ctx     context.Context
	worker  string              // the worker's ID when it started
	okObs   prometheus.Observer // its type's run time when it ends ok
	timeout attemptTimeout      // its bound and where it came from
}

// New validates cfg and returns a worker that is not yet started.
func New(cfg Config) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []rpcapi.Option{rpcapi.WithToken(cfg.Token)}
	if cfg.ClientTLS != nil {
		opts = append(opts, rpcapi.WithTLS(cfg.ClientTLS))
	}
	mc, err := rpcapi.NewMasterCaller(cfg.Master, cfg.Transport, opts...)
	if err != nil {
		return nil, fmt.Errorf("worker: master: %w", err)
	}
	w := &Worker{
		cfg:      cfg,
		log:      cfg.Logger,
		handlers: make(map[string]HandlerFunc),
		mc:       mc,
		running:  make(map[string]*run),
		okObs:    make(map[string]prometheus.Observer),
		sending:  make(map[int][]rpcapi.Report),
		tickets:  make(map[int]int64),
		runq:     make(chan *run, cfg.Slots),
		regc:     make(chan string, 1),
		beatc:    make(chan struct{}, 1),
		fetchc:   make(chan struct{}, 1),
		reportc:  make(chan struct{}, 1),
		sentc:    make(chan struct{}, 1),
		ready:    make(chan struct{}),
		fence:    newFence(),
		instance: rand.Text(),
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.master = rpcapi.MasterClient{C: w.mc}
	w.direct = w.master
	if cfg.Transport == "" || cfg.Transport == rpcapi.TransportGob {
		// A runner's own reports go on a connection of their own, read
		// in the runner (rpcapi.SerialClient), which breaks the call in
		// flight when the worker stops (its call contexts are
		// rpcapi.CallContexts of w.ctx).
		addrs, _ := rpcapi.Addrs(cfg.Master) // Validate checked them
		w.dc, _ = rpcapi.Follow(addrs, func(a string) (rpcapi.Caller, error) {
			c := rpcapi.NewSerialClient(a, opts...)
			c.Watch(w.ctx)
			return c, nil
		})
		w.direct = rpcapi.MasterClient{C: w.dc}
	}
	w.metrics = newMetrics(w)
	w.logs = newLogStore(&w.cfg)
	return w, nil
}

// Handle registers fn for jobs of type typ. Call it before Start (after,
// it panics: the master knows a worker's types from its registration); a
// handler replaces a command template of the same name.
func (w *Worker) Handle(typ string, fn HandlerFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		panic("worker: Handle after Start")
	}
	w.handlers[typ] = fn
}

// Types returns the job types this worker runs, sorted.
func (w *Worker) Types() []string {
	seen := make(map[string]bool)
	for t := range w.handlers {
		seen[t] = true
	}
	for t := range w.cfg.Commands {
		seen[t] = true
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Start binds the worker's endpoint (errors are returned synchronously),
// then registers with the master and beats in the background, retrying
// until the master answers.
func (w *Worker) Start() error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("worker: already started")
	}
	w.started = true
	w.mu.Unlock()
	if len(w.Types()) == 0 {
		return errors.New("worker: no handlers and no commands: nothing to run")
	}
	if err := w.logs.start(time.Now(), len(w.cfg.Commands) > 0); err != nil {
		return err
	}
	if w.logs.keeps {
		w.loopWG.Go(func() { w.logs.ageLoop(w.ctx) })
	}
	if len(w.cfg.Commands) > 0 {
		w.startWatchdog()
		w.sweepResults()
	}
	if w.cfg.Mode == rpcapi.ModePull {
		w.loopWG.Go(w.fetchLoop)
	} else if err := w.serve(); err != nil {
		return err
	}
	w.loopWG.Go(w.heartbeatLoop)
	w.loopWG.Go(w.reportLoop)
	if !w.cfg.NoFence {
		w.loopWG.Go(func() { w.fence.loop(w.ctx, w.fenceRuns) })
	}
	w.log.WithFields(logrus.Fields{"addr": w.Addr(), "advertise": w.advertise(), "master": redactUserinfo(w.cfg.Master),
		"transport": w.cfg.Transport, "mode": w.cfg.Mode, "slots": w.cfg.Slots, "types": w.Types()}).Info("worker started")
	return nil
}

// sweepResults removes the result directories that workers killed during
// an attempt left in the temporary directory, and says how many.
func (w *Worker) sweepResults() {
	n, err := sweepResultDirs(os.TempDir())
	if err != nil {
		w.log.WithError(err).Warn("cannot look for result directories left by killed workers")
	}
	if n > 0 {
		w.log.WithFields(logrus.Fields{"removed": n, "dir": os.TempDir()}).Info("removed result directories left by workers killed during an attempt")
	}
}

// serve binds the worker's endpoint: net/rpc and XML-RPC on one listener.
func (w *Worker) serve() error {
	ln, err := net.Listen("tcp", w.cfg.Listen)
	if err != nil {
		return fmt.Errorf("worker: listen: %w", err)
	}
	if w.cfg.TLS != nil {
		ln = tls.NewListener(ln, w.cfg.TLS)
	}
	w.ln = listen.NewTrackingListener(ln)
	h, err := rpcapi.NewGoRPCHandlerOptions(nil, wire{w}, rpcapi.GoRPCOptions{
		MaxMessage: w.cfg.MaxRequestBody, MaxCallsInFlight: w.cfg.MaxCallsInFlight, Stats: &w.metrics.gob,
		Log: func(remote string, err error) {
			w.log.WithFields(logrus.Fields{"remote": remote, "max_request_body": w.cfg.MaxRequestBody}).WithError(err).Warn("gob connection closed: message too large")
		}})
	if err != nil {
		ln.Close()
		return err
	}
	mux := http.NewServeMux()
	tok := w.cfg.Token
	mux.Handle(rpcapi.GoRPCPath, rpcapi.RequireToken(tok, h))
	mux.Handle(rpcapi.XMLRPCPath, rpcapi.RequireToken(tok, rpcapi.NewXMLRPCHandler(nil, wire{w}, rpcapi.XMLRPCOptions{MaxBody: w.cfg.MaxRequestBody})))
	mux.Handle("/metrics", rpcapi.RequireToken(tok, w.metrics.handler()))
	// A web page must not turn a visitor's browser against the endpoint:
	// a foreign Host (DNS rebinding) or a call from another origin gets
	// 403; the master's calls carry no browser headers and pass.
	g := webguard.New(webguard.Config{Names: []string{w.cfg.Listen, w.cfg.Advertise}, AllowedHosts: w.cfg.AllowedHosts})
	w.srv = &http.Server{Handler: g.Handler(mux), ReadHeaderTimeout: 10 * time.Second}
	w.loopWG.Go(func() {
		if err := w.srv.Serve(w.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.WithError(err).Error("serve")
		}
	})
	return nil
}

// Addr returns the address the worker's endpoint listens on, "" before
// Start.
func (w *Worker) Addr() string {
	if w.ln == nil {
		return ""
	}
	return w.ln.Addr().String()
}

func (w *Worker) advertise() string {
	a := w.cfg.Advertise
	if a == "" {
		a = w.Addr()
	}
	if w.cfg.TLS != nil && a != "" && !strings.Contains(a, "://") {
		a = "https://" + a
	}
	return a
}

// ID returns the ID the master gave this worker, "" while unregistered.
func (w *Worker) ID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id
}

// Registered is closed once the worker has registered for the first time.
func (w *Worker) Registered() <-chan struct{} { return w.ready }

// Running returns how many jobs are running now.
func (w *Worker) Running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

// Shutdown stops taking jobs, lets the running ones finish until ctx ends
// (or ShutdownGrace passes, when ctx has no deadline), stops the rest
// without reporting them, sends the last results and logs out: the master
// ends each attempt that was stopped as lost, which uses up one of its
// job's retries, and requeues the job if it has retries left (as a reap
// would; logout_worker in docs/protocol.md). Give long jobs a
// ShutdownGrace that lets them finish, or retries. A stopped job has
// KillGrace and a second more to end (a command's processes get SIGTERM,
// then SIGKILL): a handler that ignores its ctx that long is left
// running, and Shutdown returns without it; its result is never sent. It
// is safe to call more than once.
func (w *Worker) Shutdown(ctx context.Context) error {
	var err error
	w.once.Do(func() {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, w.cfg.ShutdownGrace)
			defer cancel()
		}
		w.mu.Lock()
		w.draining, w.masterDrain = true, false
		n := len(w.running)
		w.idle = make(chan struct{})
		if n == 0 {
			close(w.idle)
		}
		idle := w.idle
		w.mu.Unlock()
		w.log.WithField("running", n).Info("worker draining")
		select { // tell the master now, so it sends nothing more
		case w.beatc <- struct{}{}:
		default:
		}
		ended := true
		select {
		case <-idle:
		case <-ctx.Done():
			w.mu.Lock()
			for _, r := range w.running {
				r.drop = true
				r.cancel()
			}
			w.log.WithField("stopped", len(w.running)).Warn("shutdown grace over; stopping running jobs")
			w.mu.Unlock()
			// A command job ends within KillGrace of its cancel; a
			// handler that ignores its ctx may never end.
			if ended = w.jobsEnd(w.cfg.KillGrace + time.Second); !ended {
				w.mu.Lock()
				n := len(w.running)
				w.mu.Unlock()
				w.log.WithField("running", n).Error("handlers still running after their ctx ended; shutdown leaves them and never reports them")
			}
		}

		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ferr := w.flush(fctx); ferr != nil {
			w.log.WithError(ferr).Warn("last results not delivered")
		}
		w.mu.Lock()
		id, secret := w.id, w.secret
		w.leaving = true
		w.mu.Unlock()
		if id != "" {
			if lerr := w.master.Logout(fctx, &rpcapi.LogoutArgs{WorkerID: id, Secret: secret}); lerr != nil {
				w.log.WithError(lerr).Warn("logout failed")
			} else {
				w.log.WithField("worker", id).Info("logged out")
			}
		}
		err = w.stop(ended)
	})
	return err
}

// jobsEnd waits at most d for every started job to end; it reports
// whether they did.
func (w *Worker) jobsEnd(d time.Duration) bool {
	done := make(chan struct{})
	go func() { // ends when the jobs do, if ever
		w.jobsWG.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func init() { crash.Worker = func(w any) { w.(*Worker).crash() } }

// crash stops the worker abruptly, as kill -9 would: connections cut, jobs
// killed, nothing reported, no logout. The master finds out by reaping
// (internal/crash: for tests and the demo).
func (w *Worker) crash() {
	w.once.Do(func() {
		w.mu.Lock()
		w.draining, w.masterDrain = true, false
		for _, r := range w.running {
			r.drop = true
			r.cancel()
		}
		w.mu.Unlock()
		w.stop(true)
		w.jobsWG.Wait()
		w.log.Warn("worker crashed on purpose")
	})
}

// stop closes the worker's listener and connections and waits for its
// loops, and, with runners, for its runner goroutines (none of them then
// runs a job).
func (w *Worker) stop(runners bool) error {
	w.mu.Lock()
	if !w.runClosed {
		w.runClosed = true
		close(w.runq)
	}
	w.mu.Unlock()
	w.cancel()
	if w.srv != nil {
		w.srv.Close()
		w.ln.CloseAll()
	}
	w.loopWG.Wait()
	if runners {
		w.runWG.Wait()
	}
	if w.wd != nil {
		if err := w.wd.Close(); err != nil {
			w.log.WithError(err).Warn("watchdog")
		}
	}
	if w.dc != nil {
		w.dc.Close()
	}
	return w.mc.Close()
}

// startWatchdog ends what command jobs of this worker's earlier lives
// left (a worker killed together with its watchdog), then starts this
// life's watchdog. Without one (not Linux, or it cannot start), a job's
// processes are ended through its process group only.
func (w *Worker) startWatchdog() {
	if n := watchdog.KillDead(w.cfg.Identity); n > 0 {
		w.log.WithField("killed", n).Warn("killed processes left by command jobs of an earlier life of this worker")
	}
	wd, err := watchdog.Start(w.cfg.Identity, w.cfg.KillGrace)
	if err != nil {
		if !errors.Is(err, errors.ErrUnsupported) {
			w.log.WithError(err).Warn("no watchdog: a command job's processes outside its process group may outlive it")
		}
		return
	}
	w.wd = wd
}
