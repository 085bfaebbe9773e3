package raftstore

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/jobs"
)

var _ Local = (*jobs.BoltStore)(nil)

// member is one in-process member of a test group.
type member struct {
	tls   *TLS
	id    string
	dir   string
	local *jobs.BoltStore
	node  *Node
}

func quiet() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func fast(c *raft.Config) {
	c.HeartbeatTimeout = 400 * time.Millisecond
	c.ElectionTimeout = 400 * time.Millisecond
	c.LeaderLeaseTimeout = 200 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.TrailingLogs = 4 // a snapshot leaves few entries: a member far behind takes the snapshot
}

// group starts n members on loopback.
func group(t *testing.T, n int) ([]*member, []Member) {
	t.Helper()
	return groupTLS(t, n, nil)
}

// groupTLS starts n members whose raft transport is tls (nil: plain TCP).
func groupTLS(t *testing.T, n int, tls *TLS) ([]*member, []Member) {
	t.Helper()
	var ms []Member
	addrs := testnet.DeadAddrs(t, n)
	for i := range n {
		ms = append(ms, Member{ID: fmt.Sprintf("m%d", i+1), Raft: addrs[i], RPC: fmt.Sprintf("127.0.0.1:%d", 7000+i)})
	}
	var out []*member
	for _, m := range ms {
		mb := &member{id: m.ID, dir: t.TempDir(), tls: tls}
		mb.start(t, ms)
		out = append(out, mb)
	}
	t.Cleanup(func() {
		for _, mb := range out {
			mb.stop()
		}
	})
	return out, ms
}

func (mb *member) start(t *testing.T, ms []Member) {
	t.Helper()
	var err error
	if mb.local, err = jobs.OpenBolt(filepath.Join(mb.dir, "data")); err != nil {
		t.Fatal(err)
	}
	mb.node, err = Open(Config{ID: mb.id, Dir: filepath.Join(mb.dir, "raft"), Members: ms, Local: mb.local, Log: quiet(), Raft: fast, TLS: mb.tls})
	if err != nil {
		t.Fatal(err)
	}
}

func (mb *member) stop() {
	if mb.node != nil {
		mb.node.Close()
		mb.local.Close()
		mb.node = nil
	}
}

// leader waits for exactly one member to lead and returns it.
func leader(t *testing.T, g []*member) *member {
	t.Helper()
	var l *member
	poll.Until(t, 10*time.Second, "one leader", func() bool {
		l = nil
		for _, mb := range g {
			if mb.node != nil && mb.node.IsLeader() {
				if l != nil {
					return false
				}
				l = mb
			}
		}
		return l != nil
	})
	return l
}

// write makes a write on the leader, again on the next leader while the
// leadership moves (a loaded machine can depose one), and returns the
// member whose write was committed. Every write here is idempotent.
func write(t *testing.T, g []*member, w func(*Store) error) *member {
	t.Helper()
	var at *member
	poll.UntilErr(t, 15*time.Second, "a write the leader commits", func() error {
		at = leader(t, g)
		err := w(at.node.Store())
		if err != nil && !errors.Is(err, ErrNotLeader) {
			t.Fatalf("write: %v", err)
		}
		return err
	})
	return at
}

func rec(seq uint64, s string) jobs.Record { return jobs.Record{Seq: seq, Data: []byte(s)} }

