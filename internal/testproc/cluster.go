package testproc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// ClusterConfig says what StartCluster starts. The zero value is a master
// with no workers.
type ClusterConfig struct {
	// Workers is how many worker processes to start, named worker-0,
	// worker-1, ...
	Workers int
	// Slots is each worker's slots. Default 4.
	Slots int
	// Transport is the workers' transport to the master, and the test's
	// client's: rpcapi.TransportGob (the default) or TransportXMLRPC.
	Transport string
	// Heartbeat and DeadAfter are the master's heartbeat_interval and
	// dead_after. Defaults 300ms and 1200ms: a dead worker is noticed in
	// about a second.
	Heartbeat, DeadAfter time.Duration
	// Master is more TOML for the master's conf (retry_backoff, ...).
	Master string
	// Worker is more TOML for every worker's conf: its [commands.*] tables.
	Worker string
	// Token is the master's token (its conf's token), which the cluster's
	// client sends. Default none. The workers need it too: give it to them
	// in Worker (token or token_file) or in WorkerEnv (DROVER_TOKEN).
	Token string
	// WorkerEnv is added to every worker process's environment.
	WorkerEnv []string
	// KillGrace is every worker's kill_grace. Default 300ms.
	KillGrace time.Duration
}

// Cluster is a drover master process (bolt store in a temporary data dir)
// and worker processes on 127.0.0.1, all JSON-logging, and a client of the
// master.
type Cluster struct {
	tb      TB
	env     []string // the workers' WorkerEnv
	Dir     string   // the cluster's temporary dir: confs, data dir
	Addr    string   // the master's address
	Master  *Proc
	Workers []*Proc
	Confs   []string // the workers' conf files
	MC      rpcapi.MasterClient
}

// StartCluster starts a master and cfg.Workers workers and waits up to 20s
// until they have registered, failing the test if they do not. At the
// cleanup, after the workers are killed, it waits up to 10s for their job
// processes to be gone (JobProcs), failing the test if any is left.
func StartCluster(tb TB, cfg ClusterConfig) *Cluster {
	tb.Helper()
	cfg.defaults()
	dir := tb.TempDir()
	c := &Cluster{tb: tb, Dir: dir, env: cfg.WorkerEnv}
	c.writeFile("master.toml", fmt.Sprintf(`
listen = "127.0.0.1:0"
data_dir = %q
heartbeat_interval = "%s"
dead_after = "%s"
log_format = "json"
%s
%s
`, filepath.Join(dir, "data"), cfg.Heartbeat, cfg.DeadAfter, tokenLine(cfg.Token), cfg.Master))
	c.startMaster("127.0.0.1:0")
	// Registered before the workers start, so it runs once their cleanups
	// have killed them.
	tb.Cleanup(c.NoJobsLeft)
	cl, err := rpcapi.NewCaller(c.Addr, cfg.Transport, rpcapi.WithToken(cfg.Token))
	if err != nil {
		tb.Fatalf("testproc: %v", err)
	}
	tb.Cleanup(func() { cl.Close() })
	c.MC = rpcapi.MasterClient{C: cl}
	c.startWorkers(cfg)
	return c
}

// defaults fills in the defaults of cfg's zero fields.
func (cfg *ClusterConfig) defaults() {
	if cfg.Slots == 0 {
		cfg.Slots = 4
	}
	if cfg.Transport == "" {
		cfg.Transport = rpcapi.TransportGob
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 300 * time.Millisecond
	}
	if cfg.DeadAfter == 0 {
		cfg.DeadAfter = 1200 * time.Millisecond
	}
	if cfg.KillGrace == 0 {
		cfg.KillGrace = 300 * time.Millisecond
	}
}

// startWorkers writes the workers' confs (master: c.Addr) and starts
// them, and waits up to 20s until they have registered.
func (c *Cluster) startWorkers(cfg ClusterConfig) {
	tb := c.tb
	tb.Helper()
	dir := c.Dir
	for i := range cfg.Workers {
		name := fmt.Sprintf("worker-%d", i)
		c.Confs = append(c.Confs, c.writeFile(name+".toml", fmt.Sprintf(`
master = %q
listen = "127.0.0.1:0"
name = %q
slots = %d
kill_grace = "%s"
log_format = "json"
transport = %q
log_dir = %q
identity = %q
%s
`, c.Addr, name, cfg.Slots, cfg.KillGrace, cfg.Transport, filepath.Join(dir, "logs", name), filepath.Join(dir, name), cfg.Worker)))
		c.Workers = append(c.Workers, nil)
		c.RestartWorker(i)
	}
	Poll(tb, 20*time.Second, "workers to register", func() bool { return c.Alive() == cfg.Workers })
}

