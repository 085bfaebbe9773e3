package master_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// The JSON shapes of GET /api/v1/queues and of the status's attention, as
// docs/api.md has them.
type (
	apiQueue struct {
		Type                 string   `json:"type"`
		Tags                 []string `json:"tags"`
		LimitKey             string   `json:"limit_key"`
		Pending              int      `json:"pending"`
		Ready                int      `json:"ready"`
		Delayed              int      `json:"delayed"`
		Running              int      `json:"running"`
		OldestPendingSeconds float64  `json:"oldest_pending_seconds"`
		Finished             int      `json:"finished"`
		Failed               int      `json:"failed"`
		PerMinute            float64  `json:"per_minute"`
		Waiting              []struct {
			Reason string `json:"reason"`
			Count  int    `json:"count"`
		} `json:"waiting"`
	}
	apiQueues struct {
		Queues []apiQueue `json:"queues"`
		More   int        `json:"more"`
	}
	apiAttention struct {
		Attention []struct {
			Kind  string `json:"kind"`
			Text  string `json:"text"`
			Count int    `json:"count"`
			Link  string `json:"link"`
		} `json:"attention"`
	}
)

// queueOf returns the row of type typ in GET /api/v1/queues (path adds
// parameters), or false.
func queueOf(api *httpAPI, path, typ string) (apiQueue, bool) {
	var page apiQueues
	api.get("queues"+path, &page)
	for _, q := range page.Queues {
		if q.Type == typ {
			return q, true
		}
	}
	return apiQueue{}, false
}

// attentionOf returns the status's attention items of kind.
func attentionOf(api *httpAPI, kind string) []string {
	var st apiAttention
	api.get("status", &st)
	var out []string
	for _, a := range st.Attention {
		if a.Kind == kind {
			out = append(out, fmt.Sprintf("%d|%s|%s", a.Count, a.Text, a.Link))
		}
	}
	return out
}

// TestQueuesStuckType: 2,000 jobs of a type no live worker has show as
// one row, pending 2,000, with the reason counted (the words of each
// job's own reason), and at the top of the status; once a worker with
// the type registers, the reason is another and the attention is gone.
func TestQueuesStuckType(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	mc := client(t, m.Addr())
	api := newHTTPAPI(t, m)
	startWorker(t, m.Addr(), "echoer", 2, map[string]worker.HandlerFunc{"echo": echo})
	specs := make([]jobs.Spec, 2000)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "ocr", Args: map[string]string{"page": fmt.Sprint(i)}}
	}
	ids := submit(t, mc, specs...)

	var row apiQueue
	pollT(t, 10*time.Second, "the echo worker live", func() bool {
		r, ok := queueOf(api, "", "ocr")
		row = r
		return ok && len(r.Waiting) == 1 && strings.Contains(r.Waiting[0].Reason, "live workers have: echo")
	})
	if row.Pending != 2000 || row.Ready != 2000 || row.Delayed != 0 || row.Running != 0 || len(row.Tags) != 0 {
		t.Fatalf("row %+v, want 2000 pending and ready, none delayed or running", row)
	}
	want := `no live worker has type "ocr" (live workers have: echo)`
	if row.Waiting[0].Reason != want || row.Waiting[0].Count != 2000 {
		t.Fatalf("waiting %+v, want %q for 2000", row.Waiting, want)
	}
	if got := api.job(ids[1234]).Waiting; got != want {
		t.Fatalf("job %s waits %q; its lane says %q", ids[1234], got, want)
	}
	if row.OldestPendingSeconds < 0 {
		t.Fatalf("oldest_pending_seconds %v", row.OldestPendingSeconds)
	}
	att := attentionOf(api, rpcapi.AttentionNoWorker)
	wantAtt := `2000|2000 pending jobs of type "ocr": ` + want + `|#/jobs?state=pending&type=ocr`
	if len(att) != 1 || att[0] != wantAtt {
		t.Fatalf("attention %q, want [%q]", att, wantAtt)
	}

	// A worker with the type comes (it takes one job and never ends it).
	fake := &fakeWorker{}
	if _, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "ocr-1", Addr: serveFake(t, fake),
		Types: []string{"ocr"}, Slots: 1}); err != nil {
		t.Fatal(err)
	}
	pollT(t, 10*time.Second, "one ocr job running", func() bool {
		row, _ = queueOf(api, "", "ocr")
		return row.Running == 1
	})
	want = `all 1 slots of the 1 live workers with type "ocr" are busy; 1998 other jobs ready in its lane`
	if row.Pending != 1999 || len(row.Waiting) != 1 || row.Waiting[0].Reason != want || row.Waiting[0].Count != 1999 {
		t.Fatalf("row %+v, want 1999 pending waiting %q", row, want)
	}
	if got := api.job(ids[1234]).Waiting; got != want {
		t.Fatalf("job %s waits %q; its lane says %q", ids[1234], got, want)
	}
	if att := attentionOf(api, rpcapi.AttentionNoWorker); len(att) != 0 {
		t.Fatalf("attention %q with a worker for the type", att)
	}
}

