package raftstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/sirupsen/logrus"
)

// A group ID tells the members of one raft group from those of another:
// every connection of the raft transport starts with the dialer's (the
// header below), and a member refuses a connection whose ID is not its
// own. Without it a member started on a data dir copied from another
// group answers the new group's RPCs with the other group's log and
// configuration, and the two groups' logs overwrite each other.
//
// The ID is derived from the bootstrap configuration (groupIDOf), so the
// members that form a group from the same members list agree on it
// without talking. A member that joins (Config.Join) with an empty data
// dir, or whose raft state predates the ID and whose log lost its first
// entry (the bootstrap configuration) to a snapshot, has none: it takes
// the ID of the first peer that connects with one (trust on first use).
// The ID is kept in the raft stable store (raft.db), which a snapshot
// restore leaves alone and which an emptied data dir loses with the log.

// groupIDKey is the stable store's key of the group ID.
var groupIDKey = []byte("drover-group-id")

// groupMagic starts the header a dialer writes. Its first byte is no
// hashicorp/raft RPC type (0 to 4), which a member of a release before
// the group ID sends first: the acceptor tells the two apart by it.
const groupMagic = "DRG\x01"

// groupHeaderLen is the header's length: the magic and the 16-byte ID.
const groupHeaderLen = len(groupMagic) + 16

// groupHeaderTimeout bounds the wait for a new connection's header (and,
// over TLS, its handshake).
const groupHeaderTimeout = 5 * time.Second

// groupWarnEvery spaces the warnings about one peer's refused connections.
const groupWarnEvery = time.Minute

// maxRaftRPCType is the highest RPC type byte of hashicorp/raft v1.7.
const maxRaftRPCType = 4

type groupID [16]byte

func (id groupID) known() bool { return id != groupID{} }

func (id groupID) String() string {
	if !id.known() {
		return "unknown"
	}
	return hex.EncodeToString(id[:])
}

// groupIDOf derives a group's ID from its bootstrap configuration: the
// first 16 bytes of the SHA-256 of its servers' IDs and addresses, in the
// order of the IDs.
func groupIDOf(c raft.Configuration) groupID {
	s := slices.Clone(c.Servers)
	slices.SortFunc(s, func(a, b raft.Server) int { return strings.Compare(string(a.ID), string(b.ID)) })
	h := sha256.New()
	h.Write([]byte("drover raft group\x00"))
	for _, sv := range s {
		for _, f := range [...]string{string(sv.ID), string(sv.Address)} {
			h.Write(binary.AppendUvarint(nil, uint64(len(f))))
			h.Write([]byte(f))
		}
	}
	var id groupID
	copy(id[:], h.Sum(nil))
	return id
}

// bootConfig is the configuration a member forms the group with.
func bootConfig(members []Member) raft.Configuration {
	var c raft.Configuration
	for _, m := range members {
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Raft)})
	}
	return c
}

// groupGate is this member's group ID, and what it does with the peers'.
type groupGate struct {
	store raft.StableStore
	log   logrus.FieldLogger

	mu       sync.Mutex
	id       groupID
	warned   map[string]warned // by the peer's host
	refused  uint64            // connections refused, in all
	now      func() time.Time  // tests set it
	deadline time.Duration     // groupHeaderTimeout; tests shorten it
}

type warned struct {
	at     time.Time
	missed int // refusals not logged since
}

// loadGroup reads this member's group ID from its stable store, or makes
// it: derived from cfg.Members if the member forms the group now (no raft
// state, no Join), or from the first entry of its log (the bootstrap
// configuration) if its state predates the ID. Otherwise it stays unknown
// until a peer brings one.
func loadGroup(logs interface {
	raft.StableStore
	raft.LogStore
}, snaps raft.SnapshotStore, cfg Config) (*groupGate, error) {
	g := &groupGate{store: logs, log: cfg.Log, warned: map[string]warned{}, now: time.Now, deadline: groupHeaderTimeout}
	v, err := logs.Get(groupIDKey)
	switch {
	case err == nil && len(v) == len(g.id):
		copy(g.id[:], v)
		return g, nil
	case err == nil && len(v) != 0:
		return nil, fmt.Errorf("raftstore: the group id in the raft stable store has %d bytes, want %d", len(v), len(g.id))
	case err != nil && !errors.Is(err, raftboltdb.ErrKeyNotFound):
		return nil, fmt.Errorf("raftstore: read the group id: %w", err)
	}
	has, err := raft.HasExistingState(logs, logs, snaps)
	if err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	var id groupID
	switch {
	case !has && !cfg.Join:
		id = groupIDOf(bootConfig(cfg.Members))
	case has:
		var first raft.Log
		if logs.GetLog(1, &first) == nil && first.Type == raft.LogConfiguration {
			id = groupIDOf(raft.DecodeConfiguration(first.Data))
		}
	}
	if id.known() {
		if err := logs.Set(groupIDKey, id[:]); err != nil {
			return nil, fmt.Errorf("raftstore: store the group id: %w", err)
		}
		g.id = id
	}
	return g, nil
}