// tokenLine is the conf line of token, none if it is empty.
func tokenLine(token string) string {
	if token == "" {
		return ""
	}
	return fmt.Sprintf("token = %q", token)
}

// NoJobsLeft waits up to 10s until no job process of the cluster runs
// (JobProcs), failing the test if one is left.
func (c *Cluster) NoJobsLeft() {
	c.tb.Helper()
	Poll(c.tb, 10*time.Second, "no job process left", func() bool { return len(JobProcs(c.Addr)) == 0 })
}

func (c *Cluster) writeFile(name, content string) string {
	c.tb.Helper()
	p := filepath.Join(c.Dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		c.tb.Fatalf("testproc: %v", err)
	}
	return p
}

func (c *Cluster) startMaster(listen string) {
	c.tb.Helper()
	c.Master = Options{Name: "master"}.Start(c.tb, Drover(c.tb),
		"master", "--config", filepath.Join(c.Dir, "master.toml"), "--listen", listen)
	c.Addr = c.Master.Addr()
}

// RestartMaster kills the master with SIGKILL, starts it again on the same
// address and data dir, and waits up to 10s until it answers.
func (c *Cluster) RestartMaster() {
	c.tb.Helper()
	c.Master.Kill()
	addr := c.Addr
	c.startMaster(addr)
	if c.Addr != addr {
		c.tb.Fatalf("master came back on %s, want %s", c.Addr, addr)
	}
	Poll(c.tb, 10*time.Second, "the restarted master to answer", func() bool { return c.Counts() != nil })
}

// RestartWorker starts worker i (again, after it was killed: same conf, so
// the same name).
func (c *Cluster) RestartWorker(i int) {
	c.tb.Helper()
	c.Workers[i] = Options{Name: fmt.Sprintf("worker-%d", i), Env: c.env}.Start(c.tb, Drover(c.tb), "worker", "--config", c.Confs[i])
}

// ctx is the context of one call to the master.
func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// Alive counts the workers the master lists alive; -1 when it does not
// answer.
func (c *Cluster) Alive() int { return Alive(c.MC) }

// Alive counts the workers the master behind mc lists alive; -1 when it
// does not answer within 5s.
func Alive(mc rpcapi.MasterClient) int {
	ctx, cancel := ctx()
	defer cancel()
	r, err := mc.ListWorkers(ctx)
	if err != nil {
		return -1
	}
	n := 0
	for _, w := range r.Workers {
		if w.State == rpcapi.WorkerAlive {
			n++
		}
	}
	return n
}

// Counts returns the master's job counts by state, nil when it does not
// answer.
func (c *Cluster) Counts() map[jobs.State]int { return Counts(c.MC) }

// Counts returns the job counts by state of the master behind mc, nil
// when it does not answer within 5s.
func Counts(mc rpcapi.MasterClient) map[jobs.State]int {
	ctx, cancel := ctx()
	defer cancel()
	r, err := mc.Status(ctx)
	if err != nil {
		return nil
	}
	return r.Counts
}

// Submit submits specs and returns their IDs, failing the test on error
// (see Submit).
func (c *Cluster) Submit(specs ...jobs.Spec) []string {
	c.tb.Helper()
	return Submit(c.tb, c.MC, specs...)
}

// Job returns job id, failing the test if the master does not.
func (c *Cluster) Job(id string) jobs.Job {
	c.tb.Helper()
	return Job(c.tb, c.MC, id)
}

// WorkerInfo returns the master's record of the latest registration of
// the worker named name, and false when it has none (see WorkerInfo).
func (c *Cluster) WorkerInfo(name string) (rpcapi.WorkerInfo, bool) {
	return WorkerInfo(c.MC, name, "")
}
