// Package testbrowser drives headless Chromium for drover's browser tests
// (the dashboard, the standby's page): find the binary, open a tab, act,
// poll for a state, take screenshots, collect console errors.
package testbrowser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Need returns the path of a Chromium or Chrome binary. Without one it
// skips the test, or fails it when CI=true.
func Need(t testing.TB) string {
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

// Tab is one headless Chromium tab and the console errors it logged.
type Tab struct {
	T    testing.TB
	Ctx  context.Context
	Base string // the URL the test's pages are under

	mu     sync.Mutex
	errors []string // console errors and uncaught exceptions
}

// Open starts Chromium at path with one tab, stopped at the test's end.
// A console message that ignore (if not nil) accepts is not an error.
func Open(t testing.TB, path, base string, ignore func(chromedp.ConsoleMessage) bool) *Tab {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR="+t.TempDir()), // Chromium leaves its singleton files there
		chromedp.WindowSize(1280, 800))
	ctx, cancel := chromedp.NewContext(actx)
	b := &Tab{T: t, Ctx: ctx, Base: base}
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
			if (msg.IsException() || msg.Type == chromedp.ConsoleError) && (ignore == nil || !ignore(msg)) {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s:%d %s", msg.URL, msg.Line+1, msg.Text))
				b.mu.Unlock()
			}
		}
	})
	return b
}

// Do runs actions with a timeout.
func (b *Tab) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.T.Fatalf("%s: %v", what, err)
	}
}

// Until polls a JavaScript expression until it is truthy, for up to 20 s.
func (b *Tab) Until(what, expr string) {
	b.T.Helper()
	b.poll(20*time.Second, 50*time.Millisecond, what, expr)
}

// Within polls a JavaScript expression until it is truthy, failing the
// test when d passes first.
func (b *Tab) Within(d time.Duration, what, expr string) {
	b.T.Helper()
	b.poll(d, 20*time.Millisecond, what, expr)
}

func (b *Tab) poll(d, every time.Duration, what, expr string) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, d+10*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(every), chromedp.WithPollingTimeout(d)))
	if err != nil {
		text, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.body.innerText`))
		b.T.Fatalf("%s not within %s (%s): %v\npage text:\n%s", what, d, expr, err, text)
	}
}

// Click clicks the element that selector names once it is there, finding
// and clicking it in one step in the page: a node of a list the page
// draws again while live updates come (the workers table) can be gone
// between chromedp's finding it and its click ("Could not find node with
// given id").
func (b *Tab) Click(what, selector string) {
	b.T.Helper()
	sel, _ := json.Marshal(selector)
	b.Until(what, fmt.Sprintf(`(e => e ? (e.click(), true) : false)(document.querySelector(%s))`, sel))
}

// Eval evaluates a JavaScript expression to a string.
func (b *Tab) Eval(expr string) string {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.T.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// Shot saves a PNG of the current view as dir/name.png: the whole page,
// or only what the viewport shows. It returns the file's path.
func (b *Tab) Shot(dir, name string, whole bool) string {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	take := chromedp.CaptureScreenshot()
	if whole {
		take = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, take)
	if err != nil {
		b.T.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.T.Fatal(err)
	}
	return path
}

// ConsoleErrors returns the console errors and uncaught exceptions so far.
func (b *Tab) ConsoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// NoConsoleErrors fails the test if the page logged a console error or
// threw an uncaught exception.
func (b *Tab) NoConsoleErrors() {
	b.T.Helper()
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		b.T.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
