package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/drover/drover/client"
	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// group is three members on loopback, each with its own data dir.
type group struct {
	t       *testing.T
	adjust  func(*master.Config) // nil, or changes every member's master config
	join    map[int]bool         // members that join instead of forming the group
	members []Member
	// listen, when set, holds where each member's master listens, and
	// members their RPC addresses as the group names them, where nothing
	// listens (newHiddenGroup).
	listen []string
	dirs   []string
	nodes  []*Node
}

// fastRaft shortens raft's timeouts for the tests, but not so far that a
// member starved of CPU under the race detector beside other packages'
// tests (the whole tree runs at once) misses heartbeats and forces an
// election mid-test: at 500 ms that happened (TestMembersAddedAndRemoved
// found its leader gone).
func fastRaft(c *raft.Config) {
	c.HeartbeatTimeout = time.Second
	c.ElectionTimeout = time.Second
	c.LeaderLeaseTimeout = 500 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
}

func newGroup(t *testing.T, n int) *group { return newGroupWith(t, n, nil) }

func newGroupWith(t *testing.T, n int, adjust func(*master.Config)) *group {
	return startGroup(t, n, adjust, false)
}

// newHiddenGroup starts a group whose members name RPC addresses where
// nothing listens (their masters listen at g.listen): a standby cannot
// reach the leader to forward to it, and answers itself.
func newHiddenGroup(t *testing.T, n int, adjust func(*master.Config)) *group {
	return startGroup(t, n, adjust, true)
}

func startGroup(t *testing.T, n int, adjust func(*master.Config), hidden bool) *group {
	g := &group{t: t, adjust: adjust}
	addrs := testnet.DeadAddrs(t, 3*n)
	for i := range n {
		g.members = append(g.members, Member{ID: fmt.Sprintf("m%d", i+1), Raft: addrs[3*i], RPC: addrs[3*i+1]})
		if hidden {
			g.listen = append(g.listen, addrs[3*i+2])
		}
		g.dirs = append(g.dirs, t.TempDir())
	}
	g.nodes = make([]*Node, n)
	for i := range n {
		g.start(i)
	}
	t.Cleanup(func() {
		for i := range g.nodes {
			g.stop(i)
		}
	})
	return g
}

func (g *group) start(i int) {
	g.t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	if os.Getenv("CLUSTER_TEST_LOG") != "" {
		log.SetOutput(os.Stderr)
	}
	cfg := Config{ID: g.members[i].ID, Members: g.members, Raft: fastRaft, Join: g.join[i],
		Master: master.Config{Listen: g.addr(i), DataDir: g.dirs[i], Logger: log,
			HeartbeatInterval: 100 * time.Millisecond, DeadAfter: time.Second}}
	if g.adjust != nil {
		g.adjust(&cfg.Master)
	}
	n, err := Start(cfg)
	if err != nil {
		g.t.Fatal(err)
	}
	g.nodes[i] = n
}

// addr is where member i's master listens.
func (g *group) addr(i int) string {
	if g.listen != nil {
		return g.listen[i]
	}
	return g.members[i].RPC
}

func (g *group) stop(i int) {
	if g.nodes[i] != nil {
		g.nodes[i].Close()
		g.nodes[i] = nil
	}
}

// leader waits until one member's master runs and returns its index.
func (g *group) leader() int {
	g.t.Helper()
	at := -1
	poll.Until(g.t, 15*time.Second, "a leader's master", func() bool {
		at = -1
		for i, n := range g.nodes {
			if n != nil && n.Master() != nil {
				if at >= 0 {
					return false
				}
				at = i
			}
		}
		return at >= 0
	})
	return at
}

