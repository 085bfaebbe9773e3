package master_test

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// The dashboard's cost to an idle tab (issue 15): server-sent events
// carry what changed, and a page fetches again only what a change
// concerns. A tab is measured at the wire: the browser talks to the
// master through countingProxy, which counts every byte the master sends
// to it (HTTP headers, fetches and the event stream).

// idleBudget is the most an idle tab may receive in idleWindow.
const (
	idleWindow = 60 * time.Second
	idleBudget = 10 << 10
)

// countingProxy forwards each connection it accepts on 127.0.0.1 to a
// target and counts the bytes each way. A test can break the link: cut
// closes the connections, and while down it closes new ones at once.
type countingProxy struct {
	ln       net.Listener
	target   string
	down, up atomic.Int64 // target to client, client to target
	broken   atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// startCountingProxy starts a proxy to target, closed at the test's end
// with every connection it forwards.
func startCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *countingProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.broken.Load() {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Go(func() { p.copy(c, s, &p.down) })
		p.wg.Go(func() { p.copy(s, c, &p.up) })
	}
}

// copy forwards from src to dst, counting into n, and closes both when
// either side ends.
func (p *countingProxy) copy(dst, src net.Conn, n *atomic.Int64) {
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			n.Add(int64(k))
			if _, werr := dst.Write(buf[:k]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

func (p *countingProxy) addr() string { return p.ln.Addr().String() }

// cut breaks the link until mend: the connections open are closed, and new
// ones too.
func (p *countingProxy) cut() {
	p.broken.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *countingProxy) mend() { p.broken.Store(false) }

// settleSpan is the span over which idleCost judges the master idle.
const settleSpan = 5 * time.Second

// idleCost lets the tab sit for idleWindow and returns the bytes it
// received meanwhile, failing the test if they pass idleBudget. It waits
// first until the master is idle: until the tab receives, over settleSpan,
// less than idleBudget's share of it. A master still busy with what the
// test set up (the on_done of 2,000 groups under the race detector, beside
// the other packages' tests) is not idle, and its events are not the
// idle tab's cost.
func idleCost(t *testing.T, p *countingProxy, what string) int64 {
	t.Helper()
	prev, at := p.down.Load(), time.Now()
	poll.Until(t, 2*time.Minute, what+": the master idle", func() bool {
		if time.Since(at) < settleSpan {
			return false
		}
		n := p.down.Load()
		quiet := n-prev < idleBudget*int64(settleSpan)/int64(idleWindow)
		prev, at = n, time.Now()
		return quiet
	})
	down0, up0 := p.down.Load(), p.up.Load()
	<-time.After(idleWindow) // the window measured, not a wait for a condition
	down, up := p.down.Load()-down0, p.up.Load()-up0
	t.Logf("%s: an idle tab received %d bytes (sent %d) in %s", what, down, up, idleWindow)
	if down >= idleBudget {
		t.Errorf("%s: an idle tab received %d bytes in %s, want under %d", what, down, idleWindow, idleBudget)
	}
	return down
}

// costMaster starts a master with two workers heartbeating every 200 ms,
// which are never reaped on a loaded machine.
func costMaster(t *testing.T) *master.Master {
	t.Helper()
	m := startMaster(t, master.Config{HeartbeatInterval: 200 * time.Millisecond, DeadAfter: 30 * time.Second})
	handlers := map[string]worker.HandlerFunc{"echo": echo}
	startWorker(t, m.Addr(), "w1", 2, handlers)
	startWorker(t, m.Addr(), "w2", 2, handlers)
	return m
}

func screenshotDir(t *testing.T) string {
	if dir := os.Getenv("DROVER_SCREENSHOT_DIR"); dir != "" {
		return dir
	}
	return t.TempDir()
}

// TestDashboardIdleCost measures what an idle tab receives over a minute
// from a master whose workers heartbeat and run nothing: on a finished
// job's page, and on the groups page of 2,000 groups. Each must be under
// 10 KB.
func TestDashboardIdleCost(t *testing.T) {
	path := needChromium(t)
	t.Run("finished job", func(t *testing.T) {
		t.Parallel()
		m := costMaster(t)
		c := newHTTPAPI(t, m)
		var sub struct{ IDs []string }
		c.call("POST", "jobs", `{"type": "echo", "args": {"name": "cost"}}`, 201, &sub)
		id := sub.IDs[0]
		c.waitState(id, jobs.Succeeded)
		p := startCountingProxy(t, m.Addr())
		b := startBrowser(t, path, "http://"+p.addr()+"/")
		b.Do("load the job's page", chromedp.Navigate(b.Base+"#/jobs/"+id))
		b.Until("the job succeeded, live", `document.querySelector('#job-state')?.textContent === 'succeeded' &&
			document.querySelector('#live').dataset.state === 'open'`)
		idleCost(t, p, "job page")
		b.Shot(screenshotDir(t), "cost-job", false)
	})
	t.Run("2000 groups", func(t *testing.T) {
		t.Parallel()
		m := costMaster(t)
		mc := client(t, m.Addr())
		specs := make([]jobs.Spec, 2000)
		for i := range specs {
			specs[i] = jobs.Spec{Type: "echo", Group: fmt.Sprintf("batch-%04d", i), Args: map[string]string{"name": fmt.Sprint(i)}}
		}
		ids := submit(t, mc, specs...)
		waitAll(t, mc, ids, 60*time.Second)
		// Idle means no change the tab may be told of again: the event
		// stream sends again the changes of the second before its last
		// event (the live view's slack), and a page opened within it of
		// the burst of 6,000 changes is told, at the next event, that more
		// changed than an event lists, and reads its rows again (once).
		done := time.Now()
		poll.Until(t, 10*time.Second, "the burst older than the live view's slack", func() bool { return time.Since(done) > 2*time.Second })
		p := startCountingProxy(t, m.Addr())
		b := startBrowser(t, path, "http://"+p.addr()+"/")
		b.Do("load the groups page", chromedp.Navigate(b.Base+"#/groups"))
		b.Until("the latest group, live", `document.querySelector('[data-group="batch-1999"]')?.textContent.includes('1 / 1 done') &&
			document.querySelector('#live').dataset.state === 'open'`)
		idleCost(t, p, "groups page")
		b.Shot(screenshotDir(t), "cost-groups", false)
	})
}
