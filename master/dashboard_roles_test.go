package master_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestDashboardRoles signs in to the dashboard of a master with tokens in
// headless Chromium, as a browser does after its Basic auth prompt, with a
// token of each role: the header names the token and its role, and the
// pages show only the actions the role may take (read: none; client:
// submit and cancel, one job's and by filter; admin: also retry, drain,
// bulk retry and the schedule's buttons). A
// worker token gets the dashboard's 403.
func TestDashboardRoles(t *testing.T) {
	path := needChromium(t)
	m := startRoleMaster(t)
	admin, err := rpcapi.NewCaller(m.Addr(), rpcapi.TransportGob, rpcapi.WithToken(roleToken(rpcapi.RoleAdmin)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	f := &roleFixture{t: t, admin: admin, secrets: make(map[string]string)}
	pending := f.submit(jobs.Spec{Type: "nobody-runs-this"})
	cancelled := f.submit(jobs.Spec{Type: "nobody-runs-this"})
	f.call(rpcapi.MasterCancel, &rpcapi.CancelArgs{IDs: []string{cancelled}}, new(rpcapi.CancelReply))
	f.register("other-type") // alive, for the Drain button

	for _, tc := range []struct {
		role                                  rpcapi.Role
		submit, cancel, retry, drain, pauseOK bool
	}{
		{rpcapi.RoleRead, false, false, false, false, false},
		{rpcapi.RoleClient, true, true, false, false, false},
		{rpcapi.RoleAdmin, true, true, true, true, true},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			b := startBrowser(t, path, "http://"+m.Addr()+"/")
			signIn(b, m.Addr(), tc.role)
			want := string(tc.role) + " · " + string(tc.role)
			b.Until("the header to name the token", fmt.Sprintf(`document.querySelector('#who')?.hidden === false &&
				document.querySelector('#who').textContent === %q`, want))
			shown := func(what, page, ready, sel string, want bool) {
				t.Helper()
				b.Eval(fmt.Sprintf(`location.hash = %q`, page))
				b.Until(what+"'s page", ready)
				if got := b.Eval(fmt.Sprintf(`String(document.querySelector(%q) !== null)`, sel)) == "true"; got != want {
					t.Errorf("as %s, %s shown: %v, want %v", tc.role, what, got, want)
				}
			}
			shown("the submit form", "#/jobs", `document.querySelectorAll('tr[data-job-id]').length === 2`, `#submit-details`, tc.submit)
			shown("cancel", "#/jobs/"+pending, `document.querySelector('#job-state')?.textContent === 'pending'`, `#job-cancel`, tc.cancel)
			shown("retry", "#/jobs/"+cancelled, `document.querySelector('#job-state')?.textContent === 'cancelled'`, `#job-retry`, tc.retry)
			shown("drain", "#/workers", `document.querySelectorAll('tr[data-worker-id]').length === 1`,
				`tr[data-worker-id] button`, tc.drain)
			// The jobs list's bulk buttons, once counted.
			ready := `document.querySelectorAll('tr[data-job-id]').length === 1`
			if tc.cancel {
				ready += ` && document.querySelector('#bulk button') !== null`
			}
			shown("bulk cancel", "#/jobs?state=pending&type=nobody-runs-this", ready, `#bulk-cancel`, tc.cancel)
			if got := b.Eval(`String(document.querySelector('#bulk-retry') !== null)`) == "true"; got != tc.retry {
				t.Errorf("as %s, bulk retry shown: %v, want %v", tc.role, got, tc.retry)
			}
			for _, sel := range []string{".sched-pause", ".sched-run", "button.danger"} {
				shown("the schedule's "+sel, "#/schedules", `document.querySelector('tr[data-schedule="nightly"]') !== null`,
					`tr[data-schedule="nightly"] `+sel, tc.pauseOK)
			}
			b.NoConsoleErrors()
		})
	}
	t.Run("worker", func(t *testing.T) {
		b := startBrowser(t, path, "http://"+m.Addr()+"/")
		b.Do("open the dashboard", chromedp.Navigate(fmt.Sprintf("http://worker:%s@%s/", roleToken(rpcapi.RoleWorker), m.Addr())))
		b.Until("the refusal", `document.body.innerText.includes('token "worker" of role worker may not call GET /')`)
	})
}

// signIn opens the dashboard with role's token as a browser sends it
// after its Basic auth prompt: the first load carries it in the URL, which
// puts it in the browser's auth cache; the page is then loaded again
// without it, as a user who typed it in the prompt has it, so that its
// requests (fetch and the event stream) take it from the cache.
func signIn(b *browser, addr string, role rpcapi.Role) {
	b.T.Helper()
	b.Do("sign in", chromedp.Navigate(fmt.Sprintf("http://%s:%s@%s/", role, roleToken(role), addr)))
	b.Do("open the dashboard", chromedp.Navigate("http://"+addr+"/#/"))
	b.Until("the event stream", `document.querySelector('#live').dataset.state === 'open'`)
}