func dial(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStandbysAnswerNotLeaderAndNameTheLeader(t *testing.T) {
	g := newGroup(t, 3)
	l := g.leader()
	lrpc := g.members[l].RPC
	for i, m := range g.members {
		if i == l {
			continue
		}
		var err error
		poll.Until(t, 5*time.Second, m.ID+" knows the leader", func() bool {
			_, err = dial(t, m.RPC).Submit(context.Background(), jobs.Spec{Type: "echo"})
			return err != nil && strings.Contains(err.Error(), "the leader is at "+lrpc)
		})
		resp, err := http.Get("http://" + m.RPC + master.APIPrefix + "cluster")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"leader_rpc":"`+lrpc+`"`) {
			t.Fatalf("%s: GET /api/v1/cluster: %d %s", m.ID, resp.StatusCode, body)
		}
		// docs/ha.md: the XML-RPC introspection calls are the exception,
		// answered as any master answers them.
		resp, err = http.Post("http://"+m.RPC+"/RPC2", "text/xml",
			strings.NewReader(`<?xml version="1.0"?><methodCall><methodName>system.listMethods</methodName><params></params></methodCall>`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(body), "faultCode") || !strings.Contains(string(body), "<string>submit_jobs</string>") {
			t.Fatalf("%s: system.listMethods: %d %s", m.ID, resp.StatusCode, body)
		}
	}
}

// TestTakeoverKeepsEveryAcknowledgedJob: three times, the leader stops
// and a standby takes over with every acknowledged job pending; its
// master takes them from the live jobs the standby kept decoded while it
// followed (its log says warm), reading none from its store.
func TestTakeoverKeepsEveryAcknowledgedJob(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	g := newGroupWith(t, 3, func(c *master.Config) { c.Logger = log })
	var ids []string
	for round := range 3 {
		l := g.leader()
		for i := range 10 {
			// A key makes a submit safe to send again: an election on a
			// loaded machine may end a call mid-way.
			spec := jobs.Spec{Type: "echo", Key: fmt.Sprintf("r%d-%d", round, i)}
			var got []string
			var err error
			poll.Until(t, 10*time.Second, "a submit the leader acknowledges", func() bool {
				got, err = dial(t, g.members[g.leader()].RPC).Submit(context.Background(), spec)
				return err == nil || !errors.Is(err, rpcapi.ErrUnavailable)
			})
			if err != nil {
				t.Fatalf("round %d: submit to the leader: %v", round, err)
			}
			ids = append(ids, got...)
		}
		l = g.leader()
		g.stop(l) // the leader goes; a standby takes over
		nl := g.leader()
		if nl == l {
			t.Fatal("the stopped member leads")
		}
		nc := dial(t, g.members[nl].RPC)
		for _, id := range ids {
			var j client.JobInfo
			var err error
			poll.Until(t, 5*time.Second, "the new leader answers", func() bool {
				j, err = nc.Job(context.Background(), id)
				return err == nil || !errors.Is(err, rpcapi.ErrUnavailable)
			})
			if err != nil || j.Job.State != jobs.Pending {
				t.Fatalf("round %d: job %s on the new leader %s: %+v %v", round, id, g.members[nl].ID, j.Job.State, err)
			}
		}
		loads := liveLoads(hook)
		if len(loads) != round+2 {
			t.Fatalf("round %d: %d loads of live jobs logged, want %d", round, len(loads), round+2)
		}
		if e := loads[len(loads)-1]; e.Data["warm"] != true || e.Data["live"] != len(ids) {
			t.Fatalf("round %d: the new leader loaded %v live jobs, warm %v; want %d, warm (kept while it followed)",
				round, e.Data["live"], e.Data["warm"], len(ids))
		}
		g.start(l) // back as a standby
	}
}

// liveLoads returns the log entries of masters that loaded their live jobs.
func liveLoads(hook *logtest.Hook) []*logrus.Entry {
	var out []*logrus.Entry
	for _, e := range hook.AllEntries() {
		if e.Message == "store: live jobs loaded" {
			out = append(out, e)
		}
	}
	return out
}

// Quorum lost for good: two of three members' disks are gone. The
// operator writes peers.json (hashicorp/raft's recovery) into the
// survivor's raft dir naming only itself; it starts, leads alone and has
// every acknowledged job.
func TestPeersJSONRecoversALostQuorum(t *testing.T) {
	g := newGroup(t, 3)
	l := g.leader()
	c := dial(t, g.members[l].RPC)
	var ids []string
	for range 20 {
		got, err := c.Submit(context.Background(), jobs.Spec{Type: "echo"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got...)
	}
	survivor := (l + 1) % 3 // a follower that has every acknowledged entry
	commit := g.nodes[l].Status().Commit
	poll.Until(t, 5*time.Second, "the survivor applies every entry", func() bool { return g.nodes[survivor].Status().Applied >= commit })
	for i := range g.nodes {
		g.stop(i)
	}
	// Alone, the survivor cannot elect itself: no quorum. Nothing marks
	// "did not happen", so it is watched for six election timeouts.
	g.start(survivor)
	deadline := time.Now().Add(6 * 500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if st := g.nodes[survivor].Status(); g.nodes[survivor].Master() != nil || st.State == "Leader" {
			t.Fatalf("a member without a quorum leads: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.stop(survivor)

	m := g.members[survivor]
	peers := fmt.Sprintf(`[{"id": %q, "address": %q, "non_voter": false}]`, m.ID, m.Raft)
	if err := os.WriteFile(filepath.Join(g.dirs[survivor], "raft", "peers.json"), []byte(peers), 0o600); err != nil {
		t.Fatal(err)
	}
	g.start(survivor)
	if got := g.leader(); got != survivor {
		t.Fatalf("leader %d, want the survivor %d", got, survivor)
	}
	sc := dial(t, m.RPC)
	for _, id := range ids {
		var err error
		poll.Until(t, 5*time.Second, "the survivor's master answers", func() bool {
			_, err = sc.Job(context.Background(), id)
			return err == nil || !errors.Is(err, rpcapi.ErrUnavailable)
		})
		if err != nil {
			t.Fatalf("job %s after recovery: %v", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(g.dirs[survivor], "raft", "peers.json.done")); err != nil {
		t.Fatalf("peers.json is not marked done: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(g.dirs[survivor], "raft", "export-*")); len(left) > 0 {
		t.Fatalf("the recovery left store exports behind: %v", left)
	}
	if _, err := sc.Submit(context.Background(), jobs.Spec{Type: "echo"}); err != nil {
		t.Fatalf("submit after recovery: %v", err)
	}
}

// With the master's mutual TLS the members verify each other on the raft
// port and the standby serves TLS as the master does; TLS that is not
// mutual is refused at start.
func TestGroupOverMutualTLS(t *testing.T) {
	pki := testnet.NewPKI(t)
	g := newGroupWith(t, 3, func(c *master.Config) { c.TLS, c.ClientTLS = pki.Server(), pki.Client() })
	l := g.leader()
	c, err := client.Dial(g.members[l].RPC, client.WithTLS(pki.Client()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Submit(context.Background(), jobs.Spec{Type: "echo"}); err != nil {
		t.Fatalf("submit over TLS to the leader: %v", err)
	}
	standby := g.members[(l+1)%3].RPC
	sc, err := client.Dial(standby, client.WithTLS(pki.Client()))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.Submit(context.Background(), jobs.Spec{Type: "echo"}); err == nil || !strings.Contains(err.Error(), "the leader is at "+g.members[l].RPC) {
		t.Fatalf("submit over TLS to a standby: %v, want the leader named", err)
	}

	one := pki.Server()
	one.ClientAuth, one.ClientCAs = 0, nil
	_, err = Start(Config{ID: "x", Members: []Member{{ID: "x", Raft: testnet.DeadAddr(t), RPC: testnet.DeadAddr(t)}},
		Master: master.Config{DataDir: t.TempDir(), TLS: one, ClientTLS: pki.Client()}})
	if err == nil || !strings.Contains(err.Error(), "tls_ca") {
		t.Fatalf("TLS without client certificates: %v, want a refusal naming tls_ca", err)
	}
}

// post sends a JSON body to a member's API path and returns the status
// and the body.
func post(t *testing.T, addr, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+master.APIPrefix+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A fourth member starts to join; an admin adds it on the leader; it
// catches up with every job; it is removed again. Mistakes are refused.
func TestMembersAddedAndRemoved(t *testing.T) {
	g := newGroup(t, 3)
	l := g.leader()
	lrpc := g.members[l].RPC
	c := dial(t, lrpc)
	id, err := c.Submit(context.Background(), jobs.Spec{Type: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	// The fourth member: its own list names it and the others; it joins.
	a4 := testnet.DeadAddrs(t, 2)
	m4 := Member{ID: "m4", Raft: a4[0], RPC: a4[1]}
	g.members = append(g.members, m4)
	g.dirs = append(g.dirs, t.TempDir())
	g.nodes = append(g.nodes, nil)
	g.join = map[int]bool{3: true}
	g.start(3)

	standby := g.members[(l+1)%3].RPC
	body := fmt.Sprintf(`{"id": "m4", "raft": %q, "rpc": %q}`, m4.Raft, m4.RPC)
	for _, tc := range []struct {
		addr, path, body string
		want             int
	}{
		{lrpc, "cluster/members", fmt.Sprintf(`{"id": "m1", "raft": %q, "rpc": %q}`, m4.Raft, m4.RPC), 400},
		{lrpc, "cluster/members", `{"id": "m5", "raft": "nohost", "rpc": "h:1"}`, 400},
		{lrpc, "cluster/members", `{"id": "m5", "bogus": 1}`, 400},
		{lrpc, "cluster/members/m9/remove", "", 404},
	} {
		if code, b := post(t, tc.addr, tc.path, tc.body); code != tc.want {
			t.Fatalf("POST %s %s: %d %s, want %d", tc.path, tc.body, code, b, tc.want)
		}
	}
	// Through a standby, which forwards it to the leader.
	if code, b := post(t, standby, "cluster/members", body); code != 200 || !strings.Contains(b, `"m4"`) {
		t.Fatalf("add m4 through the standby: %d %s", code, b)
	}
	poll.Until(t, 10*time.Second, "m4 applies the group's log", func() bool {
		st := g.nodes[3].Status()
		return st.Leader == g.members[l].ID && len(st.Members) == 4 && st.Applied >= g.nodes[l].Status().Commit
	})
	if _, err := g.nodes[3].local.Get(1); err != nil {
		t.Fatalf("m4's store lacks job %s: %v", id[0], err)
	}
	// A standby added later names the leader too.
	if _, err := dial(t, m4.RPC).Submit(context.Background(), jobs.Spec{Type: "echo"}); err == nil || !strings.Contains(err.Error(), "the leader is at "+lrpc) {
		t.Fatalf("submit to m4: %v, want the leader named", err)
	}
	if code, b := post(t, lrpc, "cluster/members/m4/remove", ""); code != 200 || strings.Contains(b, `"m4"`) {
		t.Fatalf("remove m4: %d %s", code, b)
	}
}

// A gob connection made to a standby is closed when the member's master
// takes the address over: the same client's next call reaches the
// master, not the standby that served the connection.
func TestStandbyConnectionsEndAtTakeover(t *testing.T) {
	g := newGroup(t, 3)
	l := g.leader()
	s := (l + 1) % 3
	gc := rpcapi.NewClient(g.members[s].RPC)
	defer gc.Close()
	mc := rpcapi.MasterClient{C: gc}
	if _, err := mc.Status(context.Background()); !errors.Is(err, rpcapi.ErrNotLeader) {
		t.Fatalf("status from the standby: %v, want not_leader", err)
	}
	for l != s { // move the leadership until s leads
		g.stop(l)
		nl := g.leader()
		g.start(l)
		l = nl
	}
	var err error
	poll.Until(t, 10*time.Second, "the same client reaches the new leader's master", func() bool {
		_, err = mc.Status(context.Background())
		return err == nil
	})
}

// TestWorkerRepliesCarryTheTerm: the leader's answers to a worker name
// the raft term it leads in (docs/protocol.md, "Several masters"), over
// both transports, and the next leader's term is higher, so a worker that
// heard from it refuses the deposed one.
func TestWorkerRepliesCarryTheTerm(t *testing.T) {
	g := newGroup(t, 3)
	register := func(l int, transport string) (*rpcapi.RegisterReply, error) {
		c, err := rpcapi.NewCaller(g.members[l].RPC, transport)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		mc := rpcapi.MasterClient{C: c}
		r, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: "t", Types: []string{"echo"}, Slots: 1, Mode: rpcapi.ModePull})
		if err != nil {
			return r, err
		}
		hb, err := mc.Heartbeat(ctx, &rpcapi.HeartbeatArgs{WorkerID: r.WorkerID, Secret: r.Secret})
		if err == nil && hb.Term != r.Term {
			t.Errorf("%s: heartbeat reply term %d, register reply term %d", transport, hb.Term, r.Term)
		}
		return r, err
	}
	var last int64
	for round := range 2 {
		l := g.leader()
		term := int64(g.nodes[l].Status().Term)
		for _, tr := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
			var r *rpcapi.RegisterReply
			var err error
			poll.Until(t, 10*time.Second, "the leader registers a worker", func() bool {
				r, err = register(l, tr)
				return err == nil
			})
			if r.Term != term || r.Term <= last {
				t.Errorf("round %d, %s: register reply term %d; the leader's raft term is %d, the last leader's %d", round, tr, r.Term, term, last)
			}
		}
		last = term
		g.stop(l)
	}
}
