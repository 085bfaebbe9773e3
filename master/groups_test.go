package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// groupOnDone is GET /api/v1/groups/NAME with its on_done record.
type groupOnDone struct {
	Name   string             `json:"name"`
	Total  int                `json:"total"`
	Counts map[jobs.State]int `json:"counts"`
	Final  bool               `json:"final"`
	OnDone *struct {
		State  string     `json:"state"`
		Since  time.Time  `json:"since"`
		Ended  time.Time  `json:"ended"`
		Result jobs.State `json:"result"`
		Then   string     `json:"then"`
		// ThenState is the follow-up's state.
		ThenState jobs.State `json:"then_state"`
		Done      []string   `json:"done"`
		Errors    []string   `json:"errors"`
	} `json:"on_done"`
}

func getGroup(t *testing.T, m *master.Master, name string) groupOnDone {
	t.Helper()
	var g groupOnDone
	newHTTPAPI(t, m).get("groups/"+url.PathEscape(name), &g)
	return g
}

// waitOnDone polls the group until its on_done record is done.
func waitOnDone(t *testing.T, m *master.Master, name string) groupOnDone {
	t.Helper()
	var g groupOnDone
	pollT(t, 30*time.Second, "on_done of group "+name, func() bool {
		g = getGroup(t, m, name)
		return g.OnDone != nil && g.OnDone.State == "done"
	})
	return g
}

// thenJobs lists the jobs that carry group g's follow-up key, among the
// latest 1000 (the follow-up's ID, reserved by the submit of the group's
// first job with a then, sorts it before that job).
func thenJobs(t *testing.T, mc rpcapi.MasterClient, g string) []jobs.Job {
	t.Helper()
	r, err := mc.ListJobs(context.Background(), &rpcapi.ListJobsArgs{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []jobs.Job
	for _, j := range r.Jobs {
		if j.Spec.Key == master.ThenKey(g) {
			out = append(out, j)
		}
	}
	return out
}

// pageSpecs returns n "page" jobs of group g; the first carries then.
func pageSpecs(g string, n int, then *jobs.Spec) []jobs.Spec {
	specs := make([]jobs.Spec, n)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "page", Group: g, Args: map[string]string{"n": fmt.Sprint(i)}}
	}
	specs[0].Then = then
	return specs
}

func page(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	n := j.Spec.Args["n"]
	return jobs.Result{Output: "page " + n, Data: `{"n":` + n + `}`}, nil
}

// TestGroupThenChord: a group of 200 jobs over 3 workers; the follow-up
// job gets all 200 results, in submission order, as its input, once.
func TestGroupThenChord(t *testing.T) {
	for _, store := range []string{master.StoreMemory, master.StoreBolt} {
		t.Run(store, func(t *testing.T) {
			cfg := master.Config{Store: store}
			if store == master.StoreBolt {
				cfg.DataDir = t.TempDir()
			}
			m := startAPIMaster(t, cfg)
			inputs := make(chan *jobs.Job, 10)
			h := map[string]worker.HandlerFunc{
				"page": page,
				"merge": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
					inputs <- j
					return jobs.Result{Output: "merged"}, nil
				},
			}
			for i := range 3 {
				startWorker(t, m.Addr(), fmt.Sprint("w", i), 4, h)
			}
			mc := client(t, m.Addr())
			specs := pageSpecs("crawl", 200, &jobs.Spec{Type: "merge", Args: map[string]string{"out": "all.json"}})
			// A later member's then is not the group's: the first one is.
			specs[7].Then = &jobs.Spec{Type: "other"}
			ids := submit(t, mc, specs...)

			var j *jobs.Job
			select {
			case j = <-inputs:
			case <-time.After(30 * time.Second):
				t.Fatal("the follow-up did not run")
			}
			if j.Spec.Args["out"] != "all.json" {
				t.Errorf("follow-up args %v", j.Spec.Args)
			}
			var in master.ThenInput
			if err := json.Unmarshal([]byte(j.Spec.Input), &in); err != nil {
				t.Fatalf("input: %v: %.200s", err, j.Spec.Input)
			}
			if in.Group != "crawl" || in.State != jobs.Succeeded || in.Jobs != 200 || in.Counts[jobs.Succeeded] != 200 ||
				len(in.Results) != 200 || in.Omitted != 0 {
				t.Fatalf("input summary: %+v", in)
			}
			for i, r := range in.Results {
				if r.ID != ids[i] || r.State != jobs.Succeeded || r.Output != fmt.Sprint("page ", i) ||
					r.Data != fmt.Sprintf(`{"n":%d}`, i) || r.Truncated {
					t.Fatalf("result %d: %+v", i, r)
				}
			}

			g := waitOnDone(t, m, "crawl")
			if g.Total != 200 || g.OnDone.Result != jobs.Succeeded || g.OnDone.Then != j.ID || len(g.OnDone.Errors) > 0 {
				t.Fatalf("group %+v on_done %+v", g, g.OnDone)
			}
			fj := thenJobs(t, mc, "crawl")
			if len(fj) != 1 || fj[0].ID != j.ID || fj[0].Spec.Group != "" {
				t.Fatalf("follow-up jobs %+v", fj)
			}
			waitAll(t, mc, []string{j.ID}, 10*time.Second)
			select {
			case again := <-inputs:
				t.Fatalf("follow-up ran twice (job %s)", again.ID)
			default:
			}
		})
	}
}

