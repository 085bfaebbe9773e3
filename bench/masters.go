package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	drovercluster "github.com/drover/drover/cluster"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// What --masters accepts: one master alone, or a raft group of three or
// five (cluster package).
var mastersAllowed = []int{1, 3, 5}

const (
	// leaderWait bounds the wait for a group to elect a leader whose
	// master answers.
	leaderWait = time.Minute
	// groupTries is how many times a group is started on new ports when
	// a member cannot start (a port picked for it was taken meanwhile).
	groupTries = 3
)

// MemberSeen is one master of a raft group as the bench found it once the
// group had a leader: its ID and addresses and what it answered to
// GET /api/v1/cluster.
type MemberSeen struct {
	ID        string `json:"id"`
	RPC       string `json:"rpc"`
	Raft      string `json:"raft"`
	State     string `json:"state"`      // Leader or Follower
	LeaderRPC string `json:"leader_rpc"` // the leader it named
}

// memberSpec, in a masterSpec, makes the master role a member of a raft
// group (cluster.Start) instead of a master alone.
type memberSpec struct {
	ID      string
	Members []drovercluster.Member
}

// raftGroup is the cluster's master processes when there are several:
// procs[i] runs members[i].
type raftGroup struct {
	members []drovercluster.Member
	procs   []*proc
	leader  int // index of the leader, once found
	seen    []MemberSeen
}

// freeAddr returns an address of 127.0.0.1 with a port the kernel gave
// out and that was closed again: a group's members must know each
// other's addresses before they start.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// startGroup starts cfg.Masters master processes as a raft group, each
// with a data dir of its own under c.dataDir, waits until one leads and
// its master answers, and makes that one the cluster's master.
func (c *cluster) startGroup(ctx context.Context) error {
	var err error
	for try := range groupTries {
		if err = c.spawnGroup(); err == nil {
			break
		}
		c.note("starting %d masters (try %d of %d): %v", c.cfg.Masters, try+1, groupTries, err)
	}
	if err != nil {
		return err
	}
	g := c.group
	if err := g.awaitLeader(ctx); err != nil {
		return err
	}
	c.note("%s leads the %d masters (rpc %s)", g.members[g.leader].ID, len(g.members), g.members[g.leader].RPC)
	c.master, c.addr = g.procs[g.leader], g.members[g.leader].RPC
	c.ctl = rpcapi.MasterClient{C: rpcapi.NewClient(c.addr)}
	return c.awaitMaster(ctx)
}

// spawnGroup picks the members' addresses and starts their processes; on
// failure it stops those it started.
func (c *cluster) spawnGroup() error {
	g := &raftGroup{}
	for i := range c.cfg.Masters {
		m := drovercluster.Member{ID: fmt.Sprintf("m%d", i+1)}
		var err1, err2 error
		m.Raft, err1 = freeAddr()
		m.RPC, err2 = freeAddr()
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		g.members = append(g.members, m)
	}
	for _, m := range g.members {
		spec := c.masterSpec()
		spec.DataDir = filepath.Join(c.dataDir, m.ID)
		spec.Cluster = &memberSpec{ID: m.ID, Members: g.members}
		p, err := spawn(c.cfg.Launch, RoleMaster, spec, c.cfg.Stderr, 5*time.Minute)
		if err != nil {
			g.stop(c.cfg)
			for _, m := range g.members { // a next try starts afresh, on other addresses
				os.RemoveAll(filepath.Join(c.dataDir, m.ID))
			}
			return fmt.Errorf("member %s: %w", m.ID, err)
		}
		g.procs = append(g.procs, p)
	}
	c.group = g
	return nil
}

func (c *cluster) note(format string, a ...any) { c.cfg.note(format, a...) }

// awaitLeader polls every member's GET /api/v1/cluster until one says it
// leads and every other follows it, and records what each said.
func (g *raftGroup) awaitLeader(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, leaderWait)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		if last = g.ask(ctx, hc); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: no leader among the %d masters: %v: %w", len(g.members), last, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ask asks every member once; it returns nil when they agree on a leader.
func (g *raftGroup) ask(ctx context.Context, hc *http.Client) error {
	seen := make([]MemberSeen, len(g.members))
	leader := -1
	for i, m := range g.members {
		st, err := clusterStatus(ctx, hc, m.RPC)
		if err != nil {
			return err
		}
		seen[i] = MemberSeen{ID: m.ID, RPC: m.RPC, Raft: m.Raft, State: st.State, LeaderRPC: st.LeaderRPC}
		if st.State == "Leader" {
			if leader >= 0 {
				return errors.New("two members say they lead")
			}
			leader = i
		}
	}
	if leader < 0 {
		return errors.New("no member leads yet")
	}
	for i, s := range seen {
		if s.LeaderRPC != g.members[leader].RPC || (i != leader && s.State != "Follower") {
			return fmt.Errorf("member %s is %s, names %q as the leader", s.ID, s.State, s.LeaderRPC)
		}
	}
	g.leader, g.seen = leader, seen
	return nil
}

