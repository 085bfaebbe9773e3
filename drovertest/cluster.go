package drovertest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/crash"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// Defaults of Options.
const (
	DefaultHeartbeatInterval = 100 * time.Millisecond
	DefaultDeadAfter         = time.Second
	DefaultRetryBackoff      = 20 * time.Millisecond
	DefaultMaxBackoff        = 500 * time.Millisecond
	DefaultSlots             = 4
)

// startTimeout bounds starting a node and waiting for a worker to register.
const startTimeout = 10 * time.Second

// Options configures a Cluster. The zero value of every field means its
// documented default.
type Options struct {
	// Workers is how many workers start with the cluster. Default 1; a
	// negative number starts none (add them with AddWorker).
	Workers int
	// Slots is each worker's number of slots. Default 4.
	Slots int
	// Handlers are the Go handlers every worker runs, by job type.
	Handlers map[string]worker.HandlerFunc
	// Commands are the command templates every worker runs, by job type.
	// A worker needs at least one handler or command.
	Commands map[string]worker.Command
	// HeartbeatInterval is the workers' beat. Default 100ms.
	HeartbeatInterval time.Duration
	// DeadAfter is the silence after which the master reaps a worker.
	// Default 1s; it must exceed HeartbeatInterval.
	DeadAfter time.Duration
	// RetryBackoff is the delay before a job's first retry. Default 20ms.
	RetryBackoff time.Duration
	// MaxBackoff caps the retry delay. Default 500ms.
	MaxBackoff time.Duration
	// Transport is the workers' and the Client's protocol: "gob" (default)
	// or "xmlrpc".
	Transport string
	// Store is the master's store. It outlives the master: RestartMaster
	// opens the master again on it, and the cluster closes it at cleanup.
	// Default: a jobs.MemStore.
	Store jobs.Store
	// ConfigureMaster, when set, edits the master's config before every
	// start of the master (after the cluster has filled it in).
	ConfigureMaster func(cfg *master.Config)
	// ConfigureWorker, when set, edits worker i's config before every start
	// of it. Changing Master or Advertise takes the worker off its proxies,
	// so Partition and Pause no longer reach it.
	ConfigureWorker func(i int, cfg *worker.Config)
}

// Cluster is a master and workers in the test's process, on loopback, each
// worker behind a pair of TCP proxies (its calls to the master and the
// master's calls to it) that Partition and Pause act on. Create it with
// Start; everything is stopped at the test's cleanup.
//
// Methods that can fail call t.Fatal, so call them from the test's
// goroutine. Worker indexes start at 0; an index out of range panics.
type Cluster struct {
	t      testing.TB
	opts   Options
	store  *clusterStore
	logger *logrus.Logger
	sink   *logSink
	addr   string // the master's address, kept across restarts
	logDir string // the workers' log dirs are in it, one per node
	client rpcapi.Caller
	mc     rpcapi.MasterClient

	masterOp sync.Mutex // serializes StopMaster and StartMaster

	mu    sync.Mutex // guards m and nodes, and each node's w and dead
	m     *master.Master
	nodes []*node
}

// node is one worker slot of the cluster: its proxies outlive the worker
// processes started in it.
type node struct {
	i    int
	name string
	up   *Proxy // worker -> master
	down *Proxy // master -> worker

	op sync.Mutex // serializes KillWorker and RestartWorker of this node
	w  *worker.Worker
	// dead is set by KillWorker and cleared by RestartWorker. Guarded by
	// Cluster.mu, like w.
	dead bool
}