// TestQueuesCounts: on a fake clock, a lane's ready, delayed and running
// jobs are counted apart, its oldest ready job's wait is measured on the
// master's clock, and the jobs it finished count in its throughput; the
// metric drover_queue_oldest_pending_seconds has the same age.
func TestQueuesCounts(t *testing.T) {
	m, fc := startClockMaster(t, master.Config{})
	mc := client(t, m.Addr())
	api := newHTTPAPI(t, m)
	start := fc.Now()
	submit(t, mc, jobs.Spec{Type: "crawl", LimitKey: "example.org"}, jobs.Spec{Type: "crawl", LimitKey: "example.org"},
		jobs.Spec{Type: "crawl", LimitKey: "example.org", Delay: time.Hour}, jobs.Spec{Type: "crawl"})
	fc.Advance(90 * time.Second)

	var page apiQueues
	api.get("queues?type=crawl", &page)
	if len(page.Queues) != 2 || page.More != 0 {
		t.Fatalf("rows %+v, want the lanes of key example.org and of no key", page)
	}
	keyed := page.Queues[0] // biggest first
	if keyed.LimitKey != "example.org" || keyed.Pending != 3 || keyed.Ready != 2 || keyed.Delayed != 1 ||
		keyed.OldestPendingSeconds != 90 || len(keyed.Waiting) != 2 || keyed.Waiting[0].Count != 2 || keyed.Waiting[1].Count != 1 {
		t.Fatalf("row %+v, want 2 ready and 1 delayed, waiting 90s", keyed)
	}
	if v := value(t, scrape(t, m.Addr()), "drover_queue_oldest_pending_seconds", map[string]string{"type": "crawl"}); v != 90 {
		t.Fatalf("drover_queue_oldest_pending_seconds{type=crawl} = %v, want 90", v)
	}
	api.get("queues?type=crawl&order=asc&limit=1", &page)
	if len(page.Queues) != 1 || page.More != 1 || page.Queues[0].LimitKey != "" || page.Queues[0].Pending != 1 {
		t.Fatalf("smallest first, one row: %+v", page)
	}

	// A worker takes both ready jobs of the key, and ends one of them.
	fake := &fakeWorker{}
	reg, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "crawler", Addr: serveFake(t, fake),
		Types: []string{"crawl"}, Slots: 3})
	if err != nil {
		t.Fatal(err)
	}
	pollT(t, 10*time.Second, "three jobs leased", func() bool { return len(fake.taskList()) == 3 })
	var done rpcapi.JobRef
	for _, task := range fake.taskList() {
		done = rpcapi.JobRef{JobID: task.JobID, Attempt: task.Attempt}
	}
	if _, err := mc.Complete(context.Background(), &rpcapi.CompleteArgs{WorkerID: reg.WorkerID, Secret: reg.Secret,
		Reports: []rpcapi.Report{{JobID: done.JobID, Attempt: done.Attempt, Outcome: jobs.Error, Error: "boom"}}}); err != nil {
		t.Fatal(err)
	}
	api.get("queues?type=crawl", &page)
	var ran, failed int
	for _, q := range page.Queues {
		ran += q.Running
		failed += q.Failed
		if q.Finished != q.Failed || q.PerMinute != float64(q.Finished)/5 {
			t.Fatalf("row %+v: finished, failed and per_minute disagree", q)
		}
		if q.LimitKey == "example.org" && (q.Ready != 0 || q.Delayed != 1 || q.OldestPendingSeconds != 0) {
			t.Fatalf("row %+v, want only the delayed job pending", q)
		}
	}
	if ran != 2 || failed != 1 {
		t.Fatalf("rows %+v: %d running and %d failed, want 2 and 1", page.Queues, ran, failed)
	}
	// Past the throughput window the finished job no longer counts.
	fc.Advance(6 * time.Minute)
	api.get("queues?type=crawl", &page)
	for _, q := range page.Queues {
		if q.Finished != 0 {
			t.Fatalf("row %+v counts a job finished %s ago", q, fc.Now().Sub(start))
		}
	}
}

