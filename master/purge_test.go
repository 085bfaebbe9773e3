package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// purgeDoor is one way to call purge: gob, XML-RPC or the JSON API. A
// refusal comes back as an error wrapping rpcapi.ErrBadRequest (for JSON:
// only an HTTP 400 does).
type purgeDoor struct {
	name  string
	purge func(t *testing.T, a rpcapi.PurgeArgs) (int, error)
}

func purgeDoors(t *testing.T, m *master.Master) []purgeDoor {
	gob := client(t, m.Addr())
	xc, err := rpcapi.NewXMLClient(m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { xc.Close() })
	xml := rpcapi.MasterClient{C: xc}
	viaClient := func(mc rpcapi.MasterClient) func(*testing.T, rpcapi.PurgeArgs) (int, error) {
		return func(t *testing.T, a rpcapi.PurgeArgs) (int, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := mc.Purge(ctx, &a)
			return r.Purged, err
		}
	}
	api := newHTTPAPI(t, m)
	viaJSON := func(t *testing.T, a rpcapi.PurgeArgs) (int, error) {
		body := map[string]any{}
		if a.State != "" {
			body["state"] = a.State
		}
		if a.Type != "" {
			body["type"] = a.Type
		}
		if a.Group != "" {
			body["group"] = a.Group
		}
		if a.OlderThan != 0 {
			body["older_than"] = a.OlderThan.String()
		}
		if a.All {
			body["all"] = true
		}
		b, _ := json.Marshal(body)
		status, reply := api.do("POST", "purge", string(b))
		switch status {
		case http.StatusOK:
			var r struct{ Purged *int }
			if err := json.Unmarshal(reply, &r); err != nil || r.Purged == nil {
				t.Fatalf("POST purge %s: reply %s (%v)", b, reply, err)
			}
			return *r.Purged, nil
		case http.StatusBadRequest:
			var e apiErr
			json.Unmarshal(reply, &e)
			if e.Error.Code != "bad_request" {
				t.Errorf("POST purge %s: 400 with %s", b, reply)
			}
			return 0, fmt.Errorf("%w: %s", rpcapi.ErrBadRequest, e.Error.Message)
		}
		return 0, fmt.Errorf("POST purge %s: HTTP %d: %s", b, status, reply)
	}
	return []purgeDoor{{"gob", viaClient(gob)}, {"xmlrpc", viaClient(xml)}, {"json", viaJSON}}
}

// startPurgeMaster starts a master with a bolt store (so a purge deletes
// from the disk too) and a worker: "ok" succeeds, "fail" fails for good,
// "block" runs until the test ends; no worker has "nobody".
func startPurgeMaster(t *testing.T) (*master.Master, rpcapi.MasterClient) {
	m := startAPIMaster(t, master.Config{DataDir: t.TempDir()})
	release := make(chan struct{})
	startWorker(t, m.Addr(), "purge-w", 16, map[string]worker.HandlerFunc{
		"ok": func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{Output: "ok"}, nil },
		"fail": func(context.Context, *jobs.Job) (jobs.Result, error) {
			return jobs.Result{}, worker.Permanent(errors.New("no"))
		},
		"block": holdUntil(release),
	})
	t.Cleanup(func() { close(release) }) // before the worker's crash
	return m, client(t, m.Addr())
}

// groupIDs lists the IDs of the group's jobs (list_jobs), sorted.
func groupIDs(t *testing.T, mc rpcapi.MasterClient, g string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := mc.ListAllJobs(ctx, rpcapi.ListJobsArgs{Group: g})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range js {
		ids = append(ids, j.ID)
	}
	return sortIDs(ids)
}

func sortIDs(ids []string) []string {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return ids
}

// wantGone checks that get_job says not found for every ID.
func wantGone(t *testing.T, mc rpcapi.MasterClient, what string, ids []string) {
	t.Helper()
	for _, id := range ids {
		if info, err := mc.GetJob(context.Background(), id); !errors.Is(err, rpcapi.ErrNotFound) {
			t.Errorf("%s: job %s after the purge: %v, %v; want not found", what, id, info.Job.State, err)
		}
	}
}