// TestGroupThenInputBounded: results that do not fit max_args_bytes are
// cut to a common length, output keeping its tail.
func TestGroupThenInputBounded(t *testing.T) {
	m := startAPIMaster(t, master.Config{MaxArgsBytes: 8 << 10})
	inputs := make(chan string, 1)
	startWorker(t, m.Addr(), "w", 4, map[string]worker.HandlerFunc{
		"page": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{Output: strings.Repeat("x", 5000) + "END-" + j.Spec.Args["n"]}, nil
		},
		"merge": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			inputs <- j.Spec.Input
			return jobs.Result{}, nil
		},
	})
	mc := client(t, m.Addr())
	submit(t, mc, pageSpecs("big", 10, &jobs.Spec{Type: "merge", Args: map[string]string{"a": "b"}})...)
	var raw string
	select {
	case raw = <-inputs:
	case <-time.After(20 * time.Second):
		t.Fatal("the follow-up did not run")
	}
	if len(raw) > 8<<10-2 {
		t.Fatalf("input of %d bytes; bound %d", len(raw), 8<<10-2)
	}
	var in master.ThenInput
	if err := json.Unmarshal([]byte(raw), &in); err != nil {
		t.Fatal(err)
	}
	if len(in.Results) != 10 || in.Omitted != 0 {
		t.Fatalf("%d results, %d omitted", len(in.Results), in.Omitted)
	}
	for i, r := range in.Results {
		if !r.Truncated || !strings.HasSuffix(r.Output, fmt.Sprint("END-", i)) || len(r.Output) < 400 {
			t.Fatalf("result %d: truncated %v, %d bytes of output ending %q", i, r.Truncated, len(r.Output), r.Output[max(0, len(r.Output)-8):])
		}
	}
}

// hookServer is a webhook receiver that answers 500 while failing is set.
type hookServer struct {
	*httptest.Server
	failing atomic.Bool
	posts   chan []byte // bodies of accepted posts
	tries   atomic.Int32
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{posts: make(chan []byte, 100)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.tries.Add(1)
		b, _ := io.ReadAll(r.Body)
		if h.failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		h.posts <- b
	}))
	t.Cleanup(h.Close)
	return h
}

