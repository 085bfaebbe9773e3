// Package raftstore replicates the master's store among the members of a
// raft group (github.com/hashicorp/raft, with raft-boltdb for the raft log):
// every write of the store is one raft entry, which each member's state
// machine applies to its own local store (the bolt store in its data dir).
// The leader's master writes through Store and reads its local store;
// followers keep theirs current, so that whichever member leads next
// starts its master on a store that holds every acknowledged change.
//
// No consensus code is drover's own: this package is the state machine
// (fsm.go), the entries (entry.go), the snapshot format (snapshot.go) and
// the setup of the library's parts.
package raftstore

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/sirupsen/logrus"
)

// Member is one master of the group.
type Member struct {
	ID   string // its raft server ID, unique in the group
	Raft string // its raft address (host:port), which the others dial
	RPC  string // its RPC address, which clients and workers call
}

// Config is a member's setup.
type Config struct {
	ID      string   // this member's ID: one of Members
	Bind    string   // where its raft transport listens; default its Member.Raft
	Dir     string   // the raft log, stable store and snapshots
	Members []Member // the group's members when it first forms
	Local   Local    // the master's store on this machine
	Log     logrus.FieldLogger
	// ApplyTimeout bounds how long a write waits to be taken into the
	// leader's log. Default 10s.
	ApplyTimeout time.Duration
	// Raft, if set, adjusts the library's config before use (tests make
	// elections faster with it).
	Raft func(*raft.Config)
	// TLS, if set, makes the raft transport mutual TLS; else it is plain
	// TCP, unauthenticated.
	TLS *TLS
	// Join: this member joins a group that runs already (the leader adds
	// it: AddMember) instead of forming one from Members.
	Join bool
}

// logCache is how many of the latest raft entries stay in memory. An
// entry is a commit's batch, up to megabytes after a big submit.
const logCache = 64

// ErrNotLeader is returned by a write on a member that is not the leader.
var ErrNotLeader = errors.New("raftstore: this member is not the leader")

// Node is one running member.
type Node struct {
	cfg    Config
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	logs   *raftboltdb.BoltStore
	fsm    *fsm
	store  *Store
	notify chan bool
	failed chan error
	pause  *pauseGuard // nil until raft runs
	// stopWarm ends the warmer (warm.go), which wg waits for.
	stopWarm chan struct{}
	wg       sync.WaitGroup
}

// Open starts this member: it opens the raft files in cfg.Dir, finishes a
// snapshot restore a crash interrupted, recovers the group from
// Dir/peers.json if an operator wrote one, and forms the group from
// cfg.Members if this member has no raft state yet.
func Open(cfg Config) (*Node, error) {
	self, err := cfg.self()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	n := &Node{cfg: cfg, notify: make(chan bool, 16), failed: make(chan error, 1)}
	n.fsm = &fsm{local: cfg.Local, dir: cfg.Dir, onFail: n.fail}
	n.store = &Store{n: n, local: cfg.Local}
	if err := n.open(self); err != nil {
		n.closeFiles()
		return nil, err
	}
	return n, nil
}

// MaxMemberField bounds a member's ID and each of its addresses, in bytes.
const MaxMemberField = 256

// CheckMember checks one member's fields: an ID of printable characters
// and a raft and an RPC address of the form host:port, none empty or over
// MaxMemberField bytes. It does not check the member against the others.
func CheckMember(m Member) error {
	if m.ID == "" || m.Raft == "" || m.RPC == "" {
		return fmt.Errorf("raftstore: member %.64q: it needs an id, a raft address and an rpc address", m.ID)
	}
	for _, f := range [...]struct{ what, v string }{{"id", m.ID}, {"raft address", m.Raft}, {"rpc address", m.RPC}} {
		if len(f.v) > MaxMemberField {
			return fmt.Errorf("raftstore: member %.64q: its %s has %d bytes; at most %d", m.ID, f.what, len(f.v), MaxMemberField)
		}
		if strings.ContainsFunc(f.v, func(r rune) bool { return !unicode.IsPrint(r) }) {
			return fmt.Errorf("raftstore: member %.64q: its %s %q has a character that does not print", m.ID, f.what, f.v)
		}
	}
	for _, a := range [...]struct{ what, addr string }{{"raft", m.Raft}, {"rpc", m.RPC}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("raftstore: member %.64q: %s: want host:port, got %q", m.ID, a.what, a.addr)
		}
	}
	return nil
}

