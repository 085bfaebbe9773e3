// Package cluster runs a master as one member of a group of three (or
// five) on hashicorp/raft: standby masters that take over when the
// leader's machine dies.
//
// Every member keeps the master's store in its own data dir; every write
// the leader's master makes is a raft entry, acknowledged once a quorum
// of members has it in its raft log and the leader has applied it (see
// internal/raftstore). Only the leader runs a master (master.Master on
// the replicated store), which dispatches, reaps and fires schedules. A
// member that does not lead serves its RPC address with a standby that
// answers every call with rpcapi.ErrNotLeader naming the leader (fault
// 8), which clients and workers given several addresses follow; its
// GET /api/v1/cluster tells who leads. When a member becomes the leader it
// waits until it has applied every committed entry, then starts its
// master on its store, as a master starts after a crash: workers
// re-register with what they run and the master adopts it.
//
// docs/ha.md says how to run one and what is guaranteed.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/raftstore"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// Member is one master of the group: its raft server ID, the address its
// raft transport listens on, and its RPC address (master.Config.Listen as
// clients reach it).
type Member = raftstore.Member

// Status is what a member knows of the group (GET /api/v1/cluster).
type Status = raftstore.Status

// Config is one member's setup.
type Config struct {
	// Master is this member's master. Its Listen is the member's RPC
	// address, served by the master while it leads and by the standby
	// otherwise; its DataDir holds the local store and, in raft/, the
	// raft log and snapshots. The store must be bolt.
	Master master.Config
	// ID is this member's ID among Members.
	ID string
	// RaftListen is where its raft transport listens; default its
	// Member.Raft.
	RaftListen string
	// Members is the group when it first forms, this member included.
	// Later starts take the group from the raft log.
	Members []Member
	// Join: this member joins a group that runs already, which an admin
	// then adds it to (drover cluster add), instead of forming one from
	// Members. Members must name it and the leader.
	Join bool
	// Raft, if set, adjusts hashicorp/raft's config (tests shorten the
	// timeouts with it).
	Raft func(*raft.Config)
}

// The raft transport is mutual TLS with the master's certificate and CA
// (Master.TLS, Master.ClientTLS: tls_cert, tls_key, tls_ca) when it has
// them, else plain TCP.

// Node is a running member.
type Node struct {
	cfg   Config
	log   logrus.FieldLogger
	local *jobs.BoltStore
	rn    *raftstore.Node
	sb    *standby

	// mu guards m and the settings a reload changes in cfg.Master
	// (Tokens, Limits, TypeLimits, DefaultLimit, Jobs). lead holds it from
	// copying cfg.Master until m is set, so that a reload is either in
	// the config a new master is made from or applied to that master.
	mu      sync.Mutex
	m       *master.Master
	stop    chan struct{}
	done    chan struct{}
	err     error // why run stopped, set before done closes
	leading bool  // run's view: it has started its master
}

// raftTLS is the raft transport's TLS: the master's, which must be
// mutual (Validate), or none.
func (cfg *Config) raftTLS() *raftstore.TLS {
	if cfg.Master.TLS == nil {
		return nil
	}
	return &raftstore.TLS{Server: cfg.Master.TLS, Client: cfg.Master.ClientTLS}
}

// Validate checks cfg.
func (cfg *Config) Validate() error {
	if len(cfg.Members) < 1 {
		return errors.New("cluster: no members")
	}
	if t := cfg.Master.TLS; t != nil && (t.ClientAuth != tls.RequireAndVerifyClientCert || cfg.Master.ClientTLS == nil) {
		return errors.New("cluster: with TLS the raft transport is mutual TLS: set tls_ca beside tls_cert and tls_key, so that members verify each other")
	}
	if cfg.Master.Store == master.StoreMemory || cfg.Master.StoreImpl != nil {
		return errors.New("cluster: a member keeps its store on disk: store must be bolt")
	}
	return cfg.Master.Validate()
}