// TestGroupOnDoneAfterRestart: a master stops while a group's on_done is
// pending (its follow-up submitted, its webhook failing). The next master
// on the same bolt file delivers the webhook and submits no second
// follow-up. The first master runs on a fake clock, which the test moves
// through the webhook's first backoff.
func TestGroupOnDoneAfterRestart(t *testing.T) {
	dir := t.TempDir()
	hook := newHookServer(t)
	hook.failing.Store(true)
	notify := master.Notify{Webhooks: []master.Webhook{{URL: hook.URL}}, Attempts: 1000,
		RetryBackoff: 10 * time.Second, MaxBackoff: 50 * time.Second}
	m1, fc := startClockMaster(t, master.Config{Store: master.StoreBolt, DataDir: dir, Notify: notify})
	// No worker runs "merge" under the first master.
	startWorker(t, m1.Addr(), "a", 4, map[string]worker.HandlerFunc{"page": page})
	mc1 := client(t, m1.Addr())
	submit(t, mc1, pageSpecs("nightly", 5, &jobs.Spec{Type: "merge"})...)
	nextTry(t, fc, &hook.tries, 1, 5*time.Second, 10*time.Second)
	pollT(t, 20*time.Second, "a pending on_done with its follow-up submitted", func() bool {
		g := getGroup(t, m1, "nightly")
		return g.OnDone != nil && g.OnDone.State == "pending" && g.OnDone.Then != "" && hook.tries.Load() >= 2
	})
	then := getGroup(t, m1, "nightly").OnDone.Then
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}

	hook.failing.Store(false)
	m2 := startAPIMaster(t, master.Config{Store: master.StoreBolt, DataDir: dir, Notify: notify})
	var merges atomic.Int32
	startWorker(t, m2.Addr(), "b", 4, map[string]worker.HandlerFunc{"page": page,
		"merge": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) { merges.Add(1); return jobs.Result{}, nil }})
	var body []byte
	select {
	case body = <-hook.posts:
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook after the restart")
	}
	var n struct {
		Event, Group, Then string
		Jobs               int
	}
	if err := json.Unmarshal(body, &n); err != nil || n.Event != "group_done" || n.Group != "nightly" || n.Then != then || n.Jobs != 5 {
		t.Fatalf("webhook body %s (%v)", body, err)
	}
	g := waitOnDone(t, m2, "nightly")
	mc2 := client(t, m2.Addr())
	if fj := thenJobs(t, mc2, "nightly"); len(fj) != 1 || fj[0].ID != then || g.OnDone.Then != then {
		t.Fatalf("follow-ups %+v, on_done %+v", fj, g.OnDone)
	}
	waitAll(t, mc2, []string{then}, 20*time.Second)
	if merges.Load() != 1 {
		t.Fatalf("the follow-up ran %d times", merges.Load())
	}
	select {
	case b := <-hook.posts:
		t.Fatalf("a second webhook: %s", b)
	default:
	}
}

// keptStore is a MemStore that outlives the masters that use it.
type keptStore struct{ *jobs.MemStore }

func (keptStore) Close() error { return nil }

// TestGroupOnDoneRerun: a master that stopped after submitting the
// follow-up but before recording it (or before recording anything) runs
// on_done again at start, and the follow-up is not submitted twice.
func TestGroupOnDoneRerun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record []byte // the group's record as the crash left it; nil: none
	}{
		{"pending record", []byte(`{"state":"pending","since":"2026-01-01T00:00:00Z"}`)},
		{"no record", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := keptStore{jobs.NewMemStore()}
			hook := newHookServer(t)
			cfg := master.Config{StoreImpl: st, Notify: master.Notify{Webhooks: []master.Webhook{{URL: hook.URL}}}}
			m1 := startAPIMaster(t, cfg)
			startWorker(t, m1.Addr(), "a", 4, map[string]worker.HandlerFunc{"page": page, "merge": page})
			mc1 := client(t, m1.Addr())
			submit(t, mc1, pageSpecs("g", 3, &jobs.Spec{Type: "merge", Args: map[string]string{"n": "99"}})...)
			g1 := waitOnDone(t, m1, "g")
			<-hook.posts
			waitAll(t, mc1, []string{g1.OnDone.Then}, 20*time.Second)
			m1.Close()
			if err := st.SaveMeta("groups", "g", tc.record); err != nil {
				t.Fatal(err)
			}

			m2 := startAPIMaster(t, cfg)
			select {
			case <-hook.posts: // sent again: the record did not say it was sent
			case <-time.After(20 * time.Second):
				t.Fatal("on_done did not run again")
			}
			g2 := waitOnDone(t, m2, "g")
			mc2 := client(t, m2.Addr())
			if fj := thenJobs(t, mc2, "g"); len(fj) != 1 || g2.OnDone.Then != g1.OnDone.Then {
				t.Fatalf("follow-ups %+v; on_done then %s, before %s", fj, g2.OnDone.Then, g1.OnDone.Then)
			}
			// A third start finds the record done and does nothing.
			m2.Close()
			m3 := startAPIMaster(t, cfg)
			if g := getGroup(t, m3, "g"); g.OnDone == nil || g.OnDone.State != "done" {
				t.Fatalf("on_done after the third start: %+v", g.OnDone)
			}
			select {
			case b := <-hook.posts:
				t.Fatalf("a webhook after the third start: %s", b)
			case <-time.After(200 * time.Millisecond): // nothing should come; this bounds the wait
			}
		})
	}
}

