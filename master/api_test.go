package master_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// The JSON shapes the tests read back.
type (
	apiJob struct {
		ID         string            `json:"id"`
		Type       string            `json:"type"`
		State      jobs.State        `json:"state"`
		Attempts   int               `json:"attempts"`
		Worker     string            `json:"worker"`
		Args       map[string]string `json:"args"`
		Group      string            `json:"group"`
		Timeout    string            `json:"timeout"`
		Waiting    string            `json:"waiting"`
		Error      string            `json:"error"`
		OutputTail string            `json:"output_tail"`
		History    []jobs.Attempt    `json:"history"`
		Timeline   []jobs.Event      `json:"timeline"`
	}
	apiPage struct {
		Jobs       []apiJob `json:"jobs"`
		NextCursor string   `json:"next_cursor"`
	}
	apiWorker struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
		Slots int    `json:"slots"`
		Jobs  []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"jobs"`
	}
	apiGroup struct {
		Name         string             `json:"name"`
		Total        int                `json:"total"`
		Counts       map[jobs.State]int `json:"counts"`
		Done         int                `json:"done"`
		Final        bool               `json:"final"`
		Progress     float64            `json:"progress"`
		Unsuccessful []string           `json:"unsuccessful"`
	}
	apiStatus struct {
		Counts  map[jobs.State]int `json:"counts"`
		Total   int                `json:"total"`
		Workers struct {
			Alive, Draining, Dead, Slots, Busy int
		} `json:"workers"`
		Throughput struct {
			Buckets []struct{ Succeeded, Failed, Cancelled int } `json:"buckets"`
		} `json:"throughput"`
	}
	apiEvent struct {
		Status  apiStatus   `json:"status"`
		Workers []apiWorker `json:"workers"`
		Changes []apiJob    `json:"changes"`
	}
	apiErr struct {
		Error struct{ Code, Message string } `json:"error"`
	}
)

// httpAPI calls a master's JSON API.
type httpAPI struct {
	t     testing.TB
	base  string
	token string // sent as a Bearer token when set
}

func newHTTPAPI(t testing.TB, m *master.Master) *httpAPI {
	return &httpAPI{t: t, base: "http://" + m.Addr() + "/api/v1/"}
}

// do sends a request and returns the status and body; every reply must be
// JSON.
func (c *httpAPI) do(method, path, body string, hdr ...string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, b := testproc.HTTPDo(c.t, req)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.t.Fatalf("%s %s: content type %q, body %s", method, path, ct, b)
	}
	return res.StatusCode, b
}

// call expects status want and decodes the reply into v (if not nil).
func (c *httpAPI) call(method, path, body string, want int, v any) {
	c.t.Helper()
	status, b := c.do(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

func (c *httpAPI) get(path string, v any) { c.t.Helper(); c.call("GET", path, "", 200, v) }

func (c *httpAPI) job(id string) apiJob {
	c.t.Helper()
	var j apiJob
	c.get("jobs/"+id, &j)
	return j
}

// waitState polls a job until it is in state.
func (c *httpAPI) waitState(id string, state jobs.State) apiJob {
	c.t.Helper()
	var j apiJob
	testproc.PollErr(c.t, 20*time.Second, fmt.Sprintf("job %s to be %s", id, state), func() error {
		if j = c.job(id); j.State != state {
			return fmt.Errorf("it is %s: %+v", j.State, j.Timeline)
		}
		return nil
	})
	return j
}

// startAPIMaster starts a master whose workers are not reaped even on a
// loaded machine: these tests check what the API shows, not liveness.
func startAPIMaster(t testing.TB, cfg master.Config) *master.Master {
	t.Helper()
	cfg.HeartbeatInterval, cfg.DeadAfter = 100*time.Millisecond, 30*time.Second
	return startMaster(t, cfg)
}

func pageIDs(p apiPage) []string {
	var ids []string
	for _, j := range p.Jobs {
		ids = append(ids, j.ID)
	}
	return ids
}

// TestRetry calls Master.Retry in process.
func TestRetry(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	startWorker(t, m.Addr(), "a", 2, map[string]worker.HandlerFunc{
		"once": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			if j.Attempt == 1 {
				return jobs.Result{}, worker.Permanent(errors.New("first attempt fails"))
			}
			return jobs.Result{Output: "second time lucky"}, nil
		},
	})
	mc := client(t, m.Addr())
	ctx := context.Background()
	ids := submit(t, mc, jobs.Spec{Type: "once"}, jobs.Spec{Type: "none-runs-this"})
	waitAll(t, mc, ids[:1], 20*time.Second)

	if err := m.Retry(ctx, "nope"); !errors.Is(err, rpcapi.ErrNotFound) {
		t.Fatalf("retry of unknown job: %v", err)
	}
	if err := m.Retry(ctx, ids[1]); !errors.Is(err, master.ErrConflict) {
		t.Fatalf("retry of pending job: %v", err)
	}
	if c := m.Counts(); c[jobs.Failed] != 1 || c[jobs.Pending] != 1 {
		t.Fatalf("counts before retry %v", c)
	}
	if err := m.Retry(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	r := waitAll(t, mc, ids[:1], 20*time.Second)
	if r.Counts[jobs.Succeeded] != 1 {
		t.Fatalf("after retry %v", r.Counts)
	}
	j := getJob(t, mc, ids[0]).Job
	if len(j.Attempts) != 2 || j.Attempt != 2 || j.Attempts[0].Outcome != jobs.Error || j.Attempts[1].Output != "second time lucky" {
		t.Fatalf("attempts %+v", j.Attempts)
	}
	if !slices.ContainsFunc(j.Events, func(e jobs.Event) bool { return e.Text == "retried by request" }) {
		t.Fatalf("no retry event in %+v", j.Events)
	}
	if c := m.Counts(); c[jobs.Failed] != 0 || c[jobs.Succeeded] != 1 || c[jobs.Pending] != 1 {
		t.Fatalf("counts after retry %v", c)
	}
	if err := m.Retry(ctx, ids[0]); !errors.Is(err, master.ErrConflict) {
		t.Fatalf("retry of succeeded job: %v", err)
	}

	// A cancelled pending job goes back to the queue.
	if _, err := mc.Cancel(ctx, &rpcapi.CancelArgs{IDs: ids[1:]}); err != nil {
		t.Fatal(err)
	}
	if err := m.Retry(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	info := getJob(t, mc, ids[1])
	if info.Job.State != jobs.Pending || !strings.Contains(info.Waiting, "no live worker") {
		t.Fatalf("retried cancelled job: %s, %q", info.Job.State, info.Waiting)
	}
}

// TestDrain calls Master.Drain in process: a drained worker gets no new
// job, is told to drain, and the job runs on another worker.
func TestDrain(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	h := map[string]worker.HandlerFunc{"echo": echo}
	a := startWorker(t, m.Addr(), "a", 2, h)
	mc := client(t, m.Addr())
	ctx := context.Background()

	if err := m.Drain(ctx, "nope"); !errors.Is(err, rpcapi.ErrUnknownWorker) {
		t.Fatalf("drain of unknown worker: %v", err)
	}
	if err := m.Drain(ctx, a.ID()); err != nil {
		t.Fatal(err)
	}
	if err := m.Drain(ctx, a.ID()); err != nil {
		t.Fatalf("second drain: %v", err)
	}
	ws, _ := mc.ListWorkers(ctx)
	if len(ws.Workers) != 1 || ws.Workers[0].State != rpcapi.WorkerDraining {
		t.Fatalf("workers %+v", ws.Workers)
	}
	ids := submit(t, mc, jobs.Spec{Type: "echo"})
	if info := getJob(t, mc, ids[0]); info.Job.State != jobs.Pending || !strings.Contains(info.Waiting, "no live worker") {
		t.Fatalf("job on a drained fleet: %s, %q", info.Job.State, info.Waiting)
	}
	b := startWorker(t, m.Addr(), "b", 2, h)
	waitAll(t, mc, ids, 20*time.Second)
	if j := getJob(t, mc, ids[0]).Job; j.Attempts[0].Worker != b.ID() {
		t.Fatalf("ran on %s, want %s", j.Attempts[0].Worker, b.ID())
	}
	// The heartbeat told worker a to drain: it shuts down without waiting
	// and is then dead, which cannot be drained.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Drain(ctx, a.ID()); !errors.Is(err, master.ErrConflict) {
		t.Fatalf("drain of dead worker: %v", err)
	}
}

// TestAPIJobs covers listing, filters, paging, detail, groups, workers,
// status and schedules.
func TestAPIJobs(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	c := newHTTPAPI(t, m)

	var one struct{ IDs []string }
	c.call("POST", "jobs", `{"type": "a", "args": {"n": 0, "big": true}, "group": "g1", "timeout": "1m30s", "retries": 2}`, 201, &one)
	if len(one.IDs) != 1 || one.IDs[0] != "1" {
		t.Fatalf("submit one: %+v", one)
	}
	var specs []string
	for i := 1; i < 20; i++ {
		specs = append(specs, fmt.Sprintf(`{"type": "a", "args": {"n": "%d"}, "group": "g1"}`, i))
	}
	for range 5 {
		specs = append(specs, `{"type": "b", "args": {"text": "Hello World"}, "group": "g/2"}`)
	}
	var batch struct {
		IDs      []string
		Existing []bool
	}
	c.call("POST", "jobs", `{"jobs": [`+strings.Join(specs, ",")+`]}`, 201, &batch)
	if len(batch.IDs) != 24 || batch.IDs[23] != "25" || len(batch.Existing) != 24 {
		t.Fatalf("submit batch: %+v", batch)
	}

	j := c.job("1")
	if j.Type != "a" || j.Args["n"] != "0" || j.Args["big"] != "true" || j.Timeout != "1m30s" || j.State != jobs.Pending ||
		!strings.Contains(j.Waiting, "no live worker") || len(j.History) != 0 || j.Timeline[0].Text != "submitted" {
		t.Fatalf("job 1: %+v", j)
	}

	// Paging: newest first by default, 10 a page.
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		p := apiPage{}
		c.get("jobs?limit=10&cursor="+cursor, &p)
		all = append(all, pageIDs(p)...)
		if p.NextCursor == "" {
			if pages != 2 || len(p.Jobs) != 5 {
				t.Fatalf("last page %d has %d jobs", pages, len(p.Jobs))
			}
			break
		}
		cursor = p.NextCursor
	}
	want := make([]string, 25)
	for i := range want {
		want[i] = fmt.Sprint(25 - i)
	}
	if !slices.Equal(all, want) {
		t.Fatalf("paged ids %v", all)
	}
	// A listing says why each pending job waits, as the job's page does.
	var p apiPage
	c.get("jobs?type=b", &p)
	for _, lj := range p.Jobs {
		if !strings.Contains(lj.Waiting, `no live worker has type "b"`) {
			t.Fatalf("listed pending job %s: waiting %q, want why it waits", lj.ID, lj.Waiting)
		}
	}
	p = apiPage{}
	c.get("jobs?order=asc&limit=3", &p)
	if !slices.Equal(pageIDs(p), []string{"1", "2", "3"}) || p.NextCursor == "" {
		t.Fatalf("asc page %v %q", pageIDs(p), p.NextCursor)
	}
	next := p.NextCursor
	p = apiPage{}
	c.get("jobs?order=asc&limit=3&cursor="+next, &p)
	if !slices.Equal(pageIDs(p), []string{"4", "5", "6"}) {
		t.Fatalf("asc page 2 %v", pageIDs(p))
	}

	for _, tc := range []struct {
		query string
		n     int
	}{
		{"", 25}, {"state=pending", 25}, {"state=running", 0}, {"type=b", 5}, {"group=g1", 20},
		{"group=g%2F2", 5}, {"q=hello", 5}, {"q=n%3D7", 1}, {"q=N%3D1", 11}, {"type=a&q=world", 0},
		{"worker=nobody", 0}, {"state=pending&type=a&group=g1&limit=1000", 20},
	} {
		p = apiPage{}
		c.get("jobs?"+tc.query, &p)
		if len(p.Jobs) != tc.n || p.NextCursor != "" {
			t.Errorf("jobs?%s: %d jobs (next %q), want %d", tc.query, len(p.Jobs), p.NextCursor, tc.n)
		}
	}

	// Run them all; then detail, worker filter, groups, workers, status.
	w := startWorker(t, m.Addr(), "runner", 4, map[string]worker.HandlerFunc{"a": echo, "b": echo})
	for _, id := range batch.IDs {
		c.waitState(id, jobs.Succeeded)
	}
	j = c.waitState("1", jobs.Succeeded)
	if len(j.History) != 1 || j.History[0].Outcome != jobs.OK || j.OutputTail != "hello " || j.History[0].Worker != w.ID() {
		t.Fatalf("job 1 after run: %+v", j)
	}
	p = apiPage{}
	c.get("jobs?worker="+w.ID(), &p)
	if len(p.Jobs) != 25 {
		t.Fatalf("worker filter: %d jobs", len(p.Jobs))
	}
	for _, lj := range p.Jobs {
		if lj.Waiting != "" {
			t.Fatalf("listed job %s, %s: waiting %q, want none", lj.ID, lj.State, lj.Waiting)
		}
	}

	var groups struct{ Groups []apiGroup }
	c.get("groups", &groups)
	if len(groups.Groups) != 2 {
		t.Fatalf("groups %+v", groups)
	}
	var g apiGroup
	c.get("groups/g%2F2", &g)
	if g.Name != "g/2" || g.Total != 5 || g.Done != 5 || !g.Final || g.Progress != 1 || g.Counts[jobs.Succeeded] != 5 ||
		g.Unsuccessful == nil || len(g.Unsuccessful) != 0 {
		t.Fatalf("group g/2: %+v", g)
	}

	var ws struct{ Workers []apiWorker }
	c.get("workers", &ws)
	if len(ws.Workers) != 1 || ws.Workers[0].ID != w.ID() || ws.Workers[0].Name != "runner" || ws.Workers[0].State != "alive" {
		t.Fatalf("workers %+v", ws)
	}
	c.get("workers?state=dead", &ws)
	if len(ws.Workers) != 0 {
		t.Fatalf("dead workers %+v", ws)
	}
	var wk apiWorker
	c.get("workers/"+w.ID(), &wk)
	if wk.Slots != 4 {
		t.Fatalf("worker %+v", wk)
	}

	var st apiStatus
	c.get("status", &st)
	done := 0
	for _, b := range st.Throughput.Buckets {
		done += b.Succeeded
	}
	if st.Counts[jobs.Succeeded] != 25 || st.Total != 25 || st.Workers.Alive != 1 || st.Workers.Slots != 4 ||
		len(st.Throughput.Buckets) != 15 || done != 25 {
		t.Fatalf("status %+v", st)
	}

	var sch struct{ Schedules []any }
	c.get("schedules", &sch)
	if sch.Schedules == nil || len(sch.Schedules) != 0 {
		t.Fatalf("schedules %+v", sch)
	}
}

// TestAPIActions covers cancel, retry and drain over HTTP.
func TestAPIActions(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	h := map[string]worker.HandlerFunc{
		"block": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			<-ctx.Done()
			return jobs.Result{}, ctx.Err()
		},
		"once": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			if j.Attempt == 1 {
				return jobs.Result{}, worker.Permanent(errors.New("no luck"))
			}
			return jobs.Result{Output: "ok now"}, nil
		},
	}
	a := startWorker(t, m.Addr(), "a", 2, h)
	c := newHTTPAPI(t, m)
	var sub struct{ IDs []string }
	c.call("POST", "jobs", `{"jobs": [{"type": "block"}, {"type": "once"}]}`, 201, &sub)
	block, once := sub.IDs[0], sub.IDs[1]

	c.waitState(block, jobs.Running)
	var j apiJob
	c.call("POST", "jobs/"+block+"/cancel", "", 200, &j)
	if j.State != jobs.Cancelled || j.History[0].Outcome != jobs.OutcomeCanceled {
		t.Fatalf("cancelled: %+v", j)
	}
	c.call("POST", "jobs/"+block+"/cancel", "", 409, nil)
	c.call("POST", "jobs/"+block+"/retry", "", 200, &j)
	if j.State != jobs.Pending && j.State != jobs.Running {
		t.Fatalf("retried: %+v", j)
	}
	j = c.waitState(block, jobs.Running)
	if j.Attempts != 2 {
		t.Fatalf("retried job has %d attempts", j.Attempts)
	}
	c.call("POST", "jobs/"+block+"/cancel", "", 200, nil)

	c.waitState(once, jobs.Failed)
	c.call("POST", "jobs/"+once+"/retry", "", 200, nil)
	j = c.waitState(once, jobs.Succeeded)
	if j.OutputTail != "ok now" || len(j.History) != 2 {
		t.Fatalf("retried job: %+v", j)
	}
	c.call("POST", "jobs/"+once+"/retry", "", 409, nil)

	var wk apiWorker
	c.call("POST", "workers/"+a.ID()+"/drain", "", 200, &wk)
	if wk.State != "draining" {
		t.Fatalf("drained worker: %+v", wk)
	}
	c.call("POST", "workers/"+a.ID()+"/drain", "", 200, nil)
}

// TestAPIBadInput sends malformed and invalid requests: each gets a 4xx
// JSON error with a message, and nothing changes.
func TestAPIBadInput(t *testing.T) {
	m := startAPIMaster(t, master.Config{MaxRequestBody: 1024})
	c := newHTTPAPI(t, m)
	c.call("POST", "jobs", `{"type": "a", "group": "g"}`, 201, nil)
	c.call("POST", "jobs", `{"type": "a", "key": "k1"}`, 201, nil)
	snapshot := func() string {
		_, jobs := c.do("GET", "jobs?order=asc", "")
		_, groups := c.do("GET", "groups", "")
		var st apiStatus
		c.get("status", &st)
		st.Throughput.Buckets = nil
		s, _ := json.Marshal(st)
		return string(jobs) + string(groups) + string(s)
	}
	before := snapshot()
	badCursor := base64.RawURLEncoding.EncodeToString([]byte("x5"))
	for _, tc := range []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"GET", "jobs?colour=red", "", 400, `unknown parameter "colour"`},
		{"GET", "jobs?state=weird", "", 400, `unknown state "weird"`},
		{"GET", "jobs?state=pending&state=running", "", 400, "given 2 times"},
		{"GET", "jobs?cursor=!!!", "", 400, "bad cursor"},
		{"GET", "jobs?cursor=" + badCursor, "", 400, "bad cursor"},
		{"GET", "jobs?limit=0", "", 400, "limit"},
		{"GET", "jobs?limit=1001", "", 400, "limit"},
		{"GET", "jobs?limit=ten", "", 400, "limit"},
		{"GET", "jobs?order=sideways", "", 400, "order"},
		{"GET", "jobs?q=%zz", "", 400, "query"},
		{"GET", "status?verbose=1", "", 400, "takes none"},
		{"GET", "workers?state=zombie", "", 400, "zombie"},
		{"POST", "jobs", `{"type": "a"`, 400, "malformed JSON"},
		{"POST", "jobs", ``, 400, "empty body"},
		{"POST", "jobs", `[{"type": "a"}]`, 400, "malformed JSON"},
		{"POST", "jobs", `{"type": "a", "colour": 1}`, 400, `unknown field "colour"`},
		{"POST", "jobs", `{"type": "a"} {"type": "b"}`, 400, "more than one JSON value"},
		{"POST", "jobs", `{"type": ""}`, 400, "no type"},
		{"POST", "jobs", `{"type": "a", "timeout": "soon"}`, 400, `timeout "soon"`},
		{"POST", "jobs", `{"type": "a", "retries": -1}`, 400, "retries"},
		{"POST", "jobs", `{"type": "a", "retries": 1.5}`, 400, "malformed JSON"},
		{"POST", "jobs", `{"type": "a", "args": {"x": [1]}}`, 400, `arg "x"`},
		{"POST", "jobs", `{"type": "a", "args": {"": "x"}}`, 400, "empty name"},
		{"POST", "jobs", `{"jobs": []}`, 400, "no jobs"},
		{"POST", "jobs", `{"jobs": [{"type": "a"}, {"type": ""}]}`, 400, "job 2"},
		{"POST", "jobs", `{"type": "a", "jobs": [{"type": "a"}]}`, 400, "not both"},
		{"POST", "jobs", `{"type": "a", "args": {"x": "` + strings.Repeat("x", 2000) + `"}}`, 413, "body over 1024 bytes"},
		{"POST", "jobs?dry=1", `{"type": "a"}`, 400, "unknown parameter"},
		{"GET", "jobs/999", "", 404, `job "999"`},
		{"POST", "jobs/999/cancel", "", 404, `job "999"`},
		{"POST", "jobs/999/retry", "", 404, `job "999"`},
		{"POST", "jobs/1/retry", "", 409, "only a failed or cancelled job"},
		{"GET", "workers/nope", "", 404, `"nope"`},
		{"POST", "workers/nope/drain", "", 404, `"nope"`},
		{"GET", "groups/nope", "", 404, `group "nope"`},
		{"DELETE", "jobs", "", 405, "allowed: GET, POST"},
		{"GET", "jobs/1/cancel", "", 405, "allowed: POST"},
		{"PUT", "status", "", 405, "allowed: GET"},
		{"GET", "nothing", "", 404, "no API endpoint"},
	} {
		status, b := c.do(tc.method, tc.path, tc.body)
		var e apiErr
		if err := json.Unmarshal(b, &e); err != nil {
			t.Errorf("%s %s: %v in %s", tc.method, tc.path, err, b)
			continue
		}
		if status != tc.status || e.Error.Code == "" || !strings.Contains(e.Error.Message, tc.msg) {
			t.Errorf("%s %s: %d %+v, want %d with %q", tc.method, tc.path, status, e.Error, tc.status, tc.msg)
		}
		if strings.Contains(e.Error.Message, "rpcapi:") {
			t.Errorf("%s %s: message keeps the sentinel prefix: %q", tc.method, tc.path, e.Error.Message)
		}
	}
	// A page of another site cannot make a browser submit or cancel here.
	status, b := c.do("POST", "jobs", `{"type": "a"}`, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site")
	if status != 403 || !bytes.Contains(b, []byte("cross-origin")) {
		t.Errorf("cross-site submit: %d %s", status, b)
	}
	status, _ = c.do("POST", "jobs/1/cancel", "", "Sec-Fetch-Site", "cross-site")
	if status != 403 {
		t.Errorf("cross-site cancel: %d", status)
	}
	if after := snapshot(); after != before {
		t.Fatalf("bad requests changed the master:\n%s\n%s", before, after)
	}
	// The key is known: a second submit returns the same job.
	var again struct {
		IDs      []string
		Existing []bool
	}
	c.call("POST", "jobs", `{"type": "a", "key": "k1"}`, 201, &again)
	if again.IDs[0] != "2" || !again.Existing[0] {
		t.Fatalf("resubmit by key: %+v", again)
	}
}

// sseReader reads the events of /api/v1/events.
type sseReader struct {
	t      testing.TB
	cancel context.CancelFunc
	events <-chan apiEvent
	done   <-chan error
}

func openEvents(t testing.TB, m *master.Master) *sseReader {
	t.Helper()
	r := &sseReader{t: t}
	r.cancel, r.events, r.done = readEvents[apiEvent](t, m, "")
	return r
}

// readEvents opens /api/v1/events with query on m, wants a 200 of
// text/event-stream, and decodes the data of each event as a T into
// events until the stream ends, then sends why to done. cancel (also
// called at cleanup) closes the stream.
func readEvents[T any](t testing.TB, m *master.Master, query string) (cancel context.CancelFunc, events <-chan T, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+m.Addr()+"/api/v1/events"+query, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := res.Header.Get("Content-Type"); res.StatusCode != 200 || ct != "text/event-stream" {
		res.Body.Close()
		t.Fatalf("events%s: %d %q", query, res.StatusCode, ct)
	}
	evs, errs := make(chan T, 1000), make(chan error, 1)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev T
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				errs <- err
				return
			}
			evs <- ev
		}
		errs <- sc.Err()
	}()
	return cancel, evs, errs
}

// next returns the next event that satisfies ok.
func (r *sseReader) next(what string, ok func(apiEvent) bool) apiEvent {
	r.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev := <-r.events:
			if ok(ev) {
				return ev
			}
		case err := <-r.done:
			r.t.Fatalf("event stream ended waiting for %s: %v", what, err)
		case <-timeout:
			r.t.Fatalf("no event with %s", what)
		}
	}
}

func eventStreams() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "master.httpAPI.serveEvents")
}

// TestAPIEvents follows the event stream: workers joining, jobs moving, at
// most 4 events a second, and the stream ending with the client or the
// master.
func TestAPIEvents(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	c := newHTTPAPI(t, m)
	ev := openEvents(t, m)
	first := ev.next("a first event", func(e apiEvent) bool { return true })
	if first.Status.Total != 0 || len(first.Workers) != 0 || first.Status.Counts == nil {
		t.Fatalf("first event %+v", first)
	}

	w := startWorker(t, m.Addr(), "live", 4, map[string]worker.HandlerFunc{"echo": echo})
	ev.next("the new worker", func(e apiEvent) bool {
		return len(e.Workers) == 1 && e.Workers[0].ID == w.ID() && e.Status.Workers.Alive == 1
	})

	var sub struct{ IDs []string }
	c.call("POST", "jobs", `{"type": "echo", "args": {"name": "x"}}`, 201, &sub)
	ev.next("the job succeeded", func(e apiEvent) bool {
		return slices.ContainsFunc(e.Changes, func(j apiJob) bool { return j.ID == sub.IDs[0] && j.State == jobs.Succeeded }) &&
			e.Status.Counts[jobs.Succeeded] == 1
	})

	// A burst of changes: events stay at least eventGap apart.
	stop := make(chan struct{})
	burst := make(chan struct{})
	go func() {
		defer close(burst)
		for {
			select {
			case <-stop:
				return
			default:
				c.do("POST", "jobs", `{"type": "echo"}`)
			}
		}
	}()
	var times []time.Time
	for len(times) < 6 {
		ev.next("burst", func(apiEvent) bool { return true })
		times = append(times, time.Now())
	}
	close(stop)
	<-burst
	// Sent at least eventGap (250 ms) apart: six events span at least
	// 1.25 s as sent. Measured where they arrive, one late event makes
	// its gap to the next short, so the test bounds the span, not each
	// gap: at most 4 events a second, with a quarter second to spare.
	if span := times[len(times)-1].Sub(times[0]); span < time.Second {
		t.Errorf("%d events in %s, want at least 1s between the first and the last", len(times), span)
	}

	// The handler ends when the client goes away.
	pollT(t, 10*time.Second, "one event stream", func() bool { return eventStreams() == 1 })
	ev.cancel()
	pollT(t, 10*time.Second, "the event stream to end", func() bool { return eventStreams() == 0 })

	// And when the master closes.
	ev = openEvents(t, m)
	ev.next("a first event", func(apiEvent) bool { return true })
	m.Close()
	select {
	case <-ev.done:
	case <-time.After(10 * time.Second):
		t.Fatal("event stream still open after Close")
	}
	pollT(t, 10*time.Second, "the event stream to end", func() bool { return eventStreams() == 0 })
}

// TestAPIToken: with a token, the API and the dashboard need it (Bearer or
// Basic auth); the API's refusal is JSON.
func TestAPIToken(t *testing.T) {
	m := startAPIMaster(t, master.Config{Token: "s3cret"})
	c := newHTTPAPI(t, m)
	status, b := c.do("GET", "status", "")
	var e apiErr
	if err := json.Unmarshal(b, &e); err != nil || status != 401 || e.Error.Code != "unauthorized" {
		t.Fatalf("no token: %d %s", status, b)
	}
	if status, _ := c.do("POST", "jobs", `{"type": "a"}`, "Authorization", "Bearer wrong"); status != 401 {
		t.Fatalf("wrong token: %d", status)
	}
	if status, b := c.do("GET", "status", "", "Authorization", "Bearer s3cret"); status != 200 {
		t.Fatalf("bearer token: %d %s", status, b)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("me:s3cret"))
	if status, b := c.do("POST", "jobs", `{"type": "a"}`, "Authorization", basic); status != 201 {
		t.Fatalf("basic auth: %d %s", status, b)
	}
	res, err := http.Get("http://" + m.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("dashboard without token: %d %v", res.StatusCode, res.Header)
	}
}
