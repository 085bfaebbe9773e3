package raftstore

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/jobs"
)

// refusals returns the refusal warnings a hook holds.
func refusals(h *logtest.Hook) []*logrus.Entry {
	var out []*logrus.Entry
	for _, e := range h.AllEntries() {
		if e.Level == logrus.WarnLevel && strings.Contains(e.Message, "refused a raft connection from a member of another group") {
			out = append(out, e)
		}
	}
	return out
}

// startLogged starts mb as member.start does, its log lines into log.
func (mb *member) startLogged(t *testing.T, ms []Member, log logrus.FieldLogger) {
	t.Helper()
	var err error
	if mb.local, err = jobs.OpenBolt(filepath.Join(mb.dir, "data")); err != nil {
		t.Fatal(err)
	}
	mb.node, err = Open(Config{ID: mb.id, Dir: filepath.Join(mb.dir, "raft"), Members: ms, Local: mb.local, Log: log, Raft: fast})
	if err != nil {
		t.Fatal(err)
	}
}

// seqsInLog returns the job seqs of the save entries in a member's raft log.
func seqsInLog(t *testing.T, n *Node) map[uint64]bool {
	t.Helper()
	first, _ := n.logs.FirstIndex()
	last, _ := n.logs.LastIndex()
	out := map[uint64]bool{}
	for ix := first; ix <= last && ix > 0; ix++ {
		var l raft.Log
		if err := n.logs.GetLog(ix, &l); err != nil {
			t.Fatal(err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		e, err := decodeEntry(l.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range e.recs {
			out[r.Seq] = true
		}
	}
	return out
}

func seqsIn(t *testing.T, s Local) map[uint64]bool {
	t.Helper()
	out := map[uint64]bool{}
	if err := s.Load(func(seq uint64, _ []byte) error { out[seq] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestForeignDataDirIsRefused: a member of group B started on a copy of a
// member of group A's data dir is refused by B's members, loudly; B's
// leader does not overwrite its log with B's, it does not take B's
// entries to A, and A's acknowledged changes survive the loss of A's
// leader.
func TestForeignDataDirIsRefused(t *testing.T) {
	a, msA := group(t, 3)
	for i := range 3 {
		write(t, a, func(st *Store) error { return st.Save([]jobs.Record{rec(uint64(i+1), "A")}) })
	}
	for _, mb := range a {
		poll.Until(t, 10*time.Second, mb.id+" applies A's first entries", func() bool { return len(seqsIn(t, mb.local)) == 3 })
	}
	// One follower of A stops; its data dir is copied.
	l := leader(t, a)
	var src *member
	for _, mb := range a {
		if mb != l && src == nil {
			src = mb
		}
	}
	src.stop()
	clone := filepath.Join(t.TempDir(), "clone")
	if err := os.CopyFS(clone, os.DirFS(src.dir)); err != nil {
		t.Fatal(err)
	}
	// A acknowledges more, which the copy lacks.
	for i := 3; i < 6; i++ {
		write(t, a, func(st *Store) error { return st.Save([]jobs.Record{rec(uint64(i+1), "A")}) })
	}
	lastA := map[string]uint64{}
	for _, mb := range a {
		if mb.node != nil {
			lastA[mb.id] = mb.node.raft.LastIndex()
		}
	}

	// Group B: other addresses; its member of src's ID runs on the copy.
	addrs := testnet.DeadAddrs(t, 3)
	var msB []Member
	for i := range 3 {
		msB = append(msB, Member{ID: fmt.Sprintf("m%d", i+1), Raft: addrs[i], RPC: fmt.Sprintf("127.0.0.1:%d", 7100+i)})
	}
	var b []*member
	hooks := map[string]*logtest.Hook{}
	for _, m := range msB {
		mb := &member{id: m.ID, dir: t.TempDir()}
		if m.ID == src.id {
			mb.dir = clone
		}
		log, hook := logtest.NewNullLogger()
		hooks[m.ID] = hook
		mb.startLogged(t, msB, log)
		b = append(b, mb)
	}
	t.Cleanup(func() {
		for _, mb := range b {
			mb.stop()
		}
	})
	var foreign *member
	var healthy []*member
	for _, mb := range b {
		if mb.id == src.id {
			foreign = mb
		} else {
			healthy = append(healthy, mb)
		}
	}
	for i := range 20 {
		write(t, healthy, func(st *Store) error { return st.Save([]jobs.Record{rec(uint64(100+i), "B")}) })
	}
	for _, mb := range healthy {
		poll.Until(t, 10*time.Second, "B's "+mb.id+" applies B's entries", func() bool { return len(seqsIn(t, mb.local)) == 20 })
	}

	// B's entries stay out of the copy's log; A's stay out of B's members.
	for seq := range seqsInLog(t, foreign.node) {
		if seq >= 100 {
			t.Fatalf("B's leader wrote B's entry %d into the log of the member on A's data dir", seq)
		}
	}
	for _, mb := range healthy {
		for seq := range seqsIn(t, mb.local) {
			if seq < 100 {
				t.Fatalf("B's %s holds A's job %d", mb.id, seq)
			}
		}
		for seq := range seqsInLog(t, mb.node) {
			if seq < 100 {
				t.Fatalf("B's %s has A's job %d in its raft log", mb.id, seq)
			}
		}
	}
	// The copy refuses B's members' connections, and says so.
	var w *logrus.Entry
	poll.Until(t, 10*time.Second, "the member on the copied dir logs a refusal", func() bool {
		r := refusals(hooks[foreign.id])
		if len(r) > 0 {
			w = r[0]
		}
		return w != nil
	})
	if w.Data["group"] == w.Data["peer_group"] || w.Data["remote"] == nil || !strings.Contains(w.Message, "data dir from another group") {
		t.Fatalf("refusal logged as %q %v", w.Message, w.Data)
	}
	warned := false
	for _, e := range hooks[foreign.id].AllEntries() {
		warned = warned || (e.Level == logrus.WarnLevel && strings.Contains(e.Message, "configured members differ"))
	}
	if !warned {
		t.Error("the member on the copied dir did not warn at start that its members differ from its log's group")
	}
	for _, h := range hooks {
		if len(refusals(h)) > 1 {
			t.Errorf("refusals not rate limited: %d warnings", len(refusals(h)))
		}
	}
	// A's logs are whole, and its acknowledged changes survive the loss
	// of its leader while the copy runs.
	for _, mb := range a {
		if mb.node == nil {
			continue
		}
		if li := mb.node.raft.LastIndex(); li < lastA[mb.id] {
			t.Fatalf("A's %s: last index %d, was %d: its log was cut back", mb.id, li, lastA[mb.id])
		}
		if got := seqsInLog(t, mb.node); len(got) != 6 {
			t.Fatalf("A's %s: raft log holds jobs %v, want 1..6", mb.id, got)
		}
	}
	l = leader(t, a)
	l.stop()
	// One member of A runs, and the copy: it must not lead A (its log
	// lacks A's latest), nor may A's member follow it.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if foreign.node.IsLeader() {
			t.Fatal("the member on the copied dir leads")
		}
	}
	l.start(t, msA)
	src.start(t, msA)
	write(t, a, func(st *Store) error { return st.Save([]jobs.Record{rec(7, "A")}) })
	for _, mb := range a {
		poll.Until(t, 10*time.Second, "A's "+mb.id+" holds jobs 1..7", func() bool { return len(seqsIn(t, mb.local)) == 7 })
		for seq := range seqsIn(t, mb.local) {
			if seq > 7 {
				t.Fatalf("A's %s holds B's job %d", mb.id, seq)
			}
		}
	}
}

// gateAt returns a stream on loopback whose group ID is id.
func gateAt(t *testing.T, id groupID) (*stream, *groupGate, *logtest.Hook) {
	t.Helper()
	s, err := newStream("127.0.0.1:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(t.TempDir(), "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	g := &groupGate{store: st, log: log, id: id, warned: map[string]warned{}, now: time.Now, deadline: 5 * time.Second}
	s.group = g
	return s, g, hook
}

// exchange dials to from from, sends "ping" and returns what to reads.
func exchange(t *testing.T, from, to *stream) (string, error) {
	t.Helper()
	c, err := from.Dial(raft.ServerAddress(to.Listener.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	in, err := to.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	got, err := io.ReadAll(io.LimitReader(in, 4))
	return string(got), err
}

func TestGroupHandshake(t *testing.T) {
	x, y := groupID{1}, groupID{2}
	sx, gx, hx := gateAt(t, x)
	sy, _, _ := gateAt(t, y)
	sx2, _, _ := gateAt(t, x)
	su, gu, _ := gateAt(t, groupID{})

	if got, err := exchange(t, sx2, sx); got != "ping" || err != nil {
		t.Fatalf("same group: read %q %v", got, err)
	}
	if got, err := exchange(t, su, sx); got != "ping" || err != nil {
		t.Fatalf("a dialer without an ID: read %q %v", got, err)
	}
	// Another group's: refused, and logged once a minute per peer.
	clock := time.Now()
	gx.now = func() time.Time { return clock }
	for i := range 3 {
		if got, _ := exchange(t, sy, sx); got != "" {
			t.Fatalf("another group's connection %d read %q", i, got)
		}
	}
	if r := refusals(hx); len(r) != 1 || r[0].Data["group"] != x.String() || r[0].Data["peer_group"] != y.String() ||
		!strings.HasPrefix(r[0].Data["remote"].(string), "127.0.0.1:") {
		t.Fatalf("refusals logged: %d, want 1 naming both groups and the peer: %v", len(r), r)
	}
	clock = clock.Add(61 * time.Second)
	exchange(t, sy, sx)
	if r := refusals(hx); len(r) != 2 || r[1].Data["refused_since_last"] != 2 || r[1].Data["refused_total"] != uint64(4) {
		t.Fatalf("after a minute: %d refusals logged (%v), want 2, the second counting the 2 unlogged", len(r), r[len(r)-1].Data)
	}
	// A member without an ID takes the first it is brought, keeps it, and
	// refuses another group's.
	if got, err := exchange(t, sy, su); got != "ping" || err != nil {
		t.Fatalf("a member without an ID: read %q %v", got, err)
	}
	if gu.current() != y {
		t.Fatalf("the member without an ID has %v, want %v", gu.current(), y)
	}
	if v, err := gu.store.Get(groupIDKey); err != nil || !bytes.Equal(v, y[:]) {
		t.Fatalf("the adopted ID is stored as %x %v", v, err)
	}
	if got, _ := exchange(t, sx, su); got != "" {
		t.Fatalf("after adopting y, x's connection read %q", got)
	}
	// A member of a release before the group ID (its first byte a raft
	// RPC type) passes, every byte served.
	raw, err := net.Dial("tcp", sx.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write([]byte{1, 'p', 'i', 'n'})
	in, err := sx.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(io.LimitReader(in, 4)); !bytes.Equal(got, []byte{1, 'p', 'i', 'n'}) || err != nil {
		t.Fatalf("an old member's connection read %q %v", got, err)
	}
	in.Close()
	// Anything else is refused.
	raw2, err := net.Dial("tcp", sx.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw2.Close()
	raw2.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	in, err = sx.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(in); len(got) != 0 {
		t.Fatalf("a connection without the header read %q", got)
	}
}

// A silent connection holds up neither Accept nor the connections after
// it, and ends at the header's deadline.
func TestGroupHandshakeSilentPeer(t *testing.T) {
	sx, gx, _ := gateAt(t, groupID{1})
	gx.deadline = 300 * time.Millisecond
	sx2, _, _ := gateAt(t, groupID{1})
	silent, err := net.Dial("tcp", sx.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	in, err := sx.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var wg sync.WaitGroup
	var silentErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, silentErr = in.Read(make([]byte, 1))
	}()
	if got, err := exchange(t, sx2, sx); got != "ping" || err != nil {
		t.Fatalf("behind a silent connection: read %q %v", got, err)
	}
	wg.Wait()
	if silentErr != io.EOF {
		t.Fatalf("the silent connection's read: %v, want io.EOF", silentErr)
	}
}

func TestGroupIDLoad(t *testing.T) {
	ms := []Member{{ID: "m1", Raft: "127.0.0.1:1", RPC: "x:1"}, {ID: "m2", Raft: "127.0.0.1:2", RPC: "x:2"}}
	rev := []Member{ms[1], ms[0]}
	if groupIDOf(bootConfig(ms)) != groupIDOf(bootConfig(rev)) {
		t.Fatal("the ID depends on the members' order")
	}
	other := []Member{ms[0], {ID: "m2", Raft: "127.0.0.1:3", RPC: "x:2"}}
	if groupIDOf(bootConfig(ms)) == groupIDOf(bootConfig(other)) {
		t.Fatal("two groups of other addresses have one ID")
	}
	open := func(dir string) (*raftboltdb.BoltStore, raft.SnapshotStore) {
		st, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
		if err != nil {
			t.Fatal(err)
		}
		snaps, err := raft.NewFileSnapshotStore(dir, 1, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return st, snaps
	}
	// A member forming the group derives and stores it; a joiner has none.
	dir := t.TempDir()
	st, snaps := open(dir)
	g, err := loadGroup(st, snaps, Config{Members: rev, Log: quiet()})
	if err != nil || g.current() != groupIDOf(bootConfig(ms)) {
		t.Fatalf("formed: %v %v", g, err)
	}
	if v, _ := st.Get(groupIDKey); !bytes.Equal(v, g.id[:]) {
		t.Fatalf("stored %x", v)
	}
	st.Close()
	st, snaps = open(t.TempDir())
	if g, err := loadGroup(st, snaps, Config{Members: ms, Join: true, Log: quiet()}); err != nil || g.current().known() {
		t.Fatalf("joiner: %v %v", g.current(), err)
	}
	st.Close()
	// Raft state from before the ID: derived from the log's first entry.
	st, snaps = open(t.TempDir())
	defer st.Close()
	st.StoreLog(&raft.Log{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: raft.EncodeConfiguration(bootConfig(ms))})
	st.SetUint64([]byte("CurrentTerm"), 1)
	if g, err := loadGroup(st, snaps, Config{Members: other, Log: quiet()}); err != nil || g.current() != groupIDOf(bootConfig(ms)) {
		t.Fatalf("old state: %v %v", g.current(), err)
	}
}