// self checks cfg and returns this member's entry.
func (cfg *Config) self() (Member, error) {
	if cfg.Local == nil || cfg.Dir == "" {
		return Member{}, errors.New("raftstore: a member needs its local store and a raft dir")
	}
	seen := map[string]bool{}
	var self Member
	for _, m := range cfg.Members {
		if err := CheckMember(m); err != nil {
			return Member{}, err
		}
		if seen[m.ID] {
			return Member{}, fmt.Errorf("raftstore: member id %q is given twice", m.ID)
		}
		seen[m.ID] = true
		if m.ID == cfg.ID {
			self = m
		}
	}
	if self.ID == "" {
		return Member{}, fmt.Errorf("raftstore: this member's id %q is not among the members", cfg.ID)
	}
	return self, nil
}

// open builds the library's parts and starts raft.
func (n *Node) open(self Member) error {
	cfg := n.cfg
	hl := hclogFor(cfg.Log)
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(self.ID)
	rc.Logger = hl
	rc.NotifyCh = n.notify
	rc.NoSnapshotRestoreOnStart = true // the local store holds it (see fsm)
	if cfg.Raft != nil {
		cfg.Raft(rc)
	}
	var err error
	if n.logs, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")}); err != nil {
		return fmt.Errorf("raftstore: raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hl)
	if err != nil {
		return fmt.Errorf("raftstore: snapshots: %w", err)
	}
	if err := n.finishRestore(snaps); err != nil {
		return err
	}
	removeExports(cfg.Dir)
	n.fsm.rewarm()
	// The group ID is read or made before the transport listens.
	grp, err := loadGroup(n.logs, snaps, cfg)
	if err != nil {
		return err
	}
	adv, err := net.ResolveTCPAddr("tcp", self.Raft)
	if err != nil {
		return fmt.Errorf("raftstore: raft address %q: %w", self.Raft, err)
	}
	bind := cfg.Bind
	if bind == "" {
		bind = self.Raft
	}
	st, err := newStream(bind, adv, cfg.TLS)
	if err != nil {
		return fmt.Errorf("raftstore: raft transport: %w", err)
	}
	st.group = grp // before the transport accepts
	// Pipelined replication is off (MaxRPCsInFlight 1: every append
	// waits for its answer). Its sender can wait forever on its decoder
	// once the decoder stopped (a follower answered a newer term), and
	// then raft's Shutdown never returns: a test's member hung 19 minutes
	// in netPipeline.AppendEntries. hashicorp/raft's own notes find the
	// pipeline of little use but on high-latency links.
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: st, MaxPool: 3,
		Timeout: 10 * time.Second, Logger: hl, MaxRPCsInFlight: 1})
	if err := n.recoverPeers(rc, snaps); err != nil {
		return err
	}
	had, err := raft.HasExistingState(n.logs, n.logs, snaps)
	if err != nil {
		return fmt.Errorf("raftstore: %w", err)
	}
	if err := n.bootstrap(rc, snaps); err != nil {
		return err
	}
	// The latest entries stay decoded in memory: replication sends each
	// to every follower, and reads its predecessor's term, from here
	// instead of from raft-boltdb.
	logs, err := raft.NewLogCache(logCache, n.logs)
	if err != nil {
		return fmt.Errorf("raftstore: %w", err)
	}
	if n.raft, err = raft.NewRaft(rc, n.fsm, logs, n.logs, snaps, n.trans); err != nil {
		return fmt.Errorf("raftstore: %w", err)
	}
	if f := n.raft.GetConfiguration(); had && !cfg.Join && f.Error() == nil {
		warnMembers(cfg.Log, cfg.Members, f.Configuration())
	}
	n.pause = newPauseGuard(n, rc.LeaderLeaseTimeout)
	n.stopWarm = make(chan struct{})
	n.wg.Add(1)
	go warmer(n.fsm, n.stopWarm, &n.wg)
	return nil
}