func cancelIDs(t *testing.T, mc rpcapi.MasterClient, ids []string) {
	t.Helper()
	r, err := mc.Cancel(context.Background(), &rpcapi.CancelArgs{IDs: ids})
	if err != nil || len(r.Cancelled) != len(ids) {
		t.Fatalf("cancel %v: %+v, %v", ids, r, err)
	}
}

// TestPurge: over gob, XML-RPC and the JSON API (a master each), a purge
// by state, by older_than, by type, by group and of all delete exactly the
// finished jobs they select (get_job says not found, list_jobs no longer
// lists them); live jobs stay, and so do finished jobs of a group that
// still has live ones; bad arguments are refused, deleting nothing.
func TestPurge(t *testing.T) {
	for i, name := range []string{"gob", "xmlrpc", "json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, mc := startPurgeMaster(t)
			testPurgeDoor(t, m, mc, purgeDoors(t, m)[i])
		})
	}
}

// allIDs lists the IDs of every job (list_jobs), sorted.
func allIDs(t *testing.T, mc rpcapi.MasterClient) []string { return groupIDs(t, mc, "") }

func testPurgeDoor(t *testing.T, m *master.Master, mc rpcapi.MasterClient, d purgeDoor) {
	spec := func(typ string) jobs.Spec { return jobs.Spec{Type: typ} }

	// Old: 3 succeeded, 2 failed, 1 cancelled.
	okA := submit(t, mc, spec("ok"), spec("ok"), spec("ok"))
	failA := submit(t, mc, spec("fail"), spec("fail"))
	cancA := submit(t, mc, spec("nobody"))
	cancelIDs(t, mc, cancA)
	waitAll(t, mc, slices.Concat(okA, failA, cancA), 20*time.Second)
	mid := time.Now()
	time.Sleep(time.Second)

	// New: 2 succeeded, 2 failed; two live jobs; and a group with a
	// failed job and a live one.
	okB := submit(t, mc, spec("ok"), spec("ok"))
	failB := submit(t, mc, spec("fail"), spec("fail"))
	held := submit(t, mc, jobs.Spec{Type: "fail", Group: "held"}, jobs.Spec{Type: "nobody", Group: "held"})
	waitAll(t, mc, slices.Concat(okB, failB, held[:1]), 20*time.Second)
	pending := submit(t, mc, spec("nobody"))
	running := submit(t, mc, spec("block"))
	pollT(t, 10*time.Second, "the block job running", func() bool { return getJob(t, mc, running[0]).Job.State == jobs.Running })
	liveIDs := slices.Concat(pending, running, held)

	want := func(what string, ids ...[]string) {
		t.Helper()
		if got, w := allIDs(t, mc), sortIDs(slices.Concat(ids...)); !slices.Equal(got, w) {
			t.Fatalf("%s: list_jobs has %v, want %v", what, got, w)
		}
	}
	want("before", okA, failA, cancA, okB, failB, liveIDs)

	// Refused, deleting nothing.
	for _, bad := range []struct {
		name string
		a    rpcapi.PurgeArgs
		msg  string
	}{
		{"no filter", rpcapi.PurgeArgs{}, "purge needs a filter: state, type, group or older_than"},
		{"live state", rpcapi.PurgeArgs{State: jobs.Running}, "want succeeded, failed or cancelled"},
		{"unknown state", rpcapi.PurgeArgs{State: "done"}, "want succeeded, failed or cancelled"},
		{"all and a filter", rpcapi.PurgeArgs{All: true, State: jobs.Failed}, "all takes no other filter"},
		{"negative older_than", rpcapi.PurgeArgs{OlderThan: -time.Hour}, "want 0 or more"},
	} {
		if d.name == "xmlrpc" && bad.name == "negative older_than" {
			bad.msg = "negative duration" // refused while decoding, as every duration
		}
		n, err := d.purge(t, bad.a)
		if !errors.Is(err, rpcapi.ErrBadRequest) || n != 0 || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("purge %s: %d, %v; want bad request saying %q", bad.name, n, err, bad.msg)
		}
	}
	want("after refused purges", okA, failA, cancA, okB, failB, liveIDs)

	// By state: the failed jobs, old and new, but not the one whose group
	// still has a live job.
	purge := func(a rpcapi.PurgeArgs, n int) {
		t.Helper()
		if got, err := d.purge(t, a); err != nil || got != n {
			t.Fatalf("purge %+v: %d, %v; want %d", a, got, err, n)
		}
	}
	purge(rpcapi.PurgeArgs{State: jobs.Failed}, 4)
	wantGone(t, mc, "state", slices.Concat(failA, failB))
	want("after purging failed", okA, cancA, okB, liveIDs)

	// By age: the jobs that finished before mid, whatever their state.
	purge(rpcapi.PurgeArgs{OlderThan: time.Since(mid)}, 4)
	wantGone(t, mc, "older_than", slices.Concat(okA, cancA))
	want("after purging by age", okB, liveIDs)

	// By type.
	purge(rpcapi.PurgeArgs{Type: "ok"}, 2)
	wantGone(t, mc, "type", okB)
	want("after purging by type", liveIDs)
	for _, id := range liveIDs {
		if j := getJob(t, mc, id).Job; j.State != map[string]jobs.State{pending[0]: jobs.Pending, running[0]: jobs.Running,
			held[0]: jobs.Failed, held[1]: jobs.Pending}[id] {
			t.Errorf("job %s is %s after the purges", id, j.State)
		}
	}

	// By group, once the group is final and its on_done has run.
	cancelIDs(t, mc, held[1:])
	waitOnDone(t, m, "held")
	purge(rpcapi.PurgeArgs{Group: "held"}, 2)
	wantGone(t, mc, "group", held)
	want("after purging the group", pending, running)

	// All: every finished job; live ones stay.
	last := submit(t, mc, spec("ok"), spec("fail"))
	waitAll(t, mc, last, 20*time.Second)
	purge(rpcapi.PurgeArgs{All: true}, 2)
	wantGone(t, mc, "all", last)
	want("after purging all", pending, running)
	st, err := mc.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Counts[jobs.Succeeded]+st.Counts[jobs.Failed]+st.Counts[jobs.Cancelled] != 0 ||
		st.Counts[jobs.Pending] != 1 || st.Counts[jobs.Running] != 1 {
		t.Errorf("counts after purging all: %v; want 1 pending, 1 running", st.Counts)
	}
}

