package master_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// needChromium returns the path of a Chromium or Chrome binary. Without
// one it skips the test, or fails it in CI.
func needChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	const msg = "no Chromium: looked for chromium, chromium-browser and google-chrome in PATH and for /usr/bin/chromium (apt-get install -y chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser drives one headless Chromium tab.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu     sync.Mutex
	errors []string // console errors and uncaught exceptions
}

// browserMasterConfig is the config of a master a browser test drives:
// a short heartbeat, and a long dead_after, as a loaded CI machine must
// not reap a worker midway.
func browserMasterConfig() master.Config {
	return master.Config{HeartbeatInterval: 200 * time.Millisecond, DeadAfter: 30 * time.Second}
}

func startBrowser(t *testing.T, path, base string) *browser {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800))
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, base: base}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		wg.Wait()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("start chromium %s: %v", path, err)
	}
	messages := chromedp.Console(ctx)
	wg.Go(func() {
		for msg, err := range messages {
			if err != nil {
				return
			}
			if (msg.IsException() || msg.Type == chromedp.ConsoleError) && !aloneAnswer(msg) {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s:%d %s", msg.URL, msg.Line+1, msg.Text))
				b.mu.Unlock()
			}
		}
	})
	return b
}

// aloneAnswer reports whether msg is Chromium's note on the 404 of GET
// /api/v1/cluster, the documented answer of a master that runs alone,
// which the overview asks once per page load (docs/api.md).
func aloneAnswer(msg chromedp.ConsoleMessage) bool {
	return strings.HasSuffix(msg.URL, master.APIPrefix+"cluster") && strings.Contains(msg.Text, "status of 404")
}