// TestQueuesBadInput: bad parameters get a 400 that says what is wrong.
func TestQueuesBadInput(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	api := newHTTPAPI(t, m)
	for _, tc := range []struct{ query, want string }{
		{"?limit=0", "limit"},
		{"?limit=x", "limit"},
		{"?order=sideways", "order"},
		{"?cursor=1", "unknown parameter"},
		{"?type=a&type=b", "given 2 times"},
	} {
		status, b := api.do("GET", "queues"+tc.query, "")
		if status != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s, want 400 saying %q", tc.query, status, b, tc.want)
		}
	}
}

// TestAttentionFlappingWorker: a worker name registered again three
// times within ten minutes is at the top of the status; once those
// registrations are more than ten minutes old, it is not.
func TestAttentionFlappingWorker(t *testing.T) {
	m, fc := startClockMaster(t, master.Config{})
	mc := client(t, m.Addr())
	api := newHTTPAPI(t, m)
	addr := serveFake(t, &fakeWorker{})
	register := func() {
		t.Helper()
		if _, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "flappy", Addr: addr,
			Types: []string{"x"}, Slots: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 { // the first, then twice again: not yet
		register()
		fc.Advance(time.Minute)
	}
	if att := attentionOf(api, rpcapi.AttentionWorkerFlapping); len(att) != 0 {
		t.Fatalf("attention %q after two registrations again", att)
	}
	register()
	want := `3|worker "flappy" registered again 3 times in the last 10m0s|#/workers`
	if att := attentionOf(api, rpcapi.AttentionWorkerFlapping); len(att) != 1 || att[0] != want {
		t.Fatalf("attention %q, want [%q]", att, want)
	}
	fc.Advance(8*time.Minute + time.Second) // the first again is now 10m1s old
	if att := attentionOf(api, rpcapi.AttentionWorkerFlapping); len(att) != 0 {
		t.Fatalf("attention %q, want none once two of the three are past ten minutes", att)
	}
}

// TestAttentionFailingSchedule: a schedule whose last three fires failed
// is at the top of the status, with its latest error; deleted, it is
// not.
func TestAttentionFailingSchedule(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	mc := client(t, m.Addr())
	api := newHTTPAPI(t, m)
	startWorker(t, m.Addr(), "failer", 2, map[string]worker.HandlerFunc{
		"boom": func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{}, fmt.Errorf("disk full") },
	})
	submit(t, mc, jobs.Spec{Name: "nightly", Schedule: "@every 1s", Type: "boom"})
	var att []string
	pollT(t, 20*time.Second, "the schedule at the top of the status", func() bool {
		att = attentionOf(api, rpcapi.AttentionScheduleFailing)
		return len(att) == 1
	})
	if !strings.Contains(att[0], `schedule "nightly": its last `) || !strings.Contains(att[0], "fires failed") ||
		!strings.Contains(att[0], "disk full") || !strings.HasSuffix(att[0], "|#/schedules") {
		t.Fatalf("attention %q", att)
	}
	api.call("POST", "schedules/nightly/delete", "", http.StatusOK, nil)
	if att := attentionOf(api, rpcapi.AttentionScheduleFailing); len(att) != 0 {
		t.Fatalf("attention %q after the schedule was deleted", att)
	}
}