// bootstrap forms the group from the configured members if this member
// has no raft state yet. Every member does the same with the same list.
func (n *Node) bootstrap(rc *raft.Config, snaps raft.SnapshotStore) error {
	has, err := raft.HasExistingState(n.logs, n.logs, snaps)
	if err != nil || has || n.cfg.Join {
		return err
	}
	return raft.BootstrapCluster(rc, n.logs, n.logs, snaps, n.trans, bootConfig(n.cfg.Members))
}

// finishRestore finishes a snapshot restore that a crash interrupted: the
// local store is half written, so it is written again from the latest
// snapshot.
func (n *Node) finishRestore(snaps raft.SnapshotStore) error {
	mark, err := n.cfg.Local.GetMeta(ownBucket, restoringKey)
	if err != nil || mark == nil {
		return err
	}
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return fmt.Errorf("raftstore: a restore was interrupted and no snapshot is left to finish it (%v)", err)
	}
	_, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("raftstore: finish an interrupted restore: %w", err)
	}
	defer rc.Close()
	n.cfg.Log.WithField("snapshot", list[0].ID).Warn("raft: finishing a snapshot restore that was interrupted")
	return restore(n.cfg.Local, rc)
}

// Rewarm keeps this member's live jobs decoded in memory again, from its
// local store, after a master took them (Store.TakeLive): call it when
// that master stops. The state machine waits meanwhile.
func (n *Node) Rewarm() { n.fsm.rewarm() }

// Store returns the store the leader's master uses.
func (n *Node) Store() *Store { return n.store }

// Leadership delivers true when this member becomes the leader and false
// when it stops being it.
func (n *Node) Leadership() <-chan bool { return n.notify }

// Failed delivers the error that stopped this member's state machine (its
// local store failed). The member must stop; at its next start raft
// replays the entries it missed.
func (n *Node) Failed() <-chan error { return n.failed }

func (n *Node) fail(err error) {
	n.cfg.Log.WithError(err).Error("raft: the local store failed; this member stops")
	select {
	case n.failed <- err:
	default:
	}
}

// IsLeader reports whether this member leads now, as far as raft knows.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leads reports whether this member leads and may act on it: IsLeader,
// and no pause of this process since a quorum last confirmed the
// leadership (pauseGuard). A master checks it before every side effect.
func (n *Node) Leads() bool { return n.IsLeader() && n.pause.ok() }

// Barrier waits until every entry committed before it is applied to the
// local store: a new leader calls it before its master loads the store.
func (n *Node) Barrier(timeout time.Duration) error {
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return fmt.Errorf("raftstore: barrier: %w", n.wrap(err))
	}
	return nil
}

// apply commits one entry and returns its error on this member.
func (n *Node) apply(data []byte) error {
	f := n.raft.Apply(data, cmpDur(n.cfg.ApplyTimeout, 10*time.Second))
	if err := f.Error(); err != nil {
		return fmt.Errorf("raftstore: %w", n.wrap(err))
	}
	if err, _ := f.Response().(error); err != nil {
		return err
	}
	return nil
}

// wrap makes the library's "not the leader" errors ErrNotLeader.
func (n *Node) wrap(err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
		return errors.Join(ErrNotLeader, err)
	}
	return err
}

// Close stops raft and closes the raft files. The local store stays open:
// it is the caller's.
func (n *Node) Close() error {
	var err error
	if n.raft != nil {
		err = n.raft.Shutdown().Error()
	}
	if n.pause != nil {
		n.pause.close()
	}
	if n.stopWarm != nil {
		close(n.stopWarm)
		n.wg.Wait()
		n.stopWarm = nil
	}
	return errors.Join(err, n.closeFiles())
}

func (n *Node) closeFiles() error {
	var errs []error
	if n.trans != nil {
		errs = append(errs, n.trans.Close())
	}
	if n.logs != nil {
		errs = append(errs, n.logs.Close())
	}
	return errors.Join(errs...)
}

func cmpDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// GiveUp hands the leadership to another member, if this one leads, and
// waits for that to be done or to fail.
func (n *Node) GiveUp() error {
	if !n.IsLeader() {
		return nil
	}
	return n.raft.LeadershipTransfer().Error()
}

// removeExports removes the store exports that no snapshot will copy any
// more: left by a crash during a snapshot, or by raft's RecoverCluster,
// which never releases its snapshot.
func removeExports(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, "export-*.tmp"))
	for _, f := range old {
		os.Remove(f)
	}
}
