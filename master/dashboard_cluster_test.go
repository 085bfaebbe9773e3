package master_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// The overview's line on the raft group (docs/api.md, "The dashboard"):
// shown when GET /api/v1/cluster answers 200, asked once per page load
// on a master that runs alone (404), and at most every 5 s with the live
// events otherwise.

// clusterCounter is a reverse proxy to a master that counts the requests
// for GET /api/v1/cluster it forwards.
type clusterCounter struct {
	srv *httptest.Server
	n   atomic.Int64
}

func startClusterCounter(t *testing.T, target string) *clusterCounter {
	t.Helper()
	p := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	c := &clusterCounter{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == master.APIPrefix+"cluster" {
			c.n.Add(1)
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		c.srv.CloseClientConnections()
		c.srv.Close()
	})
	return c
}

// busyFor submits echo jobs, one at a time, each seen on the overview's
// recent changes, until d has passed: the page gets events all along.
func busyFor(t *testing.T, b *browser, mc rpcapi.MasterClient, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		id := submit(t, mc, jobs.Spec{Type: "echo", Args: map[string]string{"name": "x"}})[0]
		b.Until("job "+id+" on the overview", fmt.Sprintf(`!!document.querySelector('.recent a[href="#/jobs/%s"]')`, id))
	}
}

func TestDashboardAloneAsksClusterOnce(t *testing.T) {
	path := needChromium(t)
	m := startMaster(t, browserMasterConfig())
	startWorker(t, m.Addr(), "w1", 2, map[string]worker.HandlerFunc{"echo": echo})
	mc := client(t, m.Addr())
	p := startClusterCounter(t, m.Addr())
	b := startBrowser(t, path, p.srv.URL+"/")
	b.Do("load the overview", chromedp.Navigate(b.Base))
	b.Until("the overview, live", `!!document.querySelector('#count-pending') && document.querySelector('#live').dataset.state === 'open'`)
	// Events for longer than the page's 5 s between two requests, and
	// other pages: a single master is asked once.
	busyFor(t, b, mc, 6*time.Second)
	b.Do("the workers page and back", chromedp.Navigate(b.Base+"#/workers"))
	b.Until("the workers page", `!!document.querySelector('[data-worker="w1"]') || document.body.innerText.includes('w1')`)
	b.Do("the overview again", chromedp.Navigate(b.Base+"#/"))
	busyFor(t, b, mc, time.Second)
	if n := p.n.Load(); n != 1 {
		t.Fatalf("one page load of a single master's dashboard asked GET /api/v1/cluster %d times, want 1", n)
	}
	if b.Eval(`document.querySelector('#cluster')?.hidden === false || document.body.innerText.includes('Raft group') ? 'shown' : ''`) != "" {
		t.Fatal("a single master's overview shows a raft group")
	}
	b.Do("reload", chromedp.Reload())
	b.Until("the overview, live, reloaded", `!!document.querySelector('#count-pending') && document.querySelector('#live').dataset.state === 'open'`)
	busyFor(t, b, mc, time.Second)
	if n := p.n.Load(); n != 2 {
		t.Fatalf("two page loads asked GET /api/v1/cluster %d times, want 2", n)
	}
	b.NoConsoleErrors()
}

// fakeGroup is a ClusterControl whose status a test sets.
type fakeGroup struct {
	mu sync.Mutex
	st map[string]any
}

func (f *fakeGroup) Status() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeGroup) set(st map[string]any) {
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
}

func (f *fakeGroup) AddMember(id, raft, rpc string) error { return errors.New("fake group: not here") }
func (f *fakeGroup) RemoveMember(id string) error         { return errors.New("fake group: not here") }

// groupStatus is a status as GET /api/v1/cluster answers it (docs/api.md).
func groupStatus(state, leader, leaderRPC string, term int, members ...[2]string) map[string]any {
	var ms []map[string]string
	for _, m := range members {
		ms = append(ms, map[string]string{"ID": m[0], "Raft": "127.0.0.1:1", "RPC": m[1]})
	}
	return map[string]any{"id": members[0][0], "state": state, "leader": leader, "leader_rpc": leaderRPC,
		"term": term, "applied_index": 26, "commit_index": 26, "members": ms}
}