// Start opens this member's store and raft, serves its RPC address with
// the standby and follows raft's leadership from then on.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Master.Logger.WithField("member", cfg.ID), stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	if n.local, err = jobs.OpenBoltWith(cfg.Master.DataDir, jobs.BoltOptions{Logf: n.log.Warnf}); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.rn, err = raftstore.Open(raftstore.Config{ID: cfg.ID, Bind: cfg.RaftListen, Dir: filepath.Join(cfg.Master.DataDir, "raft"),
		Members: cfg.Members, Local: n.local, Log: n.log.WithField("part", "raft"), Raft: cfg.Raft, TLS: cfg.raftTLS(), Join: cfg.Join})
	if err != nil {
		n.local.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.sb, err = newStandby(cfg.ID, &n.cfg.Master, n.rn)
	if err == nil {
		err = n.sb.start()
	}
	if err != nil {
		n.rn.Close()
		n.local.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	members := len(n.rn.Members()) // the group as raft has it: conf's members only count at the first start
	n.log.WithFields(logrus.Fields{"rpc": n.sb.addr(), "members": members, "raft_tls": cfg.raftTLS() != nil}).Info("cluster member started; standby until elected")
	if members > 0 && members%2 == 0 {
		n.log.Warnf("the group has %d members, an even number: it keeps running with %d of them down, as a group of %d does; "+
			"use an odd number (3 or 5), with drover cluster add or remove", members, (members-1)/2, members-1)
	}
	if cfg.raftTLS() == nil && !raftOnLoopback(cfg) {
		n.log.Warn("NO TLS on the raft transport: anyone who reaches a member's raft port can write its store. " +
			"Set tls_cert, tls_key and tls_ca (the members then verify each other), or keep the raft ports on a network only the masters reach.")
	}
	go n.run()
	return n, nil
}

// run follows raft's leadership until Close or a failed local store.
func (n *Node) run() {
	defer close(n.done)
	for {
		select {
		case lead := <-n.rn.Leadership():
			if lead && !n.leading {
				n.lead()
			} else if !lead && n.leading {
				n.follow("this member is no longer the leader")
			}
		case err := <-n.rn.Failed():
			n.err = err
			n.follow("the local store failed")
			return
		case <-n.stop:
			return
		}
	}
}

// lead starts the master once every committed entry is applied here. A
// master that cannot start gives the leadership away.
func (n *Node) lead() {
	start := time.Now()
	for {
		err := n.rn.Barrier(n.cfg.Master.DeadAfter)
		if err == nil {
			break
		}
		if !n.rn.IsLeader() {
			n.log.WithError(err).Warn("elected, but lost the leadership before the store caught up")
			return
		}
		n.log.WithError(err).Warn("elected, but the store has not caught up yet; waiting")
	}
	caughtUp := time.Since(start)
	n.sb.stop()
	n.mu.Lock()
	cfg := n.cfg.Master
	cfg.StoreImpl = n.rn.Store()
	cfg.Cluster = control{n.rn}
	cfg.Leads = n.rn.Leads
	// The term is read after the barrier: raft began it when it elected
	// this member, and a leader's term changes only when it steps down, which ends this
	// master (see run).
	cfg.Term = int64(n.rn.Term())
	m, err := master.New(cfg)
	if err == nil {
		err = m.Start()
	}
	if err != nil {
		n.mu.Unlock()
		n.log.WithError(err).Error("elected, but the master did not start; handing the leadership on")
		n.rn.Rewarm()
		n.restartStandby()
		n.rn.GiveUp()
		return
	}
	n.m, n.leading = m, true
	n.mu.Unlock()
	n.log.WithFields(logrus.Fields{"term": n.rn.Term(), "took": time.Since(start).Round(time.Millisecond),
		"caught_up": caughtUp.Round(time.Millisecond)}).Info("elected: this member's master leads")
}

// follow stops the master, if one runs, and serves the standby again.
func (n *Node) follow(why string) {
	n.mu.Lock()
	m := n.m
	n.m, n.leading = nil, false
	n.mu.Unlock()
	if m != nil {
		n.log.Warn(why + ": stopping its master")
		m.Close()
	}
	n.rn.Rewarm() // after Close: the master wrote all it will
	n.restartStandby()
}

func (n *Node) restartStandby() {
	if err := n.sb.start(); err != nil {
		n.log.WithError(err).Error("standby: cannot serve the RPC address")
	}
}

// Master returns the master while this member leads, else nil.
func (n *Node) Master() *master.Master {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m
}

// ErrNotLeading is SubmitJobsFile's answer on a member that does not
// lead: it kept the jobs for the master it starts when it leads.
var ErrNotLeading = errors.New("cluster: this member does not lead; its master submits the jobs file when it leads")

// The reload of a member (SIGHUP): SetTokens, SetLimits and
// SubmitJobsFile change the settings of Config.Master, for the master
// that runs while this member leads and for every master it starts
// later, as Master's methods of the same names do for one master. Each
// checks the new settings as the master would (Master.SetTokens and
// SetLimits, Config.Validate for jobs) and, refused, changes nothing.
// They are safe for concurrent use, also with a change of leadership: a
// new setting is either in the config a new master is made from or
// applied to the master that runs.

// SetTokens replaces Config.Master.Tokens: on the running master, in the
// standby's check and for every master started later; Config.Master.Token
// stays. An invalid set, or an empty one that would leave a member that
// has tokens without any, is an error and changes nothing.
func (n *Node) SetTokens(tokens []rpcapi.Credential) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.cfg.Master
	c.Tokens = tokens
	k, err := c.Keyring()
	if err != nil {
		return fmt.Errorf("cluster: tokens: %w", err)
	}
	if k.Len() == 0 && !n.sb.auth.Open() {
		return errors.New("cluster: tokens: the new set is empty and there is no token: the member would accept anyone; keep at least one token")
	}
	if n.m != nil {
		if err := n.m.SetTokens(tokens); err != nil {
			return err
		}
	}
	n.sb.auth.Set(k)
	n.cfg.Master.Tokens = tokens
	return nil
}

