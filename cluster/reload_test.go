package cluster

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/drover/drover/client"
	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// clusterStatus is the status of GET /api/v1/cluster on addr with token.
func clusterStatus(t *testing.T, addr, token string) int {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+master.APIPrefix+"cluster", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// keysOf returns the keys of the jobs of type typ on the master at addr.
func keysOf(t *testing.T, addr, token, typ string) []string {
	t.Helper()
	c, err := client.Dial(addr, client.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := c.JobsPage(context.Background(), client.Query{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, j := range p.Jobs {
		keys = append(keys, j.Spec.Key)
	}
	slices.Sort(keys)
	return keys
}

// TestNodeReloads: the reload methods of every member of a group with
// tokens. Sets the leader's master or a standby would refuse (no token
// left, an invalid one, a negative limit, a job without a key) change
// nothing; new tokens are in force on the leader and the standbys at
// once; a jobs file is submitted by the leader and kept by the standbys
// (ErrNotLeading); once the leader stops, the new leader's master has the
// new tokens and submits the jobs file the standbys kept.
func TestNodeReloads(t *testing.T) {
	const oldTok, newTok = "old-token-0123456789abcdef", "new-token-0123456789abcdef"
	g := newGroupWith(t, 3, func(c *master.Config) {
		c.Tokens = []rpcapi.Credential{{Name: "ops", Role: rpcapi.RoleAdmin, Token: oldTok}}
	})
	l := g.leader()
	standby := (l + 1) % 3
	for i, n := range g.nodes {
		for _, bad := range [][]rpcapi.Credential{nil, {{Name: "ops", Role: "boss", Token: newTok}}} {
			if err := n.SetTokens(bad); err == nil {
				t.Fatalf("member %d took the tokens %v", i, bad)
			}
		}
		if err := n.SetLimits(nil, map[string]master.Limit{"slow": {Concurrency: -1}}, master.Limit{}); err == nil {
			t.Fatalf("member %d took a negative limit", i)
		}
		if _, _, err := n.SubmitJobsFile(context.Background(), []jobs.Spec{{Type: "file"}}); err == nil || errors.Is(err, ErrNotLeading) {
			t.Fatalf("member %d: a job without a key: %v, want it refused", i, err)
		}
	}
	for _, i := range []int{l, standby} {
		if s := clusterStatus(t, g.members[i].RPC, oldTok); s != http.StatusOK {
			t.Fatalf("member %d after refused reloads: the old token gets %d", i, s)
		}
	}

	for i, n := range g.nodes {
		if err := n.SetTokens([]rpcapi.Credential{{Name: "ops", Role: rpcapi.RoleAdmin, Token: newTok}}); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		if err := n.SetLimits(nil, map[string]master.Limit{"slow": {Concurrency: 2}}, master.Limit{}); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	for _, i := range []int{l, standby} {
		if old, nw := clusterStatus(t, g.members[i].RPC, oldTok), clusterStatus(t, g.members[i].RPC, newTok); old != http.StatusUnauthorized || nw != http.StatusOK {
			t.Fatalf("member %d (leader %d): the old token gets %d, the new one %d; want 401 and 200", i, l, old, nw)
		}
	}

	first := []jobs.Spec{{Type: "file", Key: "a"}}
	added, known, err := g.nodes[l].SubmitJobsFile(context.Background(), first)
	if err != nil || added != 1 || known != 0 {
		t.Fatalf("the leader's SubmitJobsFile: %d new, %d known, %v; want 1 new", added, known, err)
	}
	second := []jobs.Spec{{Type: "file", Key: "a"}, {Type: "file", Key: "b"}}
	for i, n := range g.nodes {
		if i == l {
			continue
		}
		if _, _, err := n.SubmitJobsFile(context.Background(), second); !errors.Is(err, ErrNotLeading) {
			t.Fatalf("standby %d's SubmitJobsFile: %v; want ErrNotLeading", i, err)
		}
	}
	if keys := keysOf(t, g.members[l].RPC, newTok, "file"); !slices.Equal(keys, []string{"a"}) {
		t.Fatalf("jobs of the file on the leader: %v; want a only (the standbys submit nothing)", keys)
	}

	g.stop(l)
	nl := g.leader()
	addr := g.members[nl].RPC
	if old, nw := clusterStatus(t, addr, oldTok), clusterStatus(t, addr, newTok); old != http.StatusUnauthorized || nw != http.StatusOK {
		t.Fatalf("the new leader: the old token gets %d, the new one %d; want 401 and 200", old, nw)
	}
	var keys []string
	poll.Until(t, 10*time.Second, "the new leader to submit the kept jobs file", func() bool {
		keys = keysOf(t, addr, newTok, "file")
		return slices.Equal(keys, []string{"a", "b"})
	})
}