// Start starts a master and opts.Workers workers on loopback and returns
// once every worker has registered. It fails the test on any error.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Workers == 0 {
		opts.Workers = 1
	}
	if opts.Slots == 0 {
		opts.Slots = DefaultSlots
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.DeadAfter == 0 {
		opts.DeadAfter = max(DefaultDeadAfter, 2*opts.HeartbeatInterval)
	}
	if opts.RetryBackoff == 0 {
		opts.RetryBackoff = DefaultRetryBackoff
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.Workers > 0 && len(opts.Handlers) == 0 && len(opts.Commands) == 0 && opts.ConfigureWorker == nil {
		t.Fatal("drovertest: Options has no Handlers and no Commands: the workers would have nothing to run")
	}
	st := opts.Store
	if st == nil {
		st = jobs.NewMemStore()
	}
	// Not t.TempDir: a TB of the caller's (an example's) may not have it.
	logDir, err := os.MkdirTemp("", "drovertest-logs-")
	if err != nil {
		t.Fatalf("drovertest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(logDir) })
	c := &Cluster{t: t, opts: opts, store: &clusterStore{s: st}, sink: &logSink{t: t},
		logDir: logDir}
	c.logger = logrus.New()
	c.logger.SetLevel(logrus.InfoLevel)
	c.logger.SetOutput(io.Discard)
	if testing.Verbose() {
		c.logger.SetOutput(c.sink)
	}
	// Cleanups run last-in first-out: the log sink is shut last.
	t.Cleanup(c.sink.shut)
	t.Cleanup(c.close)

	c.addr = "127.0.0.1:0"
	c.StartMaster()
	cl, err := rpcapi.NewCaller(c.addr, opts.Transport)
	if err != nil {
		t.Fatalf("drovertest: client: %v", err)
	}
	c.client = cl
	c.mc = rpcapi.MasterClient{C: cl}
	for range max(opts.Workers, 0) {
		c.addNode()
	}
	c.mu.Lock()
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()
	for _, n := range nodes {
		c.awaitRegistered(n)
	}
	return c
}

// close stops everything: workers, master, proxies, store.
func (c *Cluster) close() {
	c.mu.Lock()
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			n.op.Lock()
			defer n.op.Unlock()
			c.mu.Lock()
			w := n.w
			c.mu.Unlock()
			if w != nil {
				crash.Worker(w)
			}
		})
	}
	wg.Wait()
	c.StopMaster()
	for _, n := range nodes {
		n.up.Close()
		n.down.Close()
	}
	if c.client != nil {
		c.client.Close()
	}
	if err := c.store.closeForGood(); err != nil {
		c.t.Errorf("drovertest: close store: %v", err)
	}
}

// Client returns a client of the master that connects to it directly (no
// proxy) and reconnects after RestartMaster.
func (c *Cluster) Client() rpcapi.MasterClient { return c.mc }

// Addr returns the master's address; it stays the same across restarts.
func (c *Cluster) Addr() string { return c.addr }

// Master returns the running master, or nil while it is stopped.
func (c *Cluster) Master() *master.Master {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m
}

// Workers returns how many workers the cluster has (dead ones included).
func (c *Cluster) Workers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Worker returns worker i as it runs now (after RestartWorker, the new
// one). A killed worker is returned until it is restarted.
func (c *Cluster) Worker(i int) *worker.Worker {
	n := c.node(i)
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.w
}

// Name returns worker i's name, which every incarnation of it keeps.
func (c *Cluster) Name(i int) string { return c.node(i).name }

func (c *Cluster) node(i int) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.nodes) {
		panic(fmt.Sprintf("drovertest: no worker %d (the cluster has %d)", i, len(c.nodes)))
	}
	return c.nodes[i]
}

// AddWorker starts one more worker, behind proxies of its own, waits until
// it has registered and returns its index.
func (c *Cluster) AddWorker() int {
	c.t.Helper()
	n := c.addNode()
	c.awaitRegistered(n)
	return n.i
}

func (c *Cluster) addNode() *node {
	c.t.Helper()
	up, err := NewProxy(c.addr)
	if err != nil {
		c.t.Fatalf("drovertest: proxy: %v", err)
	}
	down, err := NewProxy("")
	if err != nil {
		up.Close()
		c.t.Fatalf("drovertest: proxy: %v", err)
	}
	c.mu.Lock()
	n := &node{i: len(c.nodes), up: up, down: down}
	n.name = "worker-" + strconv.Itoa(n.i)
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	n.op.Lock()
	defer n.op.Unlock()
	c.startWorker(n)
	return n
}

