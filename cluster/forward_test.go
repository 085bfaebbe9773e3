package cluster

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// TestStandbyForwardsToTheLeader: the JSON API and the dashboard work on
// any member (docs/ha.md, "Who leads"): a standby forwards them to the
// leader (reads, a submit, the dashboard and its event stream), and
// answers its own GET /api/v1/cluster. With tokens it asks for one first,
// and the leader applies the token's role. A cross-site write stops at
// the standby, and a request a standby forwarded is not forwarded again.
func TestStandbyForwardsToTheLeader(t *testing.T) {
	const adminTok, readTok = "admin-token-0123456789abcdef", "read-token-0123456789abcdef"
	g := newGroupWith(t, 3, func(c *master.Config) {
		c.Tokens = []rpcapi.Credential{{Name: "ops", Role: rpcapi.RoleAdmin, Token: adminTok},
			{Name: "viewer", Role: rpcapi.RoleRead, Token: readTok}}
	})
	l := g.leader()
	s := (l + 1) % 3
	standby, leader := "http://"+g.members[s].RPC, "http://"+g.members[l].RPC
	do := func(method, url, token, body string, hdr ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	for _, path := range []string{"status", "cluster"} {
		if code, body := do("GET", standby+master.APIPrefix+path, "", ""); code != http.StatusUnauthorized || !strings.Contains(body, `"code":"unauthorized"`) {
			t.Fatalf("GET %s on a standby without a token: %d %s, want 401 and the API's JSON error", path, code, body)
		}
	}
	// A submit through the standby is the leader's job.
	var sub struct{ IDs []string }
	poll.Until(t, 10*time.Second, "a submit through the standby", func() bool {
		code, body := do("POST", standby+master.APIPrefix+"jobs", adminTok, `{"type": "echo", "key": "via-standby"}`)
		return code == http.StatusCreated && json.Unmarshal([]byte(body), &sub) == nil && len(sub.IDs) == 1
	})
	for _, base := range []string{leader, standby} {
		if code, body := do("GET", base+master.APIPrefix+"jobs/"+sub.IDs[0], readTok, ""); code != http.StatusOK || !strings.Contains(body, `"via-standby"`) {
			t.Fatalf("GET job %s on %s: %d %s", sub.IDs[0], base, code, body)
		}
	}
	if code, body := do("POST", standby+master.APIPrefix+"jobs", readTok, `{"type": "echo"}`); code != http.StatusForbidden {
		t.Fatalf("a submit with a read token through the standby: %d %s, want 403 from the leader", code, body)
	}
	if code, body := do("GET", standby+"/", readTok, ""); code != http.StatusOK || !strings.Contains(body, "<title>drover") {
		t.Fatalf("the dashboard through the standby: %d %.300s", code, body)
	}
	if code, body := do("GET", standby+master.APIPrefix+"cluster", readTok, ""); code != http.StatusOK ||
		!strings.Contains(body, `"id":"`+g.members[s].ID+`"`) || !strings.Contains(body, `"state":"Follower"`) {
		t.Fatalf("GET /api/v1/cluster on the standby: %d %s, want its own status", code, body)
	}
	if code, body := do("POST", standby+master.APIPrefix+"jobs", adminTok, `{"type": "echo"}`, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Fatalf("a cross-site submit to the standby: %d %s, want 403", code, body)
	}
	if code, body := do("GET", standby+master.APIPrefix+"status", readTok, "", forwardedBy, "m9"); code != http.StatusServiceUnavailable ||
		!strings.Contains(body, `"not_leader"`) {
		t.Fatalf("a request forwarded once already: %d %s, want the standby's own 503", code, body)
	}

	// The event stream comes through as it goes.
	req, err := http.NewRequest("GET", standby+master.APIPrefix+"events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+readTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET events through the standby: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(resp.Body).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if l == "" {
			t.Fatal("the event stream through the standby ended at once")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event through the standby in 10 s")
	}
}