// The line shows what the master answers, as text: member IDs and
// addresses that are HTML make no element; it follows the group with the
// events, at most every 5 s; once the master no longer leads (a standby
// serves its address and forwards the page to the leader), it says where
// the leader is.
func TestDashboardClusterLine(t *testing.T) {
	path := needChromium(t)
	const (
		hostileID  = `m1<img src=x onerror="document.title='pwned'"><b>`
		hostileRPC = `127.0.0.1:1"><img src=x>`
	)
	g := &fakeGroup{}
	g.set(groupStatus("Leader", hostileID, "127.0.0.1:7070", 3, [2]string{hostileID, "127.0.0.1:7070"},
		[2]string{"m2", hostileRPC}, [2]string{"m3", "127.0.0.1:7072"}))
	cfg := browserMasterConfig()
	cfg.Cluster = g
	m := startMaster(t, cfg)
	startWorker(t, m.Addr(), "w1", 2, map[string]worker.HandlerFunc{"echo": echo})
	mc := client(t, m.Addr())
	p := startClusterCounter(t, m.Addr())
	b := startBrowser(t, path, p.srv.URL+"/")
	b.Do("load the overview", chromedp.Navigate(b.Base))
	b.Until("the group's line", fmt.Sprintf(`document.querySelector('#cluster-leader')?.textContent === %q &&
		document.querySelector('#cluster-term')?.textContent === '3' && document.querySelector('#cluster-applied')?.textContent === '26' &&
		document.querySelectorAll('#cluster-members .member').length === 3`, hostileID))
	for _, mem := range [][2]string{{hostileID, "127.0.0.1:7070"}, {"m2", hostileRPC}, {"m3", "127.0.0.1:7072"}} {
		got := b.Eval(fmt.Sprintf(`(() => { const s = [...document.querySelectorAll('#cluster .member')].find(e => e.dataset.member === %q);
			return s ? s.querySelector('a').getAttribute('href') + ' ' + s.textContent : 'missing'; })()`, mem[0]))
		if want := "http://" + mem[1] + "/ " + mem[0] + " " + mem[1]; got != want {
			t.Errorf("member %q: %q, want its id and a link to http://%s/ (%q)", mem[0], got, mem[1], want)
		}
	}
	if n := b.Eval(`String(document.querySelectorAll('#cluster img, #cluster b').length) + document.title`); n != "0drover" {
		t.Fatalf("the group's IDs and addresses made elements: %s", n)
	}

	// A new term and a fourth member show with the events, within 5 s and
	// a margin; meanwhile the page asks at most every 5 s.
	g.set(groupStatus("Leader", "m3", "127.0.0.1:7072", 4, [2]string{hostileID, "127.0.0.1:7070"},
		[2]string{"m2", hostileRPC}, [2]string{"m3", "127.0.0.1:7072"}, [2]string{"m4", "127.0.0.1:7073"}))
	asked := p.n.Load()
	start := time.Now()
	busyFor(t, b, mc, 500*time.Millisecond)
	b.Within(8*time.Second, "the new term and member", `document.querySelector('#cluster-term')?.textContent === '4' &&
		document.querySelector('#cluster-leader').textContent === 'm3' && !!document.querySelector('#cluster [data-member="m4"]')`)
	busyFor(t, b, mc, 6*time.Second)
	if n, most := p.n.Load()-asked, int64(time.Since(start)/(5*time.Second))+1; n > most {
		t.Fatalf("the page asked GET /api/v1/cluster %d times in %s of events, want at most %d (every 5 s)", n, time.Since(start), most)
	}

	// This master no longer leads (the standby that then serves its
	// address answers so, and forwards the rest): the line says where the
	// leader is.
	g.set(groupStatus("Follower", "m3", "127.0.0.1:7072", 5, [2]string{hostileID, "127.0.0.1:7070"}, [2]string{"m3", "127.0.0.1:7072"}))
	busyFor(t, b, mc, 500*time.Millisecond)
	b.Within(8*time.Second, "the leader elsewhere", `document.querySelector('#cluster')?.textContent.includes('is a standby') &&
		document.querySelector('#cluster-leader-link')?.getAttribute('href') === 'http://127.0.0.1:7072/'`)
	b.NoConsoleErrors()
}