// current is this member's group ID, zero while unknown.
func (g *groupGate) current() groupID {
	if g == nil {
		return groupID{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.id
}

// header is what this member writes first on a connection it dials.
func (g *groupGate) header() []byte {
	id := g.current()
	return append([]byte(groupMagic), id[:]...)
}

// admit judges a connection whose dialer sent the ID theirs: it passes
// if either ID is unknown or they are equal. A member without an ID takes
// the dialer's and keeps it.
func (g *groupGate) admit(remote string, theirs groupID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case !theirs.known() || theirs == g.id:
		return true
	case !g.id.known():
		if err := g.store.Set(groupIDKey, theirs[:]); err != nil {
			g.log.WithError(err).Error("raft: could not store the group id a peer brought")
			return false
		}
		g.id = theirs
		g.log.WithFields(logrus.Fields{"remote": remote, "group": theirs.String()}).Info("raft: this member takes the group id of the first peer that brought one")
		return true
	}
	g.refused++
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	now := g.now()
	w := g.warned[host]
	if !w.at.IsZero() && now.Sub(w.at) < groupWarnEvery {
		w.missed++
		g.warned[host] = w
		return false
	}
	if len(g.warned) > 1024 {
		for k, o := range g.warned {
			if now.Sub(o.at) >= groupWarnEvery {
				delete(g.warned, k)
			}
		}
	}
	g.log.WithFields(logrus.Fields{"remote": remote, "group": g.id.String(), "peer_group": theirs.String(),
		"refused_since_last": w.missed, "refused_total": g.refused}).
		Warn("raft: refused a raft connection from a member of another group: a data dir from another group? " +
			"Stop the member whose data dir was copied, empty its data dir, and start it with join = true to join this group")
	g.warned[host] = warned{at: now}
	return false
}

// errRefused ends a connection that admit refused, or whose header was
// wrong or late. It is io.EOF: the transport closes the connection and
// logs nothing of its own (this package has logged the refusal).
var errRefused = io.EOF

// groupConn is an accepted connection that checks the dialer's header at
// its first read, so that the transport's accept loop never waits on a
// slow or silent peer. A connection that starts with a raft RPC type
// instead is a member's of a release before the group ID: it passes, and
// the byte read is served back first.
type groupConn struct {
	net.Conn
	g    *groupGate
	once sync.Once
	err  error
	pre  []byte
}

func (c *groupConn) Read(p []byte) (int, error) {
	c.once.Do(c.check)
	if c.err != nil {
		return 0, c.err
	}
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *groupConn) check() {
	c.err = c.read()
	if c.err != nil {
		c.Conn.Close()
	}
}

func (c *groupConn) read() error {
	c.Conn.SetReadDeadline(time.Now().Add(c.g.deadline))
	var h [groupHeaderLen]byte
	if _, err := io.ReadFull(c.Conn, h[:1]); err != nil {
		c.g.log.WithError(err).WithField("remote", c.RemoteAddr().String()).Debug("raft: a connection ended before its header")
		return errRefused
	}
	if h[0] <= maxRaftRPCType {
		c.Conn.SetReadDeadline(time.Time{})
		c.pre = []byte{h[0]}
		return nil
	}
	if h[0] != groupMagic[0] {
		c.g.log.WithField("remote", c.RemoteAddr().String()).Debug("raft: refused a connection without a drover raft header")
		return errRefused
	}
	if _, err := io.ReadFull(c.Conn, h[1:]); err != nil || !bytes.Equal(h[:len(groupMagic)], []byte(groupMagic)) {
		c.g.log.WithField("remote", c.RemoteAddr().String()).Debug("raft: refused a connection without a drover raft header")
		return errRefused
	}
	var theirs groupID
	copy(theirs[:], h[len(groupMagic):])
	if !c.g.admit(c.RemoteAddr().String(), theirs) {
		return errRefused
	}
	c.Conn.SetReadDeadline(time.Time{})
	return nil
}

// warnMembers logs, once at start, how the configured members differ from
// the configuration in the raft log, which is the one that counts.
func warnMembers(log logrus.FieldLogger, members []Member, c raft.Configuration) {
	if len(c.Servers) == 0 {
		return
	}
	inLog := map[string]string{}
	for _, s := range c.Servers {
		inLog[string(s.ID)] = string(s.Address)
	}
	var diff []string
	for _, m := range members {
		a, ok := inLog[m.ID]
		switch {
		case !ok:
			diff = append(diff, fmt.Sprintf("%s (%s) is not in the log's configuration", m.ID, m.Raft))
		case a != m.Raft:
			diff = append(diff, fmt.Sprintf("%s is at %s in members, at %s in the log", m.ID, m.Raft, a))
		}
		delete(inLog, m.ID)
	}
	for _, s := range c.Servers {
		if a, ok := inLog[string(s.ID)]; ok {
			diff = append(diff, fmt.Sprintf("%s (%s) is in the log's configuration, not in members", s.ID, a))
		}
	}
	if len(diff) > 0 {
		log.WithField("differences", strings.Join(diff, "; ")).Warn("raft: the configured members differ from the group in the raft log; " +
			"the log's configuration wins (members only counts when a member first forms the group). " +
			"If this data dir comes from another group, stop the member and empty its data dir")
	}
}