// TestGroupLateMembers: on_done fires once per group name; members
// submitted after it fired do not fire it again.
func TestGroupLateMembers(t *testing.T) {
	hook := newHookServer(t)
	m := startAPIMaster(t, master.Config{Notify: master.Notify{Webhooks: []master.Webhook{{URL: hook.URL}}}})
	startWorker(t, m.Addr(), "a", 4, map[string]worker.HandlerFunc{"page": page})
	mc := client(t, m.Addr())
	submit(t, mc, pageSpecs("g", 2, nil)...)
	waitOnDone(t, m, "g")
	<-hook.posts
	ids := submit(t, mc, pageSpecs("g", 2, nil)...)
	waitAll(t, mc, ids, 20*time.Second)
	if g := getGroup(t, m, "g"); g.Total != 4 || !g.Final || g.OnDone.State != "done" {
		t.Fatalf("group %+v", g)
	}
	select {
	case b := <-hook.posts:
		t.Fatalf("on_done fired again: %s", b)
	case <-time.After(200 * time.Millisecond):
	}
	if n := hook.tries.Load(); n != 1 {
		t.Fatalf("%d posts", n)
	}
}

// TestGroupThenRefusedFollowUp: a follow-up the master refuses (args over
// max_args_bytes) is an error recorded on the group, and on_done ends.
func TestGroupThenRefusedFollowUp(t *testing.T) {
	m, _ := refusedFollowUp(t)
	g := waitOnDone(t, m, "g")
	if g.OnDone.Then != "" || len(g.OnDone.Errors) != 1 || !strings.HasPrefix(g.OnDone.Errors[0], "then: ") ||
		!slices.Contains(g.OnDone.Done, "then") {
		t.Fatalf("on_done %+v", g.OnDone)
	}
}

// regroup is a master on a bolt store with a webhook, and what a test of
// a group submitted again after a purge needs.
type regroup struct {
	t      *testing.T
	dir    string
	hook   *hookServer
	cfg    master.Config
	m      *master.Master
	mc     rpcapi.MasterClient
	merges atomic.Int32
}

func (r *regroup) start(pages bool) {
	r.m = startAPIMaster(r.t, r.cfg)
	r.mc = client(r.t, r.m.Addr())
	h := map[string]worker.HandlerFunc{"merge": func(context.Context, *jobs.Job) (jobs.Result, error) {
		r.merges.Add(1)
		return jobs.Result{}, nil
	}}
	if pages {
		h["page"] = page
	}
	startWorker(r.t, r.m.Addr(), "w", 4, h)
}

// submit submits the group's 3 page jobs, the first with a then, and
// returns the follow-up ID the submit reserved.
func (r *regroup) submit() string {
	r.t.Helper()
	rep := submitReply(r.t, r.mc, pageSpecs("g", 3, &jobs.Spec{Type: "merge"})...)
	if len(rep.ThenIDs) != 1 || rep.ThenIDs[0].Group != "g" || rep.ThenIDs[0].ID == "" {
		r.t.Fatalf("then_ids %+v: want one for group g", rep.ThenIDs)
	}
	return rep.ThenIDs[0].ID
}

