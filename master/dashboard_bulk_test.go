package master_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestDashboardActOnMany drives the dashboard in headless Chromium: 1,000
// failed jobs of a type retried from the jobs list (the count shown, a
// confirm, then they run again and succeed, while the failed jobs of
// another type stay failed); a schedule paused, run now and deleted from
// the schedules page; a worker drained and undrained from the workers
// page. Screenshots go to DROVER_SCREENSHOT_DIR when set.
func TestDashboardActOnMany(t *testing.T) {
	path := needChromium(t)
	m := startMaster(t, browserMasterConfig())
	failFirst := func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		if j.Attempt == 1 || j.Spec.Type == "other" {
			return jobs.Result{}, worker.Permanent(errors.New("upstream refused"))
		}
		return jobs.Result{Output: "ok"}, nil
	}
	wk := startWorker(t, m.Addr(), "crawler-1", 16, map[string]worker.HandlerFunc{"crawl": failFirst, "other": failFirst})
	mc := client(t, m.Addr())
	specs := make([]jobs.Spec, 0, 1005)
	for i := range 1000 {
		specs = append(specs, jobs.Spec{Type: "crawl", Args: map[string]string{"page": fmt.Sprint(i)}})
	}
	for range 5 {
		specs = append(specs, jobs.Spec{Type: "other"})
	}
	ids := submit(t, mc, specs...)
	waitAll(t, mc, ids, 60*time.Second)
	if c := m.Counts(); c[jobs.Failed] != 1005 {
		t.Fatalf("counts %v; want 1005 failed", c)
	}
	dir := os.Getenv("DROVER_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}

	b := startBrowser(t, path, "http://"+m.Addr()+"/")
	b.Do("load the failed crawls", chromedp.Navigate(b.Base+"#/jobs?state=failed&type=crawl"))
	b.Until("Retry 1000", `document.querySelector('#bulk-retry')?.textContent === 'Retry 1000' &&
		document.querySelector('#bulk-cancel')?.disabled && document.querySelector('#bulk-purge')?.dataset.count === '1000'`)
	b.Shot(dir, "bulk-jobs", true)
	b.Do("click Retry 1000", chromedp.Click(chromedp.CSS(`#bulk-retry`)))
	b.Until("the question", `document.querySelector('#bulk-question')?.textContent.includes('Retry 1000 jobs that match state=failed type=crawl')`)
	b.Shot(dir, "bulk-confirm", false)
	if c := m.Counts(); c[jobs.Failed] != 1005 {
		t.Fatalf("counts before the confirm %v; want 1005 failed", c)
	}
	b.Do("confirm", chromedp.Click(chromedp.CSS(`#bulk-yes`)))
	b.Until("the flash", `document.querySelector('#flash')?.textContent === '1000 jobs retried'`)
	testproc.Poll(t, 60*time.Second, "the 1000 retried jobs to succeed", func() bool {
		c := m.Counts()
		return c[jobs.Succeeded] == 1000 && c[jobs.Failed] == 5
	})
	b.Until("nothing left to retry in the list", `document.querySelector('#bulk-retry')?.textContent === 'Retry 0'`)

	// Schedules: pause, run now, delete.
	submit(t, mc, jobs.Spec{Name: "nightly", Schedule: "@every 1h", Type: "nobody"})
	row := `document.querySelector('tr[data-schedule="nightly"]')`
	b.Eval(`location.hash = '#/schedules'`)
	b.Until("the schedule, active", row+`?.textContent.includes('active')`)
	b.Click("pause", `tr[data-schedule="nightly"] .sched-pause`)
	b.Until("the schedule paused", row+`?.textContent.includes('paused') && `+row+`.querySelector('.sched-resume') !== null`)
	if s := scheduleNamed(t, mc, "nightly"); s == nil || !s.Paused {
		t.Fatalf("after pause: %+v", s)
	}
	b.Click("run now", `tr[data-schedule="nightly"] .sched-run`)
	b.Until("the fire", `document.querySelector('#flash')?.textContent.startsWith('Schedule nightly fired job #')`)
	s := scheduleNamed(t, mc, "nightly")
	if s == nil || s.LastJob == "" || !s.Paused {
		t.Fatalf("after run now: %+v", s)
	}
	b.Until("its last job on the page", row+fmt.Sprintf(`?.textContent.includes('#%s')`, s.LastJob))
	b.Shot(dir, "schedules", true)
	b.Click("delete", `tr[data-schedule="nightly"] button.danger`)
	b.Until("the confirm", row+`?.querySelector('button.confirm')?.textContent === 'Confirm delete'`)
	b.Click("confirm delete", `tr[data-schedule="nightly"] button.confirm`)
	b.Until("no schedules", `document.querySelector('#no-schedules') !== null`)
	if s := scheduleNamed(t, mc, "nightly"); s != nil {
		t.Fatalf("after delete: %+v", s)
	}

	// Workers: drain, then undrain.
	wrow := fmt.Sprintf(`document.querySelector('tr[data-worker-id=%q]')`, wk.ID())
	b.Eval(`location.hash = '#/workers'`)
	b.Until("the worker, alive", wrow+`?.textContent.includes('alive')`)
	b.Click("drain", fmt.Sprintf(`tr[data-worker-id=%q] button.danger`, wk.ID()))
	b.Click("confirm drain", fmt.Sprintf(`tr[data-worker-id=%q] button.confirm`, wk.ID()))
	b.Until("the worker draining", wrow+`?.textContent.includes('draining') && `+wrow+`.querySelector('.undrain') !== null`)
	b.Click("undrain", fmt.Sprintf(`tr[data-worker-id=%q] .undrain`, wk.ID()))
	b.Until("the worker alive again", wrow+`?.textContent.includes('alive') && `+wrow+`.querySelector('.undrain') === null`)
	b.NoConsoleErrors()
	t.Logf("screenshots in %s", dir)
}

// scheduleNamed returns list_schedules' schedule name, or nil.
func scheduleNamed(t *testing.T, mc rpcapi.MasterClient, name string) *rpcapi.ScheduleInfo {
	t.Helper()
	r, err := mc.ListSchedules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Schedules {
		if s.Name == name {
			return &s
		}
	}
	return nil
}
