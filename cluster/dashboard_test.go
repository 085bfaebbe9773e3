package cluster

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/internal/testbrowser"
	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// The dashboard on a raft group (docs/ha.md, "Who leads"; docs/api.md,
// "The dashboard"): the leader's overview shows the group, a standby's
// pages say where the leader is.

// getPage GETs url with client and returns the response and its body.
func getPage(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

var leaderHref = regexp.MustCompile(`<a id="leader" href="([^"]*)">`)

// getStandbyPage polls a standby's / until its page links to a leader and
// returns the response, the body and the link's target (HTML-unescaped).
func getStandbyPage(t *testing.T, c *http.Client, base string) (*http.Response, string, string) {
	t.Helper()
	var resp *http.Response
	var body string
	var m []string
	poll.Until(t, 10*time.Second, base+" names the leader", func() bool {
		resp, body = getPage(t, c, base)
		m = leaderHref.FindStringSubmatch(body)
		return m != nil
	})
	return resp, body, strings.ReplaceAll(m[1], "&amp;", "&")
}

// checkPageHeaders checks what a standby's page must say of itself: 503,
// HTML, never stored, never sniffed, and a CSP that allows no script and
// exactly the page's own style.
func checkPageHeaders(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	h := resp.Header
	if resp.StatusCode != http.StatusServiceUnavailable || h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("standby page: %d %q, want 503 text/html; charset=utf-8", resp.StatusCode, h.Get("Content-Type"))
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("standby page headers: %v", h)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("standby page CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(body, "<script") {
		t.Fatalf("standby page runs scripts: CSP %q, body:\n%s", csp, body)
	}
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(body)
	if style != nil {
		sum := sha256.Sum256([]byte(style[1]))
		if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
			t.Fatalf("standby page CSP %q does not allow its style (%s)", csp, want)
		}
	}
}