// clusterStatus reads GET /api/v1/cluster of the master at addr.
func clusterStatus(ctx context.Context, hc *http.Client, addr string) (drovercluster.Status, error) {
	var st drovercluster.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+master.APIPrefix+"cluster", nil)
	if err != nil {
		return st, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return st, fmt.Errorf("GET %s: %w", req.URL, err)
	}
	return st, nil
}

// awaitMaster polls Status on the leader until its master answers (a
// member elected starts its master once it has applied every committed
// entry; until then it answers as a standby).
func (c *cluster) awaitMaster(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, leaderWait)
	defer cancel()
	for {
		_, err := c.ctl.Status(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: the leader's master at %s does not answer: %w", c.addr, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// masterIO reads the master process's write counters.
func (c *cluster) masterIO() procIO {
	s, err := readIO(c.master.pid())
	if err != nil {
		c.note("read master io: %v", err)
	}
	return s
}

// standbysCPU sums the CPU time of the group's members other than the
// leader (0 without a group).
func (c *cluster) standbysCPU() time.Duration {
	var d time.Duration
	if g := c.group; g != nil {
		for i, p := range g.procs {
			if s, err := readProc(p.pid()); err == nil && i != g.leader {
				d += s.CPU
			}
		}
	}
	return d
}

// stop stops the members, the leader first (the others keep a quorum
// while it writes its last entries), then the others one by one.
func (g *raftGroup) stop(cfg *Config) {
	order := make([]*proc, 0, len(g.procs))
	if g.leader < len(g.procs) && g.seen != nil {
		order = append(order, g.procs[g.leader])
	}
	for i, p := range g.procs {
		if g.seen == nil || i != g.leader {
			order = append(order, p)
		}
	}
	for _, p := range order {
		if !p.stop(time.Minute) {
			cfg.note("a master (pid %d) did not stop within a minute; killed", p.pid())
		}
	}
}

// memberRole runs the master role as a member of f.Cluster's group until
// its stdin closes or a signal: it announces its RPC address, then serves
// the recorder's commands (they matter on the leader).
func memberRole(f *masterSpec, log *logrus.Logger, dl master.Limit, stdout io.Writer) error {
	if f.DataDir == "" || f.Store != master.StoreBolt {
		return errors.New("bench master: a cluster member needs the bolt store and a data dir")
	}
	var self drovercluster.Member
	for _, m := range f.Cluster.Members {
		if m.ID == f.Cluster.ID {
			self = m
		}
	}
	if self.ID == "" {
		return fmt.Errorf("bench master: member %q is not among the members", f.Cluster.ID)
	}
	cfg := f.config(f.DataDir, log, dl)
	cfg.Listen = self.RPC
	t0 := time.Now()
	n, err := drovercluster.Start(drovercluster.Config{Master: cfg, ID: self.ID, Members: f.Cluster.Members})
	if err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(hello{Addr: self.RPC, PID: os.Getpid(), StartS: time.Since(t0).Seconds()}); err != nil {
		n.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		select {
		case <-n.Done(): // its local store failed
			stop()
		case <-ctx.Done():
		}
	}()
	rec := &recorder{profile: f.Profile, trace: f.Trace, log: log}
	rec.serve(ctx, stdinLines())
	perr := rec.stop()
	return errors.Join(n.Close(), n.Err(), perr)
}

// mastersNote is the report's line on a group of masters.
func mastersNote(e *E2E) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %d masters (raft group), the leader at %s profiled and measured:", len(e.Members), e.LeaderRPC)
	for _, m := range e.Members {
		fmt.Fprintf(&b, " %s %s %s;", m.ID, m.RPC, m.State)
	}
	return strings.TrimSuffix(b.String(), ";") + "\n"
}
