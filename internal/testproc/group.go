package testproc

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/drover/drover/rpcapi"
)

// HACluster is a raft group of drover master processes on 127.0.0.1 (each
// with its own data dir under Dir), worker processes given every master's
// address, and a client that follows the leader (docs/ha.md).
type HACluster struct {
	*Cluster           // Master is unused; Addr is the comma list of the members' RPC addresses
	Members  []*Proc   // nil while killed
	runs     [][]*Proc // every process member i has run, in order
	RPC      []string  // member i's RPC address
	Raft     []string  // member i's raft address
	confs    []string  // member i's conf file
	ids      []string  // member i's raft ID
}

// HAConfig says what StartHA starts: Masters members (3 or 5) and
// the workers and conf of ClusterConfig (Master is more TOML for every
// member's conf).
type HAConfig struct {
	ClusterConfig
	Masters int
	// RaftVia, if set, puts something between the members' raft
	// transports: member i listens for raft on 127.0.0.(11+i) (and dials
	// its peers from there), and the group knows it at RaftVia(i, bind),
	// e.g. a proxy to bind that a test can cut.
	RaftVia func(i int, bind string) string
	// MemberConf, if set, returns more TOML for member i's conf alone,
	// put at its end: tables only (e.g. a [notify] whose webhook names the
	// member).
	MemberConf func(i int) string
}

// RaftIP is the loopback address member i binds its raft transport to
// under HAConfig.RaftVia.
func RaftIP(i int) string { return fmt.Sprintf("127.0.0.%d", 11+i) }

// freeAddr returns an address of ip whose port was free a moment ago.
func freeAddr(tb TB, ip string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		tb.Fatalf("testproc: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartHA starts the members, waits up to 20s for one to lead, then
// starts the workers and waits until they have registered with it.
func StartHA(tb TB, cfg HAConfig) *HACluster {
	tb.Helper()
	cfg.ClusterConfig.defaults()
	dir := tb.TempDir()
	g := &HACluster{Cluster: &Cluster{tb: tb, Dir: dir, env: cfg.WorkerEnv}}
	var members []string
	binds := make([]string, cfg.Masters)
	for i := range cfg.Masters {
		g.ids = append(g.ids, fmt.Sprintf("m%d", i+1))
		g.RPC = append(g.RPC, freeAddr(tb, "127.0.0.1"))
		if cfg.RaftVia != nil {
			binds[i] = freeAddr(tb, RaftIP(i))
			g.Raft = append(g.Raft, cfg.RaftVia(i, binds[i]))
		} else {
			g.Raft = append(g.Raft, freeAddr(tb, "127.0.0.1"))
		}
		members = append(members, fmt.Sprintf("{ id = %q, raft = %q, rpc = %q }", g.ids[i], g.Raft[i], g.RPC[i]))
	}
	g.Addr = strings.Join(g.RPC, ",")
	for i := range cfg.Masters {
		g.confs = append(g.confs, g.writeFile(g.ids[i]+".toml", fmt.Sprintf(`
listen = %q
data_dir = %q
heartbeat_interval = "%s"
dead_after = "%s"
log_format = "json"
%s
%s
[cluster]
id = %q
raft_listen = %q
members = [%s]
%s
`, g.RPC[i], filepath.Join(dir, "data-"+g.ids[i]), cfg.Heartbeat, cfg.DeadAfter, tokenLine(cfg.Token), cfg.Master, g.ids[i],
			cmp.Or(binds[i], g.Raft[i]), strings.Join(members, ", "), memberConf(cfg.MemberConf, i))))
		g.Members = append(g.Members, nil)
		g.runs = append(g.runs, nil)
		g.StartMember(i)
	}
	tb.Cleanup(g.NoJobsLeft)
	cl, err := rpcapi.NewMasterCaller(g.Addr, cfg.Transport, rpcapi.WithToken(cfg.Token))
	if err != nil {
		tb.Fatalf("testproc: %v", err)
	}
	tb.Cleanup(func() { cl.Close() })
	g.MC = rpcapi.MasterClient{C: cl}
	g.Leader(20 * time.Second)
	g.startWorkers(cfg.ClusterConfig)
	return g
}

// StartMember starts member i (again, after it was killed: same conf,
// same data dir).
func (g *HACluster) StartMember(i int) {
	g.tb.Helper()
	g.Members[i] = Options{Name: g.ids[i]}.Start(g.tb, Drover(g.tb), "master", "--config", g.confs[i])
	g.runs[i] = append(g.runs[i], g.Members[i])
}

// Runs returns every process member i has run so far, the killed ones
// first: their output tells what the member did in each.
func (g *HACluster) Runs(i int) []*Proc { return g.runs[i] }

// ID returns member i's raft ID (m1, m2, ...), which its log lines carry
// in their member field.
func (g *HACluster) ID(i int) string { return g.ids[i] }

func memberConf(f func(int) string, i int) string {
	if f == nil {
		return ""
	}
	return f(i)
}

// KillMember kills member i with SIGKILL and waits for it to be gone.
func (g *HACluster) KillMember(i int) {
	g.tb.Helper()
	g.Members[i].Kill()
}

// Pause stops member i with SIGSTOP; Resume continues it.
func (g *HACluster) Pause(i int)  { g.Members[i].Signal(syscall.SIGSTOP) }
func (g *HACluster) Resume(i int) { g.Members[i].Signal(syscall.SIGCONT) }

// MemberStatus is GET /api/v1/cluster of one member, as far as a test
// needs it.
type MemberStatus struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Leader    string `json:"leader"`
	LeaderRPC string `json:"leader_rpc"`
	Term      uint64 `json:"term"`
}

// Status asks member i; ok is false when it does not answer.
func (g *HACluster) Status(i int) (s MemberStatus, ok bool) {
	c, cancel := ctx()
	defer cancel()
	req, _ := http.NewRequestWithContext(c, http.MethodGet, "http://"+g.RPC[i]+"/api/v1/cluster", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, false
	}
	defer res.Body.Close()
	return s, res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&s) == nil
}

// Leader waits up to timeout until one member says it leads and its
// master answers, and returns its index and term.
func (g *HACluster) Leader(timeout time.Duration) (int, uint64) {
	g.tb.Helper()
	at, term := -1, uint64(0)
	Poll(g.tb, timeout, "a leader whose master answers", func() bool {
		at = -1
		for i := range g.Members {
			if g.Members[i] == nil {
				continue
			}
			if s, ok := g.Status(i); ok && s.State == "Leader" {
				at, term = i, s.Term
			}
		}
		if at < 0 {
			return false
		}
		cl := rpcapi.NewClient(g.RPC[at])
		defer cl.Close()
		return Counts(rpcapi.MasterClient{C: cl}) != nil
	})
	return at, term
}

// Member returns a client of member i alone (not following the leader),
// closed at the test's end.
func (g *HACluster) Member(i int) rpcapi.MasterClient {
	g.tb.Helper()
	cl := rpcapi.NewClient(g.RPC[i])
	g.tb.Cleanup(func() { cl.Close() })
	return rpcapi.MasterClient{C: cl}
}