// done waits for the group's on_done and its webhook, and checks that it
// made the follow-up then, which ran; it returns the delivery's ID.
func (r *regroup) done(then string, merges int32) string {
	r.t.Helper()
	g := waitOnDone(r.t, r.m, "g")
	if g.OnDone.Then != then || len(g.OnDone.Errors) != 0 {
		r.t.Fatalf("on_done %+v: want the follow-up %s", g.OnDone, then)
	}
	var n struct {
		ID, Event, Then string
		Jobs            int
	}
	select {
	case b := <-r.hook.posts:
		if err := json.Unmarshal(b, &n); err != nil || n.Event != "group_done" || n.Then != then || n.Jobs != 3 {
			r.t.Fatalf("webhook %s (%v): want group_done with then %s and 3 jobs", b, err, then)
		}
	case <-time.After(20 * time.Second):
		r.t.Fatal("no group_done webhook")
	}
	waitAll(r.t, r.mc, []string{then}, 20*time.Second)
	if got := r.merges.Load(); got != merges {
		r.t.Fatalf("%d follow-ups ran, want %d", got, merges)
	}
	// Each group of the name made one follow-up, and the purges leave
	// them (they are not members of the group); the latest is this one.
	if fj := thenJobs(r.t, r.mc, "g"); len(fj) != int(merges) || fj[0].ID != then {
		r.t.Fatalf("%d jobs with the follow-up's key, the latest %+v: want %d, the latest %s", len(fj), fj[0], merges, then)
	}
	return n.ID
}

func (r *regroup) purge() {
	r.t.Helper()
	p, err := r.mc.Purge(context.Background(), &rpcapi.PurgeArgs{Group: "g"})
	if err != nil || p.Purged != 3 {
		r.t.Fatalf("purge of group g: %+v, %v: want 3 purged", p, err)
	}
	if _, err := r.mc.GetGroup(context.Background(), "g"); !errors.Is(err, rpcapi.ErrNotFound) {
		r.t.Fatalf("group g after its purge: %v, want not found", err)
	}
}

// TestGroupAgainAfterPurge: a group whose jobs were all purged is gone
// (docs/api.md); jobs submitted later with its name are a new group,
// whose on_done runs when it is final: its own follow-up job, made with
// the ID its submit reserved, and its own group_done notice, with a
// delivery ID of its own (receivers dedupe on it). Also when the master
// restarts between the purge and the new group's end.
func TestGroupAgainAfterPurge(t *testing.T) {
	r := &regroup{t: t, dir: t.TempDir(), hook: newHookServer(t)}
	r.cfg = master.Config{Store: master.StoreBolt, DataDir: r.dir,
		Notify: master.Notify{Webhooks: []master.Webhook{{URL: r.hook.URL}}}}
	r.start(true)
	then1 := r.submit()
	d1 := r.done(then1, 1)
	r.purge()

	then2 := r.submit()
	if then2 == then1 {
		t.Fatalf("the new group reserved %s, its old follow-up's ID", then2)
	}
	d2 := r.done(then2, 2)
	if d2 == d1 {
		t.Fatalf("the new group's notice has the old one's delivery ID %q", d1)
	}

	// Again, with a restart between the purge and the new group's end:
	// the old group's record must not pass for the new group's.
	if err := r.m.Close(); err != nil {
		t.Fatal(err)
	}
	r.start(false) // no worker runs the pages
	r.purge()
	then3 := r.submit()
	if err := r.m.Close(); err != nil {
		t.Fatal(err)
	}
	r.start(true)
	d3 := r.done(then3, 3)
	if d3 == d1 || d3 == d2 {
		t.Fatalf("delivery IDs %q, %q, %q: want three", d1, d2, d3)
	}
}
