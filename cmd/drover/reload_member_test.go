package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/rpcapi"
)

// memberState is the state member i of g says it is in (GET
// /api/v1/cluster with token), "" when it does not answer, and the HTTP
// status.
func memberState(g *testproc.HACluster, i int, token string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.RPC[i]+"/api/v1/cluster", nil)
	if err != nil {
		return "", 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0
	}
	defer res.Body.Close()
	var s testproc.MemberStatus
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&s) != nil {
		return "", res.StatusCode
	}
	return s.State, res.StatusCode
}

// TestSIGHUPReloadsMembers runs a raft group of three drover master
// processes. A SIGHUP after a tokens file is named in every member's file
// puts its token in force on every member. After the tokens file, the
// limits and a jobs file changed, a SIGHUP to every member makes the
// leader and the standbys refuse the old token and accept the new one (on
// GET /api/v1/cluster and on an RPC call, which a standby answers with
// not_leader), logs the limits changed everywhere, the jobs file
// submitted by the leader and kept by the standbys, and a changed
// [cluster] table as waiting for a restart. Once the leader is killed,
// the new leader's master takes the new token only and has the jobs
// file's job once.
func TestSIGHUPReloadsMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts master processes")
	}
	const oldTok, newTok = "tok-old-3c9d1e", "tok-new-8b27f4"
	// Started without tokens: StartHA finds the leader without one.
	g := testproc.StartHA(t, testproc.HAConfig{Masters: 3, ClusterConfig: testproc.ClusterConfig{Master: "[type_limits]\nslow = 1\n"}})
	l, _ := g.Leader(20 * time.Second)
	standby := (l + 1) % 3
	tokens, jobsFile := filepath.Join(g.Dir, "tokens"), filepath.Join(g.Dir, "jobs.toml")
	confs := make([]string, 3)
	edit := func(i int, edit func(string) string) {
		t.Helper()
		b, err := os.ReadFile(confs[i])
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, confs[i], edit(string(b)))
	}
	hup := func(round int) {
		t.Helper()
		for _, p := range g.Members {
			p.Signal(syscall.SIGHUP)
		}
		for i, p := range g.Members {
			testproc.Poll(t, 10*time.Second, fmt.Sprintf("member %d to reload its tokens (SIGHUP %d)", i, round), func() bool {
				return strings.Count(p.Output(), "SIGHUP: tokens reloaded") == round
			})
		}
	}

	writeFile(t, tokens, "ops admin "+oldTok+"\n")
	for i := range confs {
		confs[i] = filepath.Join(g.Dir, fmt.Sprintf("m%d.toml", i+1)) // StartHA's names
		edit(i, func(s string) string { return fmt.Sprintf("tokens_file = %q\n", tokens) + s })
	}
	hup(1)
	for _, i := range []int{l, standby} {
		if _, s := memberState(g, i, ""); s != http.StatusUnauthorized {
			t.Fatalf("member %d after the first SIGHUP: no token gets %d; want 401", i, s)
		}
		if _, s := memberState(g, i, oldTok); s != http.StatusOK {
			t.Fatalf("member %d after the first SIGHUP: the token gets %d; want 200", i, s)
		}
	}

	writeFile(t, tokens, "ops admin "+newTok+"\n")
	writeFile(t, jobsFile, "[[job]]\ntype = \"from-file\"\nkey = \"x\"\n")
	for i := range confs {
		edit(i, func(s string) string {
			return fmt.Sprintf("jobs_file = %q\n", jobsFile) + strings.Replace(s, "slow = 1", "slow = 2", 1)
		})
	}
	edit(standby, func(s string) string {
		return strings.Replace(s, fmt.Sprintf("raft_listen = %q", g.Raft[standby]), `raft_listen = "127.0.0.1:1"`, 1)
	})
	hup(2)
	for i, p := range g.Members {
		if keys := p.LogField("SIGHUP: limits changed", "keys", 10*time.Second); keys != "type_limits" {
			t.Errorf("member %d: limits changed: keys %q; want type_limits", i, keys)
		}
		if i == l {
			if n := p.LogField("SIGHUP: jobs file submitted", "new", 10*time.Second); n != "1" {
				t.Errorf("the leader: jobs file submitted: new %q; want 1", n)
			}
		} else {
			p.WaitFor("SIGHUP: jobs file kept; this member submits it when it leads", 10*time.Second)
		}
	}
	if keys := g.Members[standby].LogField("SIGHUP: these keys changed but take effect only at a restart", "keys", time.Second); keys != "cluster" {
		t.Errorf("restart keys %q; want cluster", keys)
	}
	checkTokens := func(who string, i int, leads bool) {
		t.Helper()
		if _, s := memberState(g, i, oldTok); s != http.StatusUnauthorized {
			t.Errorf("%s: GET /api/v1/cluster with the old token: %d; want 401", who, s)
		}
		if _, s := memberState(g, i, newTok); s != http.StatusOK {
			t.Errorf("%s: GET /api/v1/cluster with the new token: %d; want 200", who, s)
		}
		c := tokenCalls{t: t, addr: g.RPC[i]}
		if err := c.status(oldTok); !errors.Is(err, rpcapi.ErrUnauthorized) {
			t.Errorf("%s: status with the old token: %v; want ErrUnauthorized", who, err)
		}
		if err := c.status(newTok); leads && err != nil || !leads && !errors.Is(err, rpcapi.ErrNotLeader) {
			t.Errorf("%s: status with the new token: %v; want an answer from the leader, not_leader from a standby", who, err)
		}
	}
	checkTokens("the leader", l, true)
	checkTokens("a standby", standby, false)

	g.KillMember(l)
	nl := -1
	testproc.Poll(t, 20*time.Second, "a new leader", func() bool {
		for i := range g.Members {
			if st, _ := memberState(g, i, newTok); i != l && st == "Leader" && (tokenCalls{t: t, addr: g.RPC[i]}).status(newTok) == nil {
				nl = i
				return true
			}
		}
		return false
	})
	checkTokens("the new leader", nl, true)
	cl := rpcapi.NewClient(g.RPC[nl], rpcapi.WithToken(newTok))
	t.Cleanup(func() { cl.Close() })
	js := listType(rpcapi.MasterClient{C: cl}, "from-file")
	if len(js) != 1 || js[0].Spec.Key != "file:x" {
		t.Errorf("the new leader's jobs of the jobs file: %+v; want one, key file:x", js)
	}
	for i, p := range g.Members {
		if i != l && p.Exited() {
			t.Errorf("member %d exited: %v", i, p.Err())
		}
	}
}
