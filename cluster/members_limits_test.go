package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/drover/drover/client"
	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
)

// An admin's add with an id far longer than any store key (40,000 bytes,
// under max_request_body) is a bad request, and the group runs on: no
// member stops, and the leader still takes a submit. docs/api.md: "An ID
// already in the group, an address that is not host:port or an unknown
// member of the body is bad_request"; a request that fails changes nothing.
func TestAHugeMemberIDIsRefusedAndTheGroupRuns(t *testing.T) {
	g := newGroup(t, 3)
	l := g.leader()
	lrpc := g.members[l].RPC
	body := fmt.Sprintf(`{"id": %q, "raft": %q, "rpc": %q}`,
		strings.Repeat("x", 40000), testnet.DeadAddr(t), testnet.DeadAddr(t))
	code, b := post(t, lrpc, "cluster/members", body)
	if len(b) > 200 {
		b = b[:200]
	}
	t.Logf("POST cluster/members with a 40,000-byte id: %d %s", code, b)
	for i, n := range g.nodes {
		select {
		case <-n.Done():
			t.Errorf("member m%d stopped on its own: %v", i+1, n.Err())
		default:
		}
	}
	if code != 400 {
		t.Errorf("POST cluster/members with a 40,000-byte id: %d, want 400", code)
	}
	addrs := make([]string, len(g.members))
	for i, m := range g.members {
		addrs[i] = m.RPC
	}
	c, err := client.Dial(strings.Join(addrs, ","), client.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	poll.UntilErr(t, 15*time.Second, "a submit to the group", func() error {
		_, err := c.Submit(context.Background(), jobs.Spec{Type: "echo"})
		return err
	})
}

// A member whose raft transport binds every interface (raft_listen =
// "0.0.0.0:PORT") without TLS is reachable beyond loopback, so it warns at
// start as docs/ha.md says of a group not all on loopback, even though
// every member's raft address is a loopback one.
func TestRaftListenOnEveryInterfaceWarns(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	m := Member{ID: "m1", Raft: testnet.DeadAddr(t), RPC: testnet.DeadAddr(t)}
	_, port, err := net.SplitHostPort(m.Raft)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(Config{ID: "m1", Members: []Member{m}, Raft: fastRaft,
		RaftListen: net.JoinHostPort("0.0.0.0", port),
		Master:     master.Config{Listen: m.RPC, DataDir: t.TempDir(), Logger: log}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, e := range hook.AllEntries() {
		if e.Level <= logrus.WarnLevel && strings.Contains(e.Message, "NO TLS") {
			return
		}
	}
	t.Fatalf("no warning at start of a plain-TCP raft transport bound to 0.0.0.0:%s", port)
}

// Removing the leader is an admin's documented move (docs/ha.md: "removing
// the leader hands the leadership on"), and the endpoint's reply is the
// group's status after the change (docs/api.md). The leader answers it,
// rather than closing the connection with no reply, which `drover cluster
// remove` reports as a failure (exit 4) of a removal that happened.
func TestRemovingTheLeaderAnswers(t *testing.T) {
	g := newGroup(t, 3)
	l := g.leader()
	resp, err := http.Post("http://"+g.members[l].RPC+master.APIPrefix+"cluster/members/"+g.members[l].ID+"/remove", "application/json", nil)
	if err != nil {
		t.Fatalf("remove the leader %s: %v", g.members[l].ID, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || strings.Contains(string(b), `"ID":"`+g.members[l].ID+`"`) {
		t.Fatalf("remove the leader %s: %d %s, want 200 and the group without it", g.members[l].ID, resp.StatusCode, b)
	}
}

// docs/ha.md: keep an odd number of members. A member of a group of two
// or four says at start what the even number buys (nothing); one of
// three does not; and the count it logs is the group's as raft has it.
func TestEvenGroupWarns(t *testing.T) {
	for _, n := range []int{2, 3, 4} {
		log, hook := logtest.NewNullLogger()
		addrs := testnet.DeadAddrs(t, 2*n)
		var ms []Member
		for i := range n {
			ms = append(ms, Member{ID: fmt.Sprintf("m%d", i+1), Raft: addrs[2*i], RPC: addrs[2*i+1]})
		}
		node, err := Start(Config{ID: "m1", Members: ms, Raft: fastRaft,
			Master: master.Config{Listen: ms[0].RPC, DataDir: t.TempDir(), Logger: log}})
		if err != nil {
			t.Fatal(err)
		}
		node.Close()
		warned, counted := false, false
		for _, e := range hook.AllEntries() {
			warned = warned || (e.Level == logrus.WarnLevel && strings.Contains(e.Message, "an even number"))
			counted = counted || (e.Message == "cluster member started; standby until elected" && e.Data["members"] == n)
		}
		if warned != (n%2 == 0) || !counted {
			t.Fatalf("%d members: warned %v, start line counted %d members %v", n, warned, n, counted)
		}
	}
}