// SetLimits replaces Config.Master's Limits, TypeLimits and DefaultLimit
// (see Master.SetLimits): on the running master and for every master
// started later. An invalid limit is an error and changes nothing.
func (n *Node) SetLimits(limits, typeLimits map[string]master.Limit, def master.Limit) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m != nil {
		if err := n.m.SetLimits(limits, typeLimits, def); err != nil {
			return err
		}
	} else if err := n.check(func(c *master.Config) { c.Limits, c.TypeLimits, c.DefaultLimit = limits, typeLimits, def }); err != nil {
		return err
	}
	c := &n.cfg.Master
	c.Limits, c.TypeLimits, c.DefaultLimit = limits, typeLimits, def
	return nil
}

// SubmitJobsFile replaces Config.Master.Jobs with specs, which every
// master started later submits at its start. While this member leads,
// its master submits them now (Master.SubmitJobsFile), and it returns
// how many were new and how many known; otherwise it returns
// ErrNotLeading. Specs a master would refuse (Config.Validate's checks
// of Jobs) are an error, and so is a submit the running master refuses:
// either changes nothing.
func (n *Node) SubmitJobsFile(ctx context.Context, specs []jobs.Spec) (added, known int, err error) {
	n.mu.Lock()
	if err := n.check(func(c *master.Config) { c.Jobs = slices.Clone(specs) }); err != nil {
		n.mu.Unlock()
		return 0, 0, err
	}
	old, m := n.cfg.Master.Jobs, n.m
	n.cfg.Master.Jobs = specs
	n.mu.Unlock()
	if m == nil {
		return 0, 0, ErrNotLeading
	}
	// Not under mu: the submit waits for the store to load and for raft,
	// and must not hold up a change of leadership.
	added, known, err = m.SubmitJobsFile(ctx, specs)
	if err == nil {
		return added, known, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m != m {
		// The leadership changed meanwhile: a master started since was
		// made with specs, and one started later will be.
		return 0, 0, ErrNotLeading
	}
	n.cfg.Master.Jobs = old
	return 0, 0, err
}

// check returns the error of Config.Validate on a copy of
// Config.Master that change has changed, nil if it is valid. Called with
// mu held.
func (n *Node) check(change func(*master.Config)) error {
	c := n.cfg.Master
	c.Jobs = slices.Clone(c.Jobs) // Validate takes the specs' addresses
	change(&c)
	if err := c.Validate(); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// Status returns what this member knows of the group.
func (n *Node) Status() Status { return n.rn.Status() }

// Done is closed when the member stopped on its own (its local store
// failed: Err says why); the process should exit and be restarted.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns why the member stopped on its own, nil before.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.err
	default:
		return nil
	}
}

// Close stops the member: its master (whose last writes go through raft
// while it still leads), the standby, raft and the local store.
func (n *Node) Close() error {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	<-n.done
	var errs []error
	if m := n.Master(); m != nil {
		errs = append(errs, m.Close())
		// Its last writes are committed: hand the leadership on now
		// rather than let the others wait out an election timeout.
		if err := n.rn.GiveUp(); err != nil {
			n.log.WithError(err).Warn("could not hand the leadership on; the others elect a leader after their timeout")
		}
	}
	n.sb.stop()
	errs = append(errs, n.rn.Close(), n.local.Close())
	return errors.Join(errs...)
}

// raftOnLoopback reports whether the raft transport stays on loopback:
// every member's raft address, and the address this member binds
// (raft_listen) if it is another, name a loopback IP or "localhost".
func raftOnLoopback(cfg Config) bool {
	addrs := make([]string, 0, len(cfg.Members)+1)
	for _, m := range cfg.Members {
		addrs = append(addrs, m.Raft)
	}
	if cfg.RaftListen != "" {
		addrs = append(addrs, cfg.RaftListen)
	}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return false
		}
		if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return true
}