// contents reads a local store's jobs and one meta bucket.
func contents(t *testing.T, s Local) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.Load(func(seq uint64, data []byte) error { fmt.Fprintf(&b, "%d=%s ", seq, data); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.LoadMeta("sched", func(k string, v []byte) error { fmt.Fprintf(&b, "%s:%s ", k, v); return nil }); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestGroupReplicatesWrites(t *testing.T) {
	g, _ := group(t, 3)
	write(t, g, func(st *Store) error { return st.Save([]jobs.Record{rec(1, "a"), rec(2, "b")}) })
	write(t, g, func(st *Store) error {
		return st.SaveMetas([]jobs.MetaRecord{{Bucket: "sched", Key: "k", Val: []byte("v")}})
	})
	write(t, g, func(st *Store) error { return st.Save([]jobs.Record{rec(2, "b2"), rec(3, "c")}) })
	l := write(t, g, func(st *Store) error { return st.Delete([]uint64{1}) })
	st := l.node.Store()
	want := "2=b2 3=c k:v "
	if got := contents(t, l.local); got != want {
		t.Fatalf("leader's store: %q, want %q (a write returned before it was applied here)", got, want)
	}
	for _, mb := range g {
		poll.Until(t, 5*time.Second, mb.id+" applies every entry", func() bool { return contents(t, mb.local) == want })
		if hw := mb.local.HighWater(); hw < 3 {
			t.Errorf("%s: high water %d, want >= 3", mb.id, hw)
		}
	}
	// A follower refuses writes, and nothing it refuses is applied.
	for _, mb := range g {
		if mb == l {
			continue
		}
		if err := mb.node.Store().Save([]jobs.Record{rec(9, "x")}); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("%s (follower) Save: %v, want ErrNotLeader", mb.id, err)
		}
	}
	if err := st.Save([]jobs.Record{{Seq: 5}}); !errors.Is(err, jobs.ErrEmptyRecord) {
		t.Fatalf("empty record: %v", err)
	}
	for _, mb := range g {
		if got := contents(t, mb.local); got != want {
			t.Fatalf("%s after refused writes: %q, want %q", mb.id, got, want)
		}
	}
}

func TestNewLeaderHasEveryAcknowledgedWrite(t *testing.T) {
	g, ms := group(t, 3)
	var acked []uint64
	for round := range 3 {
		for i := range 20 {
			seq := uint64(round*100 + i + 1)
			write(t, g, func(st *Store) error { return st.Save([]jobs.Record{rec(seq, "r")}) })
			acked = append(acked, seq)
		}
		l := leader(t, g)
		l.stop() // the leader dies; the other two elect one of them
		nl := leader(t, g)
		if err := nl.node.Barrier(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		have := map[uint64]bool{}
		nl.local.Load(func(seq uint64, _ []byte) error { have[seq] = true; return nil })
		for _, q := range acked {
			if !have[q] {
				t.Fatalf("round %d: new leader %s lacks acknowledged seq %d", round, nl.id, q)
			}
		}
		l.start(t, ms) // it comes back as a follower and catches up
	}
}

func TestSnapshotRestoresAMemberThatLostItsDisk(t *testing.T) {
	g, ms := group(t, 3)
	for i := range 50 {
		write(t, g, func(st *Store) error { return st.Save([]jobs.Record{rec(uint64(i+1), "r")}) })
	}
	l := write(t, g, func(st *Store) error { return st.SaveMeta("sched", "k", []byte("v")) })
	for _, mb := range g {
		if err := mb.node.raft.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
	}
	// Compact the logs so a new member must take the snapshot.
	var f *member
	for _, mb := range g {
		if mb != l {
			f = mb
		}
	}
	f.stop()
	f.dir = t.TempDir() // its disk is gone
	for i := range 30 {
		l = write(t, g, func(st *Store) error { return st.Save([]jobs.Record{rec(uint64(100+i), "s")}) })
	}
	f.start(t, ms)
	want := contents(t, l.local)
	poll.Until(t, 10*time.Second, "the new member holds the leader's store", func() bool { return contents(t, f.local) == want })
	if st := f.node.raft.Stats(); st["last_snapshot_index"] == "0" {
		t.Fatalf("the new member caught up from the log, not from a snapshot: %v", st)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	src, err := jobs.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.Save([]jobs.Record{rec(1, "a"), rec(7, "b")})
	src.Delete([]uint64{9}) // the high water passes every held record
	src.SaveMetas([]jobs.MetaRecord{{Bucket: "sched", Key: "k", Val: []byte("v")}, {Bucket: "sched", Key: "e", Val: []byte{}}})
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := export(src, w); err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	dst, err := jobs.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	dst.Save([]jobs.Record{rec(3, "stale")})
	dst.SaveMetas([]jobs.MetaRecord{{Bucket: "old", Key: "x", Val: []byte("y")}})
	if err := restore(dst, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got, want := contents(t, dst), "1=a 7=b e: k:v "; got != want {
		t.Fatalf("restored %q, want %q", got, want)
	}
	if b, _ := dst.MetaBuckets(); len(b) != 1 || b[0] != "sched" {
		t.Fatalf("buckets after restore: %v (a stale bucket or the restore mark is left)", b)
	}
	if hw := dst.HighWater(); hw < 9 {
		t.Fatalf("high water %d, want >= 9", hw)
	}
	// A truncated or foreign stream fails and says so.
	for _, bad := range [][]byte{buf.Bytes()[:buf.Len()-1], []byte("nope"), append([]byte(snapHeader), 'Z')} {
		if err := restore(dst, bytes.NewReader(bad)); !errors.Is(err, ErrEntry) {
			t.Fatalf("restore of %d damaged bytes: %v, want ErrEntry", len(bad), err)
		}
	}
}

// TestGroupReplicatesJointWrite: a SaveWithMetas is one entry, which
// every member applies whole.
func TestGroupReplicatesJointWrite(t *testing.T) {
	g, _ := group(t, 3)
	write(t, g, func(st *Store) error { return st.Save([]jobs.Record{rec(1, "a")}) })
	before := make([]uint64, len(g))
	for i, mb := range g {
		before[i] = mb.node.raft.LastIndex()
	}
	l := write(t, g, func(st *Store) error {
		return st.SaveWithMetas([]jobs.Record{rec(2, "fired"), rec(3, "too")},
			[]jobs.MetaRecord{{Bucket: "sched", Key: "k", Val: []byte("last")}})
	})
	want := "1=a 2=fired 3=too k:last "
	if got := contents(t, l.local); got != want {
		t.Fatalf("leader's store: %q, want %q", got, want)
	}
	for i, mb := range g {
		poll.Until(t, 5*time.Second, mb.id+" applies the joint entry", func() bool { return contents(t, mb.local) == want })
		if hw := mb.local.HighWater(); hw < 3 {
			t.Errorf("%s: high water %d, want >= 3", mb.id, hw)
		}
		// The write is one entry in every member's raft log, whole, not a
		// save entry and a metas entry.
		var kinds []byte
		for ix := before[i] + 1; ix <= mb.node.raft.LastIndex(); ix++ {
			var l raft.Log
			if err := mb.node.logs.GetLog(ix, &l); err != nil {
				t.Fatal(err)
			}
			if l.Type == raft.LogCommand {
				kinds = append(kinds, l.Data[0])
			}
		}
		// (A write retried after a leader change may be there twice.)
		if len(kinds) == 0 || bytes.Count(kinds, []byte{entrySaveMetas}) != len(kinds) {
			t.Errorf("%s: the joint write is the entries of kinds %v, want one of kind %d", mb.id, kinds, entrySaveMetas)
		}
	}
	st := l.node.Store()
	if err := st.SaveWithMetas([]jobs.Record{{Seq: 9}}, []jobs.MetaRecord{{Bucket: "sched", Key: "k", Val: []byte("no")}}); !errors.Is(err, jobs.ErrEmptyRecord) {
		t.Fatalf("joint write of an empty record: %v", err)
	}
	for _, mb := range g {
		if mb == l {
			continue
		}
		err := mb.node.Store().SaveWithMetas([]jobs.Record{rec(9, "x")}, []jobs.MetaRecord{{Bucket: "sched", Key: "k", Val: []byte("no")}})
		if !errors.Is(err, ErrNotLeader) {
			t.Fatalf("%s (follower) SaveWithMetas: %v, want ErrNotLeader", mb.id, err)
		}
	}
	for _, mb := range g {
		if got := contents(t, mb.local); got != want {
			t.Fatalf("%s after refused writes: %q, want %q", mb.id, got, want)
		}
	}
}

// TestOldEntriesApply: the entries of a log written by a release before
// the joint entry, as it encoded them, still apply.
func TestOldEntriesApply(t *testing.T) {
	local, err := jobs.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	f := &fsm{local: local, onFail: func(err error) { t.Errorf("local store failed: %v", err) }}
	old := [][]byte{
		{entrySave, 2, 1, 1, 'a', 0xac, 2, 2, 'b', 'c'},                                                       // seq 1 "a", seq 300 "bc"
		{entryMetas, 2, 5, 's', 'c', 'h', 'e', 'd', 1, 'k', 1, 1, 'v', 5, 's', 'c', 'h', 'e', 'd', 1, 'd', 0}, // k=v, delete d
		{entryDelete, 1, 1}, // seq 1
	}
	for i, data := range old {
		if res := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data}); res != nil {
			t.Fatalf("entry %d: %v", i+1, res)
		}
	}
	if got, want := contents(t, local), "300=bc k:v "; got != want {
		t.Fatalf("after the old entries: %q, want %q", got, want)
	}
}

func TestEntryRoundTrip(t *testing.T) {
	recs := []jobs.Record{rec(1, "a"), rec(1<<40, string(make([]byte, 300)))}
	e, err := decodeEntry(appendSave(nil, recs))
	if err != nil || len(e.recs) != 2 || e.recs[1].Seq != 1<<40 || len(e.recs[1].Data) != 300 {
		t.Fatalf("save: %+v %v", e, err)
	}
	metas := []jobs.MetaRecord{{Bucket: "b", Key: "del"}, {Bucket: "b", Key: "empty", Val: []byte{}}}
	e, err = decodeEntry(appendMetas(nil, metas))
	if err != nil || e.metas[0].Val != nil || e.metas[1].Val == nil {
		t.Fatalf("metas: a delete and an empty value must stay apart: %+v %v", e.metas, err)
	}
	e, err = decodeEntry(appendDelete(nil, []uint64{4, 5}))
	if err != nil || len(e.seqs) != 2 || e.seqs[1] != 5 {
		t.Fatalf("delete: %+v %v", e, err)
	}
	e, err = decodeEntry(appendSaveMetas(nil, recs, metas))
	if err != nil || e.kind != entrySaveMetas || len(e.recs) != 2 || len(e.recs[1].Data) != 300 ||
		len(e.metas) != 2 || e.metas[0].Val != nil || e.metas[1].Val == nil || e.metas[1].Key != "empty" {
		t.Fatalf("save with metas: %+v %v", e, err)
	}
	for _, bad := range [][]byte{nil, {9}, {entrySave, 5}, append(appendSave(nil, recs), 0),
		appendSave(nil, recs)[:len(appendSave(nil, recs))-1],
		append(appendSaveMetas(nil, recs, metas), 0),                 // a trailing byte
		appendSaveMetas(nil, recs, nil),                              // no metas
		appendSaveMetas(nil, nil, metas),                             // no records
		append([]byte{entrySaveMetas}, appendSave(nil, recs)[1:]...), // the metas missing
	} {
		if _, err := decodeEntry(bad); !errors.Is(err, ErrEntry) {
			t.Fatalf("decode %v: %v, want ErrEntry", bad, err)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(appendSave(nil, []jobs.Record{rec(1, "a")}))
	f.Add(appendMetas(nil, []jobs.MetaRecord{{Bucket: "b", Key: "k", Val: []byte("v")}}))
	f.Add(appendDelete(nil, []uint64{1, 2}))
	f.Add(appendSaveMetas(nil, []jobs.Record{rec(1, "a")}, []jobs.MetaRecord{{Bucket: "b", Key: "k", Val: []byte("v")}, {Bucket: "b", Key: "d"}}))
	encode := func(e entry) []byte {
		switch e.kind {
		case entrySave:
			return appendSave(nil, e.recs)
		case entryMetas:
			return appendMetas(nil, e.metas)
		case entryDelete:
			return appendDelete(nil, e.seqs)
		case entrySaveMetas:
			return appendSaveMetas(nil, e.recs, e.metas)
		}
		panic(fmt.Sprintf("decoded an entry of kind %d", e.kind))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(data)
		if err != nil {
			return
		}
		again := encode(e)
		e2, err := decodeEntry(again)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if e2.kind != e.kind || !bytes.Equal(encode(e2), again) {
			t.Fatalf("entry %x decodes as %+v, which decodes again as %+v", data, e, e2)
		}
	})
}

// Over mutual TLS the group replicates as over TCP, and a peer without
// a certificate of the group's CA cannot even finish a handshake.
func TestGroupOverMutualTLS(t *testing.T) {
	pki := testnet.NewPKI(t)
	g, ms := groupTLS(t, 3, &TLS{Server: pki.Server(), Client: pki.Client()})
	write(t, g, func(st *Store) error { return st.Save([]jobs.Record{rec(1, "a")}) })
	for _, mb := range g {
		poll.Until(t, 5*time.Second, mb.id+" applies the entry", func() bool { return contents(t, mb.local) == "1=a " })
	}
	other := testnet.NewPKI(t) // another CA
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"a certificate of another CA", other.Client()},
		{"no certificate", &tls.Config{RootCAs: pki.Pool}},
	} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", ms[0].Raft, tc.cfg)
		if err == nil {
			// TLS 1.3 reports a refused client certificate at the first read.
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			t.Fatalf("%s: the raft port took the connection", tc.name)
		}
	}
	if _, err := newStream(testnet.DeadAddr(t), nil, &TLS{Server: &tls.Config{}, Client: pki.Client()}); err == nil {
		t.Fatal("a raft transport over TLS without client certificates was accepted")
	}
}

// A member bound to one address dials its peers from that address.
func TestStreamDialsFromItsBindAddress(t *testing.T) {
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s, err := newStream("127.0.0.2:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Dial(raft.ServerAddress(peer.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, err := peer.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if ip := in.RemoteAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
		t.Fatalf("the connection came from %s, want 127.0.0.2", ip)
	}
}
