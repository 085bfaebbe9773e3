package master_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// attack is one state-changing request that a web page makes a visiting
// browser send to a drover listener on another origin.
type attack struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// How is "fetch" (mode no-cors, a text/plain body: Body) or "form" (a
	// form post with enctype text/plain into an iframe: the browser sends
	// FormName + "=" + FormValue + "\r\n").
	How       string `json:"how"`
	Body      string `json:"body,omitempty"`
	FormName  string `json:"form_name,omitempty"`
	FormValue string `json:"form_value,omitempty"`
}

// attackPage runs every attack in turn, then sets window.done to what each
// one saw (a no-cors fetch and a form post into another origin cannot read
// the answer, only whether the request went out).
const attackPage = `<!doctype html><meta charset="utf-8"><title>a page elsewhere</title><body><script>
const attacks = %s;
function form(a, i) {
  return new Promise(resolve => {
    const f = document.createElement('iframe');
    f.name = 'target' + i;
    document.body.appendChild(f);
    f.onload = () => resolve('loaded');
    setTimeout(() => resolve('no load event'), 10000);
    const fm = document.createElement('form');
    fm.method = 'POST';
    fm.action = a.url;
    fm.enctype = 'text/plain';
    fm.target = f.name;
    const in_ = document.createElement('input');
    in_.type = 'hidden';
    in_.name = a.form_name;
    in_.value = a.form_value;
    fm.appendChild(in_);
    document.body.appendChild(fm);
    fm.submit();
  });
}
(async () => {
  const seen = window.seen = [];
  for (const [i, a] of attacks.entries()) {
    let r;
    try {
      if (a.how === 'fetch') {
        const res = await fetch(a.url, {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body: a.body});
        r = 'sent (' + res.type + ')';
      } else {
        r = await form(a, i);
      }
    } catch (e) {
      r = 'error: ' + e;
    }
    seen.push(a.how + ' ' + a.name + ': ' + r);
  }
  window.done = seen;
})();
</script>`

// canary records the attacks that reach it, to show that the browser does
// send them across origins: the listeners under test must refuse them, not
// merely never see them.
type canary struct {
	mu     sync.Mutex
	seen   map[string]int // "METHOD path" -> requests with an Origin
	authed int            // of those, the ones that carried credentials
}

func (c *canary) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/signin" && r.Header.Get("Authorization") == "" {
		// Where the browser signs in, as to a master with a token.
		w.Header().Set("WWW-Authenticate", `Basic realm="drover"`)
		http.Error(w, "sign in", http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Origin") != "" {
		c.mu.Lock()
		c.seen[r.Method+" "+r.URL.Path]++
		if r.Header.Get("Authorization") != "" {
			c.authed++
		}
		c.mu.Unlock()
	}
	io.WriteString(w, "seen") // not 204: a form's frame loads only a page
}

func (c *canary) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count0()
}

// count0 is count with c.mu held.
func (c *canary) count0() int {
	n := 0
	for _, v := range c.seen {
		n += v
	}
	return n
}

