package master_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestDashboardQueues opens the dashboard's queues page in headless
// Chromium on a master with 2,000 jobs of a type no worker has: within
// 2 s the page shows the stuck type with its reason counted, and the
// overview puts it under "Needs attention"; a worker with the type comes
// and the page follows without a reload; the row links to the lane's
// pending jobs. Screenshots go to DROVER_SCREENSHOT_DIR when set.
func TestDashboardQueues(t *testing.T) {
	path := needChromium(t)
	m := startMaster(t, browserMasterConfig())
	mc := client(t, m.Addr())
	startWorker(t, m.Addr(), "echoer", 2, map[string]worker.HandlerFunc{"echo": echo})
	specs := make([]jobs.Spec, 2000)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "ocr", Args: map[string]string{"page": fmt.Sprint(i)}}
	}
	submit(t, mc, specs...)
	submit(t, mc, jobs.Spec{Type: "echo", Args: map[string]string{"name": "x"}})
	reason := `no live worker has type "ocr" (live workers have: echo)`

	b := startBrowser(t, path, "http://"+m.Addr()+"/")
	start := time.Now()
	b.Do("load the queues page", chromedp.Navigate(b.Base+"#/queues"))
	stuck := fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-queue-type="ocr"]');
		return !!r && r.textContent.includes('2000') && r.textContent.includes(%q); })()`, "2000 "+reason)
	b.Within(2*time.Second, "the stuck type with its reason", stuck)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the queues page showed the stuck type %s after the navigation began, want within 2s", took)
	} else {
		t.Logf("the queues page showed the stuck type %s after the navigation began", took.Round(time.Millisecond))
	}
	b.Eval(`window.droverNoReload = 'yes'`)

	dir := os.Getenv("DROVER_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	b.Shot(dir, "queues", true)

	b.Eval(`location.hash = '#/'`)
	b.Until("the attention panel", fmt.Sprintf(`document.querySelector('#attention li[data-kind="no_worker"] a')?.textContent === %q`,
		`2000 pending jobs of type "ocr": `+reason))
	if got := b.Eval(`document.querySelector('#attention a').getAttribute('href')`); got != "#/jobs?state=pending&type=ocr" {
		t.Fatalf("the attention links to %q", got)
	}
	b.Shot(dir, "overview-attention", true)

	// A worker with the type comes: the page follows, without a reload.
	b.Eval(`location.hash = '#/queues'`)
	b.Until("the queues page again", stuck)
	if _, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "ocr-1", Addr: serveFake(t, &fakeWorker{}),
		Types: []string{"ocr"}, Slots: 1}); err != nil {
		t.Fatal(err)
	}
	b.Until("the lane's new reason", `(() => { const r = document.querySelector('tr[data-queue-type="ocr"]');
		return !!r && r.textContent.includes('1999 all 1 slots of the 1 live workers with type "ocr" are busy'); })()`)
	if got := b.Eval(`String(window.droverNoReload)`); got != "yes" {
		t.Fatal("the page reloaded")
	}
	b.Click("follow the row's link", `tr[data-queue-type="ocr"] a`)
	b.Until("the lane's pending jobs", `location.hash === '#/jobs?state=pending&type=ocr'`)

	b.Do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.Eval(`location.hash = '#/queues'`)
	b.Until("the queues page on a phone", `document.querySelector('tr[data-queue-type="ocr"]') !== null`)
	b.Until("the queues page fitting a phone's width", `document.documentElement.scrollWidth <= window.innerWidth`)
	b.Shot(dir, "phone-queues", false)
	b.NoConsoleErrors()
	t.Logf("screenshots in %s", dir)
}
