package master_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/drover/drover/internal/testbrowser"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// needChromium returns the path of a Chromium or Chrome binary. Without
// one it skips the test, or fails it in CI.
func needChromium(t *testing.T) string { return testbrowser.Need(t) }

// browser drives one headless Chromium tab.
type browser = testbrowser.Tab

// browserMasterConfig is the config of a master a browser test drives:
// a short heartbeat, and a long dead_after, as a loaded CI machine must
// not reap a worker midway.
func browserMasterConfig() master.Config {
	return master.Config{HeartbeatInterval: 200 * time.Millisecond, DeadAfter: 30 * time.Second}
}

// startBrowser opens a tab on the dashboard at base. The 404 of a master
// that runs alone to GET /api/v1/cluster is not a console error.
func startBrowser(t *testing.T, path, base string) *browser {
	return testbrowser.Open(t, path, base, aloneAnswer)
}

// aloneAnswer reports whether msg is Chromium's note on the 404 of GET
// /api/v1/cluster, the documented answer of a master that runs alone,
// which the overview asks once per page load (docs/api.md).
func aloneAnswer(msg chromedp.ConsoleMessage) bool {
	return strings.HasSuffix(msg.URL, master.APIPrefix+"cluster") && strings.Contains(msg.Text, "status of 404")
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
	b.Do("load the workers page", chromedp.Navigate(b.Base+"#/workers"))
	b.Until("the event stream", `document.querySelector('#live').dataset.state === 'open'`)
	b.Until("two workers", `document.querySelectorAll('tr[data-worker-id]').length === 2`)
	b.Eval(`window.droverNoReload = 'yes'`)

	// A worker that starts now shows up without a reload.
	late := startWorker(t, m.Addr(), "late-worker", 2, handlers)
	b.Until("the late worker", fmt.Sprintf(`[...document.querySelectorAll('tr[data-worker-id]')].some(r =>
		r.dataset.workerId === %q && r.textContent.includes('late-worker') && r.textContent.includes('alive'))`, late.ID()))

	// Submit a job from the page's form and watch it succeed.
	b.Do("open the submit form",
		chromedp.Click(chromedp.CSS(`#nav a[data-view="jobs"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#submit-toggle`)),
		chromedp.Click(chromedp.CSS(`#submit-toggle`)),
		chromedp.WaitVisible(chromedp.CSS(`#f-type`)))
	b.Do("fill and send the form",
		chromedp.SendKeys(chromedp.CSS(`#f-type`), "echo"),
		chromedp.SendKeys(chromedp.CSS(`#f-group`), "from-the-page"),
		chromedp.SendKeys(chromedp.CSS(`#f-args`), "name=browser"),
		chromedp.Click(chromedp.CSS(`#f-submit`)))
	b.Until("the job page to show succeeded", `location.hash.startsWith('#/jobs/') &&
		document.querySelector('#job-state')?.textContent === 'succeeded' &&
		document.querySelector('#output-tail')?.textContent === 'hello browser'`)
	id := strings.TrimPrefix(b.Eval(`location.hash`), "#/jobs/")
	if j := c.job(id); j.State != jobs.Succeeded || j.Group != "from-the-page" || j.Args["name"] != "browser" {
		t.Fatalf("job %s submitted from the page: %+v", id, j)
	}

	// Cancel the long job with its button (two clicks), then retry it.
	c.waitState(long, jobs.Running)
	b.Eval(fmt.Sprintf(`location.hash = '#/jobs/%s'`, long))
	b.Until("the long job running", `document.querySelector('#job-state')?.textContent === 'running'`)
	b.Do("click cancel", chromedp.Click(chromedp.CSS(`#job-cancel`)))
	b.Until("the confirm button", `document.querySelector('#job-cancel')?.textContent === 'Confirm cancel'`)
	b.Do("confirm cancel", chromedp.Click(chromedp.CSS(`#job-cancel`)))
	b.Until("the job cancelled", `document.querySelector('#job-state')?.textContent === 'cancelled'`)
	if j := c.job(long); j.State != jobs.Cancelled {
		t.Fatalf("long job after cancel: %s", j.State)
	}
	b.Do("click retry", chromedp.Click(chromedp.CSS(`#job-retry`)))
	b.Until("the job running again", `document.querySelector('#job-state')?.textContent === 'running' &&
		document.querySelectorAll('table.rows tbody tr').length === 2`)
	c.call("POST", "jobs/"+long+"/cancel", "", 200, nil)
	b.Until("the job cancelled by the API", `document.querySelector('#job-state')?.textContent === 'cancelled'`)

	// The groups and schedules pages.
	b.Eval(`location.hash = '#/groups'`)
	b.Until("two groups with progress", `document.querySelectorAll('.group .bar').length === 3 &&
		document.querySelector('[data-group="from-the-page"]')?.textContent.includes('1 / 1 done')`)
	b.Eval(`location.hash = '#/schedules'`)
	b.Until("no schedules", `document.querySelector('#no-schedules')?.textContent.startsWith('No schedules')`)

	if got := b.Eval(`String(window.droverNoReload)`); got != "yes" {
		t.Fatal("the page reloaded")
	}

	// Screenshots, laptop then phone; a phone page never scrolls sideways.
	dir := os.Getenv("DROVER_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	b.Eval(`location.hash = '#/'`)
	b.Until("the overview", `document.querySelector('#count-succeeded')?.textContent !== '0' &&
		document.querySelector('#workers-alive')?.textContent === '3'`)
	overview := b.Shot(dir, "overview", true)
	pages := []struct{ hash, name, ready string }{
		{"#/workers", "workers", `document.querySelectorAll('tr[data-worker-id]').length === 3`},
		{"#/jobs", "jobs", `document.querySelectorAll('tr[data-job-id]').length > 10`},
		{"#/jobs/" + long, "job", `document.querySelector('#job-state')?.textContent === 'cancelled'`},
		{"#/groups", "groups", `document.querySelectorAll('.group .bar').length === 3`},
		{"#/groups/nightly-crawl", "group", `document.querySelector('.bar.big') !== null`},
	}
	for _, p := range pages {
		b.Eval(fmt.Sprintf(`location.hash = %q`, p.hash))
		b.Until(p.name, p.ready)
		b.Shot(dir, p.name, true)
	}
	b.Do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, p := range append(pages, struct{ hash, name, ready string }{"#/", "overview", `document.querySelector('#count-succeeded') !== null`}) {
		b.Eval(fmt.Sprintf(`location.hash = %q`, p.hash))
		b.Until(p.name+" on a phone", p.ready)
		b.Until(p.name+" fitting a phone's width", `document.documentElement.scrollWidth <= window.innerWidth`)
		b.Shot(dir, "phone-"+p.name, false)
	}
	b.NoConsoleErrors()
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