// serveOn serves h on a fresh loopback listener at ip (port 0) until the
// test ends and returns its base URL.
func serveOn(t *testing.T, ip string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// xmlAttacks are an XML-RPC call sent both ways: as a no-cors fetch, and as
// a form post whose field name and value join into the call (the "="
// lands inside a comment).
func xmlAttacks(t *testing.T, name, url, method string, param map[string]any) []attack {
	call := strings.ReplaceAll(encodeCall(t, method, param), "\n", "")
	call = call[strings.Index(call, "<methodCall>"):]
	return []attack{
		{Name: name, URL: url, How: "fetch", Body: call},
		{Name: name, URL: url, How: "form", FormName: "<methodCall><!--", FormValue: "-->" + strings.TrimPrefix(call, "<methodCall>")},
	}
}

// TestCrossSiteBrowser: a page on another origin, in a real headless
// Chromium, tries to submit, cancel, log a worker out and register one
// through the master's /RPC2, to submit, cancel and drain through its JSON
// API, and to assign a job straight to a worker's endpoint, each with a
// no-cors fetch and with a form post, against a master without a token.
// The page is served from another port of 127.0.0.1 (same site, another
// origin) and from 127.0.0.2 (another site). Afterwards, the master's own
// API shows the same one job and the same one worker as before, and the
// worker ran nothing; a canary on a third origin got every request, so the
// browser did send them.
func TestCrossSiteBrowser(t *testing.T) { crossSiteBrowser(t, "") }

// TestCrossSiteBrowserSignedIn: the same attacks against a master and a
// worker with a token, from a browser signed in to the master's dashboard
// (HTTP Basic auth, which the browser then sends with requests to it on
// its own): nothing changes either. The canary, signed in the same way,
// logs how many of the cross-origin requests carried the credentials.
func TestCrossSiteBrowserSignedIn(t *testing.T) { crossSiteBrowser(t, "s3cret-token") }

func crossSiteBrowser(t *testing.T, token string) {
	path := needChromium(t)
	m := startMaster(t, master.Config{HeartbeatInterval: 200 * time.Millisecond, DeadAfter: 30 * time.Second, Token: token})
	var ran sync.Map // job ID -> true, for every job the worker ran
	w := master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "victim", Slots: 2, Token: token}, map[string]worker.HandlerFunc{
		"evil": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			ran.Store(j.ID, true)
			return jobs.Result{Output: "pwned"}, nil
		},
	})
	wid := w.ID()
	c := newHTTPAPI(t, m)
	c.token = token
	var sub struct{ IDs []string }
	c.call("POST", "jobs", `{"type": "nobody-runs-this"}`, 201, &sub)
	pending := sub.IDs[0]

	rpc2 := "http://" + m.Addr() + rpcapi.XMLRPCPath
	workerRPC2 := "http://" + w.Addr() + rpcapi.XMLRPCPath
	api := "http://" + m.Addr() + "/api/v1/"
	var attacks []attack
	attacks = append(attacks, xmlAttacks(t, "assign_task (worker)", workerRPC2, "assign_task",
		map[string]any{"worker_id": wid, "tasks": []any{map[string]any{"job_id": "666", "attempt": 1, "type": "evil"}}})...)
	attacks = append(attacks, xmlAttacks(t, "submit_jobs", rpc2, "submit_jobs",
		map[string]any{"specs": []any{map[string]any{"type": "evil"}}})...)
	attacks = append(attacks, xmlAttacks(t, "cancel_jobs", rpc2, "cancel_jobs",
		map[string]any{"ids": []any{pending}})...)
	attacks = append(attacks, xmlAttacks(t, "logout_worker", rpc2, "logout_worker",
		map[string]any{"worker_id": wid})...)
	attacks = append(attacks, xmlAttacks(t, "register_worker", rpc2, "register_worker",
		map[string]any{"name": "intruder", "addr": "http://127.0.0.1:9/RPC2", "types": []any{"evil"}, "slots": 1, "transport": "xmlrpc"})...)
	for _, a := range []struct{ name, url, body string }{
		{"POST /api/v1/jobs", api + "jobs", `{"type": "evil"}`},
		{"POST /api/v1/jobs/{id}/cancel", api + "jobs/" + pending + "/cancel", ``},
		{"POST /api/v1/workers/{id}/drain", api + "workers/" + wid + "/drain", ``},
	} {
		attacks = append(attacks,
			attack{Name: a.name, URL: a.url, How: "fetch", Body: a.body},
			attack{Name: a.name, URL: a.url, How: "form", FormName: `{"type": "evil", "args": {"x": "`, FormValue: `"}}`})
	}
	can := &canary{seen: map[string]int{}}
	canaryURL := serveOn(t, "127.0.0.1", can)
	n := len(attacks)
	for _, a := range attacks[:n] {
		a.Name = "canary " + a.Name
		a.URL = canaryURL + a.URL[strings.Index(a.URL[len("http://"):], "/")+len("http://"):]
		attacks = append(attacks, a)
	}
	js, err := json.Marshal(attacks)
	if err != nil {
		t.Fatal(err)
	}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, attackPage, js)
	})

	b := startBrowser(t, path, "")
	if token != "" {
		for _, base := range []string{"http://" + m.Addr() + "/", canaryURL + "/signin"} {
			signed := strings.Replace(base, "http://", "http://drover:"+token+"@", 1)
			b.Do("sign in at "+base, chromedp.Navigate(signed))
		}
	}
	for i, origin := range []string{serveOn(t, "127.0.0.1", page), serveOn(t, "127.0.0.2", page)} {
		b.Do("load the page at "+origin, chromedp.Navigate(origin+"/"))
		for deadline := time.Now().Add(60 * time.Second); b.Eval(`String(Array.isArray(window.done))`) != "true"; {
			if time.Now().After(deadline) {
				t.Fatalf("from %s: the page did not finish; it saw:\n%s", origin, b.Eval(`(window.seen || []).join('\n')`))
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("from %s:\n%s", origin, b.Eval(`window.done.join('\n')`))
		if got, want := can.count(), (i+1)*n; got != want {
			t.Fatalf("from %s: the canary got %d cross-origin requests, want %d: %v", origin, got, want, can.seen)
		}
	}

	if token != "" {
		can.mu.Lock()
		t.Logf("the signed-in browser sent its credentials with %d of the %d cross-origin requests to the canary", can.authed, can.count0())
		can.mu.Unlock()
	}
	// Each effect on its own, so that a failure says which attack got
	// through.
	var jobsPage struct{ Jobs []apiJob }
	c.get("jobs", &jobsPage)
	for _, j := range jobsPage.Jobs {
		if j.ID != pending {
			t.Errorf("a job was submitted: %s %s (%s)", j.ID, j.Type, j.State)
		}
	}
	if j := c.job(pending); j.State != jobs.Pending {
		t.Errorf("job %s was cancelled: it is %s", pending, j.State)
	}
	var workersPage struct{ Workers []rpcapi.WorkerInfo }
	c.get("workers", &workersPage)
	for _, wk := range workersPage.Workers {
		switch {
		case wk.ID == wid && wk.State != rpcapi.WorkerAlive:
			t.Errorf("worker %s was logged out or drained: it is %s", wid, wk.State)
		case wk.Name != "victim":
			t.Errorf("a worker was registered: %s %q at %s", wk.ID, wk.Name, wk.Addr)
		case wk.ID != wid:
			t.Errorf("worker %s registered again as %s (it was logged out)", wid, wk.ID)
		}
	}
	if _, ok := ran.Load("666"); ok {
		t.Errorf("the worker ran job 666, assigned straight to it by the page")
	}
	ran.Range(func(id, _ any) bool {
		if id != "666" {
			t.Errorf("the worker ran job %s of type evil", id)
		}
		return true
	})
}
