package raftstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
)

// Status is what a member knows of the group.
type Status struct {
	ID        string `json:"id" xmlrpc:"id"`                 // this member
	State     string `json:"state" xmlrpc:"state"`           // Leader, Follower, Candidate or Shutdown
	Leader    string `json:"leader" xmlrpc:"leader"`         // the leader's ID, "" when none is known
	LeaderRPC string `json:"leader_rpc" xmlrpc:"leader_rpc"` // the leader's RPC address, "" when none is known
	Term      uint64 `json:"term" xmlrpc:"term"`
	Applied   uint64 `json:"applied_index" xmlrpc:"applied_index"` // the last entry applied to the local store
	Commit    uint64 `json:"commit_index" xmlrpc:"commit_index"`
	// LastLog is the last entry in this member's raft log, committed or
	// not: after a restart, Applied and Commit count only from what the
	// leader has confirmed since, LastLog from the start.
	LastLog uint64   `json:"last_log_index" xmlrpc:"last_log_index"`
	Members []Member `json:"members" xmlrpc:"members"` // the group as raft has it now
}

// Status returns what this member knows now.
func (n *Node) Status() Status {
	_, leader := n.raft.LeaderWithID()
	s := Status{ID: n.cfg.ID, State: n.raft.State().String(), Leader: string(leader),
		Term: n.raft.CurrentTerm(), Applied: n.raft.AppliedIndex(), Commit: n.raft.CommitIndex(), LastLog: n.raft.LastIndex()}
	s.LeaderRPC = n.rpcOf(s.Leader)
	s.Members = n.Members()
	return s
}

// Members returns the group as raft has it now.
func (n *Node) Members() []Member {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var ms []Member
	for _, srv := range f.Configuration().Servers {
		ms = append(ms, Member{ID: string(srv.ID), Raft: string(srv.Address), RPC: n.rpcOf(string(srv.ID))})
	}
	return ms
}

// LeaderRPC returns the leader's RPC address, "" when no leader is known.
func (n *Node) LeaderRPC() string {
	_, id := n.raft.LeaderWithID()
	return n.rpcOf(string(id))
}

// Term returns the current raft term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// membersBucket is the meta bucket of the members added since the group
// formed: ID → RPC address. It is replicated like any write of the store.
const membersBucket = "cluster_members"

// rpcOf returns a member's RPC address: a member added since the group
// formed (membersBucket), else a configured one.
func (n *Node) rpcOf(id string) string {
	if id == "" {
		return ""
	}
	if v, err := n.cfg.Local.GetMeta(membersBucket, id); err == nil && v != nil {
		return string(v)
	}
	for _, m := range n.cfg.Members {
		if m.ID == id {
			return m.RPC
		}
	}
	return ""
}

// AddMember adds m to the group as a voter: its RPC address first, as a
// write of the store, then the member itself (raft's AddVoter). m must
// have started with Config.Join. Only the leader can. The caller checks
// m (package cluster's control does).
func (n *Node) AddMember(m Member) error {
	if err := n.store.SaveMeta(membersBucket, m.ID, []byte(m.RPC)); err != nil {
		return err
	}
	if err := n.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.Raft), 0, 10*time.Second).Error(); err != nil {
		// Not a member: its address goes, unless raft may have added it
		// after all (the leadership moved under the call).
		if !errors.Is(n.wrap(err), ErrNotLeader) {
			if derr := n.store.SaveMeta(membersBucket, m.ID, nil); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		return fmt.Errorf("raftstore: add %s: %w", m.ID, n.wrap(err))
	}
	return nil
}

// RemoveMember removes the member id from the group. Only the leader can;
// removing itself hands the leadership on.
func (n *Node) RemoveMember(id string) error {
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second).Error(); err != nil {
		return fmt.Errorf("raftstore: remove %s: %w", id, n.wrap(err))
	}
	return nil
}

// PeersFile is the file an operator writes into a member's raft dir to
// recover a group that lost its quorum for good (docs/ha.md): at the next
// start the member takes the group in it as its own, and renames it.
const PeersFile = "peers.json"

// recoverPeers applies an operator's peers.json, hashicorp/raft's recovery
// procedure, and renames it so that it is applied once.
func (n *Node) recoverPeers(rc *raft.Config, snaps raft.SnapshotStore) error {
	path := filepath.Join(n.cfg.Dir, PeersFile)
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil
	}
	c, err := raft.ReadConfigJSON(path)
	if err != nil {
		return fmt.Errorf("raftstore: %s: %w", path, err)
	}
	n.cfg.Log.WithField("servers", len(c.Servers)).Warn("raft: recovering the group from " + path)
	if err := raft.RecoverCluster(rc, n.fsm, n.logs, n.logs, snaps, n.trans, c); err != nil {
		return fmt.Errorf("raftstore: recover from %s: %w", path, err)
	}
	removeExports(n.cfg.Dir)
	return os.Rename(path, path+".done")
}

// hclogFor routes the library's log lines to log, at their own level,
// with the warnings and errors that repeat kept to one a minute (repeats).
func hclogFor(log logrus.FieldLogger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: hclogWriter{log}, DisableTime: true,
		Exclude: newRepeats(log).exclude})
}

// hclogWriter takes hclog's formatted lines ("[WARN]  raft: ...").
type hclogWriter struct{ log logrus.FieldLogger }

func (w hclogWriter) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		s := strings.TrimSpace(string(line))
		switch {
		case strings.HasPrefix(s, "[ERROR]"):
			w.log.Error(strings.TrimSpace(strings.TrimPrefix(s, "[ERROR]")))
		case strings.HasPrefix(s, "[WARN]"):
			w.log.Warn(strings.TrimSpace(strings.TrimPrefix(s, "[WARN]")))
		default:
			s = strings.TrimPrefix(s, "[INFO]")
			w.log.Info(strings.TrimSpace(s))
		}
	}
	return len(p), nil
}

var _ io.Writer = hclogWriter{}