// do runs actions with a timeout.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// until polls a JavaScript expression until it is truthy.
func (b *browser) until(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		b.t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, text)
	}
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// shot saves a PNG of the current view as dir/name.png: the whole page,
// or only what the viewport shows.
func (b *browser) shot(dir, name string, whole bool) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	take := chromedp.CaptureScreenshot()
	if whole {
		take = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, take)
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// noConsoleErrors fails the test if the page logged a console error or
// threw an uncaught exception.
func (b *browser) noConsoleErrors() {
	b.t.Helper()
	if errs := b.consoleErrors(); len(errs) > 0 {
		b.t.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestDashboard loads the dashboard of a real master with real workers in
// headless Chromium: a worker that starts later shows up without a reload,
// a job submitted from the page's form reaches succeeded on the page, a
// long job is cancelled and retried with its buttons, and screenshots are
// taken at laptop and phone sizes. DROVER_SCREENSHOT=path copies the
// overview screenshot there (docs/dashboard.png); DROVER_SCREENSHOT_DIR=dir
// keeps every screenshot.
func TestDashboard(t *testing.T) {
	path := needChromium(t)
	start := time.Now()
	m := startMaster(t, browserMasterConfig())
	handlers := map[string]worker.HandlerFunc{
		"echo": echo,
		"sleep": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			d, err := time.ParseDuration(j.Spec.Args["for"])
			if err != nil {
				return jobs.Result{}, worker.Permanent(err)
			}
			select {
			case <-time.After(d):
				return jobs.Result{Output: "slept " + d.String() + "\n"}, nil
			case <-ctx.Done():
				return jobs.Result{}, ctx.Err()
			}
		},
		"flaky": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{ExitCode: 2, Output: "fetching " + j.Spec.Args["url"] + "\nconnection reset\n"},
				errors.New("exit status 2")
		},
	}
	startWorker(t, m.Addr(), "crawler-1", 4, handlers)
	startWorker(t, m.Addr(), "crawler-2", 4, handlers)
	c := newHTTPAPI(t, m)

	// Some history, so the pages have something to show.
	var specs []string
	for i := range 24 {
		specs = append(specs, fmt.Sprintf(`{"type": "sleep", "args": {"for": "%dms", "page": "%d"}, "group": "nightly-crawl"}`, 20+i*15, i))
	}
	specs = append(specs, `{"type": "flaky", "args": {"url": "https://example.org/a"}, "retries": 1, "group": "nightly-crawl"}`)
	for i := range 6 {
		specs = append(specs, fmt.Sprintf(`{"type": "echo", "args": {"name": "reindex-%d"}, "group": "reindex"}`, i))
	}
	specs = append(specs, `{"type": "sleep", "args": {"for": "10m"}, "group": "reindex"}`)
	var sub struct{ IDs []string }
	c.call("POST", "jobs", `{"jobs": [`+strings.Join(specs, ",")+`]}`, 201, &sub)
	long := sub.IDs[len(sub.IDs)-1]
	c.waitState(sub.IDs[24], jobs.Failed)

	b := startBrowser(t, path, "http://"+m.Addr()+"/")
	b.do("load the workers page", chromedp.Navigate(b.base+"#/workers"))
	b.until("the event stream", `document.querySelector('#live').dataset.state === 'open'`)
	b.until("two workers", `document.querySelectorAll('tr[data-worker-id]').length === 2`)
	b.eval(`window.droverNoReload = 'yes'`)

	// A worker that starts now shows up without a reload.
	late := startWorker(t, m.Addr(), "late-worker", 2, handlers)
	b.until("the late worker", fmt.Sprintf(`[...document.querySelectorAll('tr[data-worker-id]')].some(r =>
		r.dataset.workerId === %q && r.textContent.includes('late-worker') && r.textContent.includes('alive'))`, late.ID()))

	// Submit a job from the page's form and watch it succeed.
	b.do("open the submit form",
		chromedp.Click(chromedp.CSS(`#nav a[data-view="jobs"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#submit-toggle`)),
		chromedp.Click(chromedp.CSS(`#submit-toggle`)),
		chromedp.WaitVisible(chromedp.CSS(`#f-type`)))
	b.do("fill and send the form",
		chromedp.SendKeys(chromedp.CSS(`#f-type`), "echo"),
		chromedp.SendKeys(chromedp.CSS(`#f-group`), "from-the-page"),
		chromedp.SendKeys(chromedp.CSS(`#f-args`), "name=browser"),
		chromedp.Click(chromedp.CSS(`#f-submit`)))
	b.until("the job page to show succeeded", `location.hash.startsWith('#/jobs/') &&
		document.querySelector('#job-state')?.textContent === 'succeeded' &&
		document.querySelector('#output-tail')?.textContent === 'hello browser'`)
	id := strings.TrimPrefix(b.eval(`location.hash`), "#/jobs/")
	if j := c.job(id); j.State != jobs.Succeeded || j.Group != "from-the-page" || j.Args["name"] != "browser" {
		t.Fatalf("job %s submitted from the page: %+v", id, j)
	}

	// Cancel the long job with its button (two clicks), then retry it.
	c.waitState(long, jobs.Running)
	b.eval(fmt.Sprintf(`location.hash = '#/jobs/%s'`, long))
	b.until("the long job running", `document.querySelector('#job-state')?.textContent === 'running'`)
	b.do("click cancel", chromedp.Click(chromedp.CSS(`#job-cancel`)))
	b.until("the confirm button", `document.querySelector('#job-cancel')?.textContent === 'Confirm cancel'`)
	b.do("confirm cancel", chromedp.Click(chromedp.CSS(`#job-cancel`)))
	b.until("the job cancelled", `document.querySelector('#job-state')?.textContent === 'cancelled'`)
	if j := c.job(long); j.State != jobs.Cancelled {
		t.Fatalf("long job after cancel: %s", j.State)
	}
	b.do("click retry", chromedp.Click(chromedp.CSS(`#job-retry`)))
	b.until("the job running again", `document.querySelector('#job-state')?.textContent === 'running' &&
		document.querySelectorAll('table.rows tbody tr').length === 2`)
	c.call("POST", "jobs/"+long+"/cancel", "", 200, nil)
	b.until("the job cancelled by the API", `document.querySelector('#job-state')?.textContent === 'cancelled'`)

	// The groups and schedules pages.
	b.eval(`location.hash = '#/groups'`)
	b.until("two groups with progress", `document.querySelectorAll('.group .bar').length === 3 &&
		document.querySelector('[data-group="from-the-page"]')?.textContent.includes('1 / 1 done')`)
	b.eval(`location.hash = '#/schedules'`)
	b.until("no schedules", `document.querySelector('#no-schedules')?.textContent.startsWith('No schedules')`)

	if got := b.eval(`String(window.droverNoReload)`); got != "yes" {
		t.Fatal("the page reloaded")
	}

	// Screenshots, laptop then phone; a phone page never scrolls sideways.
	dir := os.Getenv("DROVER_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	b.eval(`location.hash = '#/'`)
	b.until("the overview", `document.querySelector('#count-succeeded')?.textContent !== '0' &&
		document.querySelector('#workers-alive')?.textContent === '3'`)
	overview := b.shot(dir, "overview", true)
	pages := []struct{ hash, name, ready string }{
		{"#/workers", "workers", `document.querySelectorAll('tr[data-worker-id]').length === 3`},
		{"#/jobs", "jobs", `document.querySelectorAll('tr[data-job-id]').length > 10`},
		{"#/jobs/" + long, "job", `document.querySelector('#job-state')?.textContent === 'cancelled'`},
		{"#/groups", "groups", `document.querySelectorAll('.group .bar').length === 3`},
		{"#/groups/nightly-crawl", "group", `document.querySelector('.bar.big') !== null`},
	}
	for _, p := range pages {
		b.eval(fmt.Sprintf(`location.hash = %q`, p.hash))
		b.until(p.name, p.ready)
		b.shot(dir, p.name, true)
	}
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, p := range append(pages, struct{ hash, name, ready string }{"#/", "overview", `document.querySelector('#count-succeeded') !== null`}) {
		b.eval(fmt.Sprintf(`location.hash = %q`, p.hash))
		b.until(p.name+" on a phone", p.ready)
		b.until(p.name+" fitting a phone's width", `document.documentElement.scrollWidth <= window.innerWidth`)
		b.shot(dir, "phone-"+p.name, false)
	}
	b.noConsoleErrors()
	if dst := os.Getenv("DROVER_SCREENSHOT"); dst != "" {
		png, err := os.ReadFile(overview)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("dashboard test took %s; screenshots in %s", time.Since(start).Round(time.Millisecond), dir)
}