var faultCodeRe = regexp.MustCompile(`<name>faultCode</name><value><int>(-?\d+)</int>`)

// xmlCall posts one purge_jobs call with the param XML and returns the
// fault code (0 for a reply) and the body.
func xmlCall(t *testing.T, addr, param string) (int, string) {
	t.Helper()
	body := `<?xml version="1.0"?><methodCall><methodName>purge_jobs</methodName><params><param><value>` +
		param + `</value></param></params></methodCall>`
	res, err := http.Post("http://"+addr+rpcapi.XMLRPCPath, "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if m := faultCodeRe.FindSubmatch(b); m != nil {
		code, _ := strconv.Atoi(string(m[1]))
		return code, string(b)
	}
	return 0, string(b)
}

// TestPurgeWire: purge_jobs's fault codes and reply as XML-RPC carries
// them, and the JSON API's refusals (400, 403 cross-site, 405).
func TestPurgeWire(t *testing.T) {
	m, mc := startPurgeMaster(t)
	ids := submit(t, mc, jobs.Spec{Type: "fail"}, jobs.Spec{Type: "ok"})
	waitAll(t, mc, ids, 20*time.Second)

	for _, tc := range []struct {
		param string
		code  int
	}{
		{`<struct></struct>`, rpcapi.FaultBadRequest},
		{`<struct><member><name>older_than</name><value><double>0</double></value></member></struct>`, rpcapi.FaultBadRequest},
		{`<struct><member><name>state</name><value><string>running</string></value></member></struct>`, rpcapi.FaultBadRequest},
		{`<struct><member><name>state</name><value><string>done</string></value></member></struct>`, rpcapi.FaultBadRequest},
		{`<struct><member><name>all</name><value><boolean>1</boolean></value></member>` +
			`<member><name>type</name><value><string>ok</string></value></member></struct>`, rpcapi.FaultBadRequest},
		{`<struct><member><name>older_than</name><value><double>-1.5</double></value></member></struct>`, rpcapi.FaultInvalidParams},
		{`<struct><member><name>before</name><value><string>x</string></value></member></struct>`, rpcapi.FaultInvalidParams},
	} {
		if code, body := xmlCall(t, m.Addr(), tc.param); code != tc.code {
			t.Errorf("purge_jobs(%s): fault %d, want %d: %s", tc.param, code, tc.code, body)
		}
	}
	code, body := xmlCall(t, m.Addr(), `<struct><member><name>state</name><value><string>failed</string></value></member>`+
		`<member><name>older_than</name><value><double>0.001</double></value></member></struct>`)
	if code != 0 || !strings.Contains(body, "<name>purged</name><value><int>1</int></value>") {
		t.Fatalf("purge_jobs of the failed job: %s", body)
	}
	wantGone(t, mc, "xmlrpc", ids[:1])

	api := newHTTPAPI(t, m)
	for _, tc := range []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "purge", ``, 400, "empty body"},
		{"POST", "purge", `{}`, 400, "purge needs a filter"},
		{"POST", "purge", `{"older_than": "0s", "all": false}`, 400, "purge needs a filter"},
		{"POST", "purge", `{"state": "pending"}`, 400, "want succeeded, failed or cancelled"},
		{"POST", "purge", `{"older_than": "soon"}`, 400, `older_than "soon"`},
		{"POST", "purge", `{"older_than": 3600}`, 400, "malformed JSON"},
		{"POST", "purge", `{"older_than": "-1h"}`, 400, "want 0 or more"},
		{"POST", "purge", `{"all": true, "state": "succeeded"}`, 400, "all takes no other filter"},
		{"POST", "purge", `{"before": "1h"}`, 400, "unknown field"},
		{"POST", "purge", `{"all": true} {}`, 400, "more than one JSON value"},
		{"POST", "purge?all=true", `{"all": true}`, 400, "unknown parameter"},
		{"GET", "purge", ``, 405, "method not allowed"},
	} {
		status, b := api.do(tc.method, tc.path, tc.body)
		var e apiErr
		json.Unmarshal(b, &e)
		if status != tc.status || !strings.Contains(e.Error.Message, tc.msg) || strings.Contains(e.Error.Message, "rpcapi:") {
			t.Errorf("%s %s %s: %d %s; want %d with %q", tc.method, tc.path, tc.body, status, b, tc.status, tc.msg)
		}
	}
	// A page of another site cannot make a browser purge here.
	if status, b := api.do("POST", "purge", `{"all": true}`, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"); status != 403 {
		t.Errorf("cross-site purge: %d %s", status, b)
	}
	if j := getJob(t, mc, ids[1]).Job; j.State != jobs.Succeeded {
		t.Fatalf("job %s after refused purges: %s", ids[1], j.State)
	}
	var r struct{ Purged int }
	api.call("POST", "purge", `{"all": true}`, 200, &r)
	if r.Purged != 1 {
		t.Errorf("POST purge all: %+v, want 1", r)
	}
	wantGone(t, mc, "json", ids[1:])
}

// TestPurgeKeepsALiveGroup: a purge never deletes a finished job whose
// group still has a pending or running job (docs/api.md, POST
// /api/v1/purge), also when that job joined the group after the group
// was final and its on_done ran.
func TestPurgeKeepsALiveGroup(t *testing.T) {
	m, mc := startPurgeMaster(t)
	submit(t, mc, jobs.Spec{Type: "ok", Group: "g", Then: &jobs.Spec{Type: "ok"}}, jobs.Spec{Type: "ok", Group: "g"})
	waitAll(t, mc, []string{waitOnDone(t, m, "g").OnDone.Then}, 20*time.Second)
	late := submit(t, mc, jobs.Spec{Type: "nobody", Group: "g"})
	if p, err := mc.Purge(context.Background(), &rpcapi.PurgeArgs{Group: "g"}); err != nil || p.Purged != 0 {
		t.Fatalf("purge of group g with a pending job: %+v, %v; want 0 purged", p, err)
	}
	if got := groupIDs(t, mc, "g"); len(got) != 3 {
		t.Fatalf("group g after the purge: %v; want its 3 jobs", got)
	}
	cancelIDs(t, mc, late)
	master.PurgeGroupOnceFinal(t, mc, "g", 3)
}