// startWorker starts a new worker in n. The caller holds n.op.
func (c *Cluster) startWorker(n *node) {
	c.t.Helper()
	cfg := worker.Config{
		Master:        n.up.Addr(),
		Listen:        "127.0.0.1:0",
		Advertise:     n.down.Addr(),
		Name:          n.name,
		Transport:     c.opts.Transport,
		Slots:         c.opts.Slots,
		Commands:      c.opts.Commands,
		KillGrace:     200 * time.Millisecond,
		ShutdownGrace: 5 * time.Second,
		LogDir:        filepath.Join(c.logDir, n.name),
		Logger:        c.logger.WithField("node", n.name),
	}
	if c.opts.ConfigureWorker != nil {
		c.opts.ConfigureWorker(n.i, &cfg)
	}
	w, err := worker.New(cfg)
	if err != nil {
		c.t.Fatalf("drovertest: %s: %v", n.name, err)
	}
	for typ, h := range c.opts.Handlers {
		w.Handle(typ, h)
	}
	if err := w.Start(); err != nil {
		c.t.Fatalf("drovertest: %s: %v", n.name, err)
	}
	if a := w.Addr(); a != "" {
		n.down.SetTarget(a)
	}
	c.mu.Lock()
	n.w, n.dead = w, false
	c.mu.Unlock()
}

// awaitRegistered waits for n's worker to register, unless its link is
// cut or stalled (it registers once the link is restored).
func (c *Cluster) awaitRegistered(n *node) {
	c.t.Helper()
	c.mu.Lock()
	w := n.w
	c.mu.Unlock()
	if n.up.State() != "up" {
		return
	}
	select {
	case <-w.Registered():
	case <-time.After(startTimeout):
		c.t.Fatalf("drovertest: %s did not register within %s", n.name, startTimeout)
	}
}

// KillWorker stops worker i abruptly, as kill -9 would: its
// running jobs are stopped and not reported, it does not log out, and the
// master finds out by reaping it after DeadAfter. Its proxies stay, so
// RestartWorker brings a new worker up behind them. Killing a dead worker
// does nothing. Do not call it from a handler of that worker (Crash waits
// for the handlers): start a goroutine for it.
func (c *Cluster) KillWorker(i int) {
	n := c.node(i)
	n.op.Lock()
	defer n.op.Unlock()
	c.mu.Lock()
	w, dead := n.w, n.dead
	n.dead = true
	c.mu.Unlock()
	if !dead && w != nil {
		crash.Worker(w)
	}
}

// RestartWorker starts a new worker in place of worker i, with the same
// name, config and proxies (it is killed first if it still runs), and waits
// until it has registered, unless its link is partitioned or paused.
func (c *Cluster) RestartWorker(i int) {
	c.t.Helper()
	n := c.node(i)
	func() {
		n.op.Lock()
		defer n.op.Unlock()
		c.mu.Lock()
		w, dead := n.w, n.dead
		c.mu.Unlock()
		if !dead && w != nil {
			crash.Worker(w)
		}
		c.startWorker(n)
	}()
	c.awaitRegistered(n)
}

// Alive reports whether worker i runs (it was not killed since its last
// start). Whether the master thinks it lives is WorkerInfo's State.
func (c *Cluster) Alive(i int) bool {
	n := c.node(i)
	c.mu.Lock()
	defer c.mu.Unlock()
	return !n.dead
}

// Partition cuts worker i off the master in both directions: open
// connections are closed, and new ones go into a black hole (accepted,
// never answered) until Heal. The worker keeps running its jobs; the master
// reaps it after DeadAfter.
func (c *Cluster) Partition(i int) { c.link(i, (*Proxy).Partition) }

// Heal restores worker i's link after Partition or Pause.
func (c *Cluster) Heal(i int) { c.link(i, (*Proxy).Heal) }