// TestStandbyPageLinksTheLeader: a standby that cannot reach the leader
// answers itself: its page links to the leader, the JSON API is 503.
func TestStandbyPageLinksTheLeader(t *testing.T) {
	g := newHiddenGroup(t, 3, nil)
	l := g.leader()
	s := (l + 1) % 3
	lrpc, base := g.members[l].RPC, "http://"+g.listen[s]
	for _, path := range []string{"/", "/index.html", "/app.js", "/no/such/page"} {
		resp, body, href := getStandbyPage(t, http.DefaultClient, base+path)
		checkPageHeaders(t, resp, body)
		if href != "http://"+lrpc+"/" {
			t.Fatalf("GET %s on standby %s: the leader's link is %q, want http://%s/", path, g.members[s].ID, href, lrpc)
		}
		for _, want := range []string{"This master (" + g.members[s].ID + ") is a standby", "The leader is " + g.members[l].ID + " at",
			`<meta http-equiv="refresh" content="5">`} {
			if !strings.Contains(body, want) {
				t.Fatalf("GET %s on standby: page lacks %q:\n%s", path, want, body)
			}
		}
	}
	// The JSON API answers 503 not_leader; its cluster status answers.
	resp, body := getPage(t, http.DefaultClient, base+master.APIPrefix+"jobs")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		!strings.Contains(body, `"code":"not_leader"`) || !strings.Contains(body, `"leader":"`+lrpc+`"`) {
		t.Fatalf("GET /api/v1/jobs on a standby: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, body := getPage(t, http.DefaultClient, base+"/api"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"not_leader"`) {
		t.Fatalf("GET /api on a standby: %d %s, want the JSON 503", resp.StatusCode, body)
	}
	if resp, body := getPage(t, http.DefaultClient, base+master.APIPrefix+"cluster"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"leader_rpc":"`+lrpc+`"`) {
		t.Fatalf("GET /api/v1/cluster on a standby: %d %s", resp.StatusCode, body)
	}
}

// A member that serves TLS links to the leader with https.
func TestStandbyPageLinksTheLeaderOverTLS(t *testing.T) {
	pki := testnet.NewPKI(t)
	g := newHiddenGroup(t, 3, func(c *master.Config) { c.TLS, c.ClientTLS = pki.Server(), pki.Client() })
	l := g.leader()
	s := (l + 1) % 3
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.Client()}}
	resp, body, href := getStandbyPage(t, c, "https://"+g.listen[s]+"/")
	checkPageHeaders(t, resp, body)
	if want := "https://" + g.members[l].RPC + "/"; href != want {
		t.Fatalf("standby over TLS: the leader's link is %q, want %q", href, want)
	}
}

// With tokens, the standby's page needs a token that may read, as the
// master's dashboard does.
func TestStandbyPageNeedsAReadToken(t *testing.T) {
	const readTok, workerTok = "read-token-0123456789abcdef", "worker-token-0123456789abcdef"
	g := newHiddenGroup(t, 3, func(c *master.Config) {
		c.Tokens = []rpcapi.Credential{{Name: "viewer", Role: rpcapi.RoleRead, Token: readTok},
			{Name: "fleet", Role: rpcapi.RoleWorker, Token: workerTok}}
	})
	l := g.leader()
	page := "http://" + g.listen[(l+1)%3] + "/"
	get := func(token string) (*http.Response, string) {
		req, err := http.NewRequest("GET", page, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}
	if resp, body := get(""); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("GET / without a token: %d %v %s, want 401 asking for one", resp.StatusCode, resp.Header, body)
	}
	if resp, body := get(workerTok); resp.StatusCode != http.StatusForbidden || strings.Contains(body, g.members[l].RPC) {
		t.Fatalf("GET / with a worker token: %d %s, want 403", resp.StatusCode, body)
	}
	resp, body := get(readTok)
	checkPageHeaders(t, resp, body)
	if !strings.Contains(body, "This master ("+g.members[(l+1)%3].ID+") is a standby") {
		t.Fatalf("GET / with a read token: %s", body)
	}
}

// hostileGroup starts a group of three whose member IDs and RPC addresses
// (any string, as the config allows: an ID is any string, an address any
// host:port) are HTML.
func hostileGroup(t *testing.T) (members []Member, listen []string, nodes []*Node) {
	addrs := testnet.DeadAddrs(t, 6)
	for i := range 3 {
		members = append(members, Member{ID: fmt.Sprintf(`m%d<script>alert("id")</script>&`, i+1), Raft: addrs[2*i],
			RPC: fmt.Sprintf(`x"><script>alert('rpc')</script><b>%d:70`, i+1)})
		listen = append(listen, addrs[2*i+1])
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	for i := range members {
		n, err := Start(Config{ID: members[i].ID, Members: members, Raft: fastRaft,
			Master: master.Config{Listen: listen[i], DataDir: t.TempDir(), Logger: log, HeartbeatInterval: 100 * time.Millisecond, DeadAfter: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	return members, listen, nodes
}

func TestStandbyPageEscapesTheGroup(t *testing.T) {
	members, listen, nodes := hostileGroup(t)
	l := -1
	poll.Until(t, 15*time.Second, "a leader's master", func() bool {
		for i, n := range nodes {
			if n.Master() != nil {
				l = i
				return true
			}
		}
		return false
	})
	s := (l + 1) % 3
	resp, body, href := getStandbyPage(t, http.DefaultClient, "http://"+listen[s]+"/")
	checkPageHeaders(t, resp, body) // no <script in the body
	if target, err := url.PathUnescape(href); err != nil || target != "http://"+members[l].RPC+"/" {
		t.Fatalf("the leader's link %q (%q, %v): want it to lead to http://%s/", href, target, err, members[l].RPC)
	}
	for _, m := range members {
		if want := "m" + m.ID[1:2] + `&lt;script&gt;alert(&#34;id&#34;)&lt;/script&gt;&amp;`; !strings.Contains(body, want) {
			t.Fatalf("the page lacks the member id %q as text (%s):\n%s", m.ID, want, body)
		}
	}
	if !strings.Contains(body, `x&#34;&gt;&lt;script&gt;alert(&#39;rpc&#39;)&lt;/script&gt;&lt;b&gt;`) || strings.Contains(body, "<b>") {
		t.Fatalf("the page does not show the RPC addresses as text:\n%s", body)
	}
}

// tab is one headless Chromium tab.
type tab struct{ *testbrowser.Tab }

func openTab(t *testing.T) *tab { return &tab{testbrowser.Open(t, testbrowser.Need(t), "", nil)} }

func (b *tab) navigate(url string) { b.T.Helper(); b.Do("navigate to "+url, chromedp.Navigate(url)) }

// shot saves a PNG of the viewport in DROVER_SCREENSHOT_DIR (CI keeps
// them in artifacts/screenshots), or in a temporary dir.
func (b *tab) shot(name string) {
	b.T.Helper()
	dir := os.Getenv("DROVER_SCREENSHOT_DIR")
	if dir == "" {
		dir = b.T.TempDir()
	}
	b.Shot(dir, name, false)
}

// TestDashboardShowsTheGroup loads the leader's overview in headless
// Chromium: it shows the leader and the three members, each a link to
// its dashboard; once the leadership moves, it names the new leader;
// through a standby the dashboard is the leader's, live, and says so.
func TestDashboardShowsTheGroup(t *testing.T) {
	b := openTab(t)
	g := newGroup(t, 3)
	l := g.leader()
	b.navigate("http://" + g.members[l].RPC + "/")
	cond := fmt.Sprintf(`document.querySelector('#cluster-leader')?.textContent === %q`, g.members[l].ID)
	for _, m := range g.members {
		cond += fmt.Sprintf(` && document.querySelector('[data-member=%q] a')?.href === %q`, m.ID, "http://"+m.RPC+"/")
	}
	b.Until("the leader's overview shows the group", cond+` && document.querySelector('#live').dataset.state === 'open'`)
	b.shot("cluster-leader")
	b.NoConsoleErrors()

	// The leadership moves: the old leader's tab, whose event stream
	// breaks, says where the leader is now.
	if err := g.nodes[l].rn.GiveUp(); err != nil {
		t.Fatal(err)
	}
	nl := -1
	poll.Until(t, 15*time.Second, "another member's master, and none on "+g.members[l].ID, func() bool {
		nl = -1
		for i, n := range g.nodes {
			if n.Master() != nil {
				if i == l || nl >= 0 {
					return false
				}
				nl = i
			}
		}
		return nl >= 0
	})
	b.Until("the old leader's tab names the new one", fmt.Sprintf(`document.querySelector('#cluster')?.textContent.includes('is a standby') &&
		document.querySelector('#cluster-leader')?.textContent === %q && document.querySelector('#cluster-leader-link')?.href === %q`,
		g.members[nl].ID, "http://"+g.members[nl].RPC+"/"))
	b.shot("cluster-old-leader")
	l = nl

	// A standby forwards the dashboard and its events to the leader; its
	// line on the group says so.
	s := (l + 1) % 3
	b.navigate("http://" + g.members[s].RPC + "/")
	b.Until("the standby's dashboard names the leader, live", fmt.Sprintf(`document.querySelector('#cluster')?.textContent.includes(%q) &&
		document.querySelector('#cluster-leader-link')?.href === %q && document.querySelector('#live').dataset.state === 'open'`,
		"This master ("+g.members[s].ID+") is a standby", "http://"+g.members[l].RPC+"/"))
	b.shot("cluster-standby")
}

// A standby sits behind the master's guard: a Host that is not one of its
// names (DNS rebinding) gets 403 and no status.
func TestStandbyRefusesAForeignHost(t *testing.T) {
	g := newGroup(t, 3)
	l := g.leader()
	s := g.members[(l+1)%3].RPC
	req, err := http.NewRequest("GET", "http://"+s+master.APIPrefix+"cluster", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "evil.example:80"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "leader_rpc") {
		t.Fatalf("GET /api/v1/cluster with Host evil.example: %d %s, want 403", resp.StatusCode, body)
	}
}