// Pause stalls worker i's link in both directions without closing
// anything, as if the worker were stopped (SIGSTOP) while its jobs go on:
// calls hang, and everything sent meanwhile is delivered late, in order,
// after Resume. Pause it longer than DeadAfter and its late reports reach
// a master that has reaped it and moved on.
func (c *Cluster) Pause(i int) { c.link(i, (*Proxy).Pause) }

// Resume ends Pause (and Partition) of worker i.
func (c *Cluster) Resume(i int) { c.link(i, (*Proxy).Resume) }

// link calls op on both proxies of worker i's link: the one to the master
// and the one from it.
func (c *Cluster) link(i int, op func(*Proxy)) {
	n := c.node(i)
	op(n.up)
	op(n.down)
}

// StopMaster closes the master (master.Close: what it acknowledged is in
// the store). Workers keep running and retry; the store stays open.
func (c *Cluster) StopMaster() {
	c.masterOp.Lock()
	defer c.masterOp.Unlock()
	c.mu.Lock()
	m := c.m
	c.m = nil
	c.mu.Unlock()
	if m != nil {
		m.Close()
	}
}

// StartMaster starts the master on its address and store (the first start
// picks a free port). Workers re-register on their next heartbeat and the
// master adopts the jobs they still run. Starting a running master fails
// the test.
func (c *Cluster) StartMaster() {
	c.t.Helper()
	c.masterOp.Lock()
	defer c.masterOp.Unlock()
	c.mu.Lock()
	running := c.m != nil
	c.mu.Unlock()
	if running {
		c.t.Fatal("drovertest: StartMaster: the master is running")
	}
	deadline := time.Now().Add(startTimeout)
	for {
		cfg := master.Config{
			Listen:            c.addr,
			Store:             master.StoreMemory,
			StoreImpl:         c.store.forMaster(),
			HeartbeatInterval: c.opts.HeartbeatInterval,
			DeadAfter:         c.opts.DeadAfter,
			RetryBackoff:      c.opts.RetryBackoff,
			MaxBackoff:        c.opts.MaxBackoff,
			Logger:            c.logger.WithField("node", "master"),
		}
		if c.opts.ConfigureMaster != nil {
			c.opts.ConfigureMaster(&cfg)
		}
		m, err := master.New(cfg)
		if err != nil {
			c.t.Fatalf("drovertest: master: %v", err)
		}
		err = m.Start()
		if err == nil {
			c.mu.Lock()
			c.m = m
			if c.addr != m.Addr() { // the first start: the port is known now
				c.addr = m.Addr()
			}
			c.mu.Unlock()
			c.primeClient()
			return
		}
		// The old listener's port may take a moment to be free again.
		if !strings.Contains(err.Error(), "address already in use") || time.Now().After(deadline) {
			c.t.Fatalf("drovertest: start master: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// primeClient makes the client notice that its connection to a previous
// master is gone (net/rpc reports it on the first call after the break),
// so the test's first call to the new master goes through.
func (c *Cluster) primeClient() {
	if c.client == nil {
		return
	}
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		_, err := c.mc.Status(ctx)
		cancel()
		if err == nil {
			return
		}
	}
}

// RestartMaster closes the master and starts a new one on the same
// address and store, as a master restarted after a crash or an upgrade.
func (c *Cluster) RestartMaster() {
	c.t.Helper()
	c.StopMaster()
	c.StartMaster()
}

// FailStore makes the master's store fail every Save (with
// ErrStoreFailure) until RestoreStore, as a failing disk would: submits
// return errors (rpcapi.ErrUnavailable), and the master keeps what it has
// in memory and retries the writes.
func (c *Cluster) FailStore() { c.store.failing.Store(true) }

// RestoreStore ends FailStore.
func (c *Cluster) RestoreStore() { c.store.failing.Store(false) }

// FailedSaves returns how many Save calls FailStore has failed so far.
func (c *Cluster) FailedSaves() int64 { return c.store.saves.Load() }
