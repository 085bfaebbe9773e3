package master

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kolo/xmlrpc"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The paging contract of every listing, over gob, XML-RPC (raw, as any
// client sends it) and the JSON API, on real masters over loopback.

func pgMaster(t *testing.T, cfg Config) *Master {
	t.Helper()
	cfg.Listen, cfg.Store, cfg.Logger = "127.0.0.1:0", StoreMemory, quietLog()
	cfg.HeartbeatInterval, cfg.DeadAfter = 100*time.Millisecond, 30*time.Second
	return startT(t, cfg)
}

func pgGob(t *testing.T, m *Master) rpcapi.MasterClient {
	c := rpcapi.NewClient(m.Addr())
	t.Cleanup(func() { c.Close() })
	return rpcapi.MasterClient{C: c}
}

func pgXML(t *testing.T, m *Master) rpcapi.MasterClient {
	c, err := rpcapi.NewXMLClient(m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return rpcapi.MasterClient{C: c}
}

func pgSubmit(t *testing.T, mc rpcapi.MasterClient, specs ...jobs.Spec) []string {
	t.Helper()
	r, err := mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: specs})
	if err != nil {
		t.Error(err)
		return nil
	}
	return r.IDs
}

// specsOf returns n copies of s.
func specsOf(n int, s jobs.Spec) []jobs.Spec {
	return slices.Repeat([]jobs.Spec{s}, n)
}

func pgSeq(t *testing.T, id string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		t.Fatalf("job ID %q", id)
	}
	return n
}

// pgRawXML posts one XML-RPC call as any client would and returns the raw
// reply body.
func pgRawXML(t *testing.T, m *Master, method string, args any) []byte {
	t.Helper()
	body, err := xmlrpc.EncodeMethodCall(method, args)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", "http://"+m.Addr()+rpcapi.XMLRPCPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml")
	_, b := testproc.HTTPDo(t, req)
	return b
}

// pgRawJobsPage calls list_jobs over raw XML-RPC for a page of at most
// 1000 jobs from cursor, and returns the jobs' IDs, the next cursor and
// the size of the reply body.
func pgRawJobsPage(t *testing.T, m *Master, cursor string) (ids []string, next string, size int) {
	t.Helper()
	args := map[string]any{"limit": 1000}
	if cursor != "" {
		args["cursor"] = cursor
	}
	body := pgRawXML(t, m, "list_jobs", args)
	var page struct {
		Jobs []struct {
			ID string `xmlrpc:"id"`
		} `xmlrpc:"jobs"`
		NextCursor string `xmlrpc:"next_cursor"`
	}
	if err := xmlrpc.Response(body).Unmarshal(&page); err != nil {
		t.Fatal(err)
	}
	for _, j := range page.Jobs {
		ids = append(ids, j.ID)
	}
	return ids, page.NextCursor, len(body)
}

// pgPull registers a pull worker of typ over gobc and runs n jobs by hand:
// it fetches them, a slot each, and reports each task as report says,
// until n reports were accepted, within a minute.
func pgPull(t *testing.T, gobc rpcapi.MasterClient, typ string, n int, report func(rpcapi.Task) rpcapi.Report) {
	t.Helper()
	ctx := context.Background()
	reg, err := gobc.Register(ctx, &rpcapi.RegisterArgs{Name: "puller", Types: []string{typ}, Slots: n, Mode: rpcapi.ModePull})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for done := 0; done < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs run after a minute", done, n)
		}
		f, err := gobc.Fetch(ctx, &rpcapi.FetchArgs{WorkerID: reg.WorkerID, Secret: reg.Secret, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var reps []rpcapi.Report
		for _, task := range f.Tasks {
			reps = append(reps, report(task))
		}
		cr, err := gobc.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: reg.WorkerID, Secret: reg.Secret, Reports: reps})
		if err != nil {
			t.Fatal(err)
		}
		if cr.Accepted != len(reps) {
			t.Fatalf("%d of %d reports accepted: %+v", cr.Accepted, len(reps), cr)
		}
		done += len(reps)
	}
}

// pgFault returns the fault code of a raw XML-RPC reply (0: none).
func pgFault(t *testing.T, reply []byte) (int, string) {
	t.Helper()
	var f xmlrpc.FaultError
	if err := xmlrpc.Response(reply).Err(); errors.As(err, &f) {
		return f.Code, f.String
	} else if err != nil {
		t.Fatalf("reply %s: %v", reply, err)
	}
	return 0, ""
}

// walker fetches one page of job IDs from a cursor and returns the next.
type walker func(t *testing.T, cursor string) ([]string, string)

// walkAll follows the cursors from the first page to the end.
func walkAll(t *testing.T, walk walker) []string {
	t.Helper()
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("no end after 10000 pages")
		}
		ids, next := walk(t, cursor)
		all = append(all, ids...)
		if next == "" {
			return all
		}
		if next == cursor {
			t.Fatalf("the cursor %q does not move", next)
		}
		cursor = next
	}
}

// jobWalkers walks list_jobs over gob, XML-RPC and GET /api/v1/jobs with
// the same filters.
func jobWalkers(m *Master, a rpcapi.ListJobsArgs, gobc, xmlc rpcapi.MasterClient) map[string]walker {
	call := func(mc rpcapi.MasterClient) walker {
		return func(t *testing.T, cursor string) ([]string, string) {
			t.Helper()
			a := a
			a.Cursor = cursor
			r, err := mc.ListJobs(context.Background(), &a)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, j := range r.Jobs {
				ids = append(ids, j.ID)
			}
			return ids, r.NextCursor
		}
	}
	return map[string]walker{
		"gob":    call(gobc),
		"xmlrpc": call(xmlc),
		"json": func(t *testing.T, cursor string) ([]string, string) {
			t.Helper()
			q := url.Values{"cursor": {cursor}, "limit": {strconv.Itoa(a.Limit)}}
			if a.Order != "" {
				q.Set("order", a.Order)
			}
			if a.Group != "" {
				q.Set("group", a.Group)
			}
			if a.Type != "" {
				q.Set("type", a.Type)
			}
			var p jobPage
			pgGetJSON(t, m, "jobs?"+q.Encode(), 200, &p)
			var ids []string
			for _, j := range p.Jobs {
				ids = append(ids, j.ID)
			}
			return ids, p.NextCursor
		},
	}
}

func pgGetJSON(t *testing.T, m *Master, path string, status int, v any) {
	t.Helper()
	res, err := http.Get("http://" + m.Addr() + APIPrefix + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", path, res.StatusCode, status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// TestPagingWhileSubmitting walks every job over each transport, newest
// first and oldest first, alone and in a group, while two clients keep
// submitting: every job that existed when the walk started comes exactly
// once, in order, and new jobs never show up behind a desc walk's start.
func TestPagingWhileSubmitting(t *testing.T) {
	m := pgMaster(t, Config{})
	gobc, xmlc := pgGob(t, m), pgXML(t, m)
	const before = 260
	for range 4 {
		pgSubmit(t, gobc, specsOf(before/4, jobs.Spec{Type: "t", Group: "g"})...)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				select {
				case <-stop:
					return
				default:
				}
				pgSubmit(t, gobc, specsOf(3, jobs.Spec{Type: "t", Group: "g"})...)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	longest := 0 // a walk saw jobs submitted while it ran
	defer func() {
		if longest <= before {
			t.Errorf("no walk saw a job submitted while it ran (longest %d)", longest)
		}
	}()
	for _, order := range []string{"", rpcapi.OrderAsc} {
		for _, group := range []string{"", "g"} {
			for name, walk := range jobWalkers(m, rpcapi.ListJobsArgs{Limit: 7, Order: order, Group: group}, gobc, xmlc) {
				t.Run(fmt.Sprintf("%s/order=%q/group=%q", name, order, group), func(t *testing.T) {
					ids := walkAll(t, walk)
					longest = max(longest, len(ids))
					seen := map[string]bool{}
					for _, id := range ids {
						if seen[id] {
							t.Fatalf("job %s listed twice", id)
						}
						seen[id] = true
					}
					for i := 1; i <= before; i++ {
						if !seen[strconv.Itoa(i)] {
							t.Fatalf("job %d, there before the walk, not listed", i)
						}
					}
					if group != "" {
						return // in the order the master recorded them
					}
					for i := 1; i < len(ids); i++ {
						a, b := pgSeq(t, ids[i-1]), pgSeq(t, ids[i])
						if (order == "" && a <= b) || (order == rpcapi.OrderAsc && a >= b) {
							t.Fatalf("order %q: %d then %d", order, a, b)
						}
					}
				})
			}
		}
	}
}

// TestPagingExamineBound: with a filter that few jobs match, a call stops
// after examining its bound and returns a short or empty page with a
// cursor; following the cursors finds each match once.
func TestPagingExamineBound(t *testing.T) {
	m := pgMaster(t, Config{})
	mc := pgGob(t, m)
	var want []string
	for range 10 {
		pgSubmit(t, mc, specsOf(30, jobs.Spec{Type: "common"})...)
		want = append(want, pgSubmit(t, mc, jobs.Spec{Type: "rare"})...)
	}
	slices.Reverse(want)
	for _, group := range []string{"", "none"} {
		q := jobQuery{Type: "rare", Group: group, Limit: 100, Examine: 20}
		var got []string
		short := 0
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("no end")
			}
			var page []string
			next, err := m.core.pageJobs(&q, func(j *jobs.Job) { page = append(page, j.ID) })
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if next == "" {
				break
			}
			if len(page) < q.Limit {
				short++
			}
			q.Cursor = next
		}
		if group != "" {
			if len(got) != 0 {
				t.Fatalf("group none: %v", got)
			}
			continue
		}
		if !slices.Equal(got, want) || short < 10 {
			t.Fatalf("got %v (%d short pages with a cursor), want %v", got, short, want)
		}
	}
}

// TestPagingBadArgs: a bad cursor, a limit over the maximum, a bad order
// or state are fault 3 over XML-RPC, ErrBadRequest over gob and 400 over
// HTTP, with a message saying what is wrong.
func TestPagingBadArgs(t *testing.T) {
	m := pgMaster(t, Config{})
	gobc := pgGob(t, m)
	pgSubmit(t, gobc, specsOf(5, jobs.Spec{Type: "t", Group: "g"})...)
	pgSubmit(t, gobc, specsOf(5, jobs.Spec{Type: "t", Group: "h"})...)
	r, err := gobc.ListJobs(context.Background(), &rpcapi.ListJobsArgs{Limit: 2, Group: "g"})
	if err != nil || r.NextCursor == "" {
		t.Fatal(r, err)
	}
	groupCursor := r.NextCursor
	r, _ = gobc.ListJobs(context.Background(), &rpcapi.ListJobsArgs{Limit: 2})
	jobsCursor := r.NextCursor
	for _, tc := range []struct {
		method string
		args   map[string]any
		msg    string
	}{
		{"list_jobs", map[string]any{"cursor": "nope"}, "bad cursor"},
		{"list_jobs", map[string]any{"cursor": "eDU"}, "bad cursor"}, // "x5"
		{"list_jobs", map[string]any{"cursor": groupCursor}, "bad cursor"},
		{"list_jobs", map[string]any{"cursor": groupCursor, "group": "h"}, "does not belong"},
		{"list_jobs", map[string]any{"cursor": jobsCursor, "group": "g"}, "bad cursor"},
		{"list_jobs", map[string]any{"limit": MaxPageSize + 1}, "limit 1001"},
		{"list_jobs", map[string]any{"limit": -1}, "limit -1"},
		{"list_jobs", map[string]any{"order": "sideways"}, `order "sideways"`},
		{"list_jobs", map[string]any{"state": "weird"}, `unknown state "weird"`},
		{"list_workers", map[string]any{"cursor": jobsCursor}, "bad cursor"},
		{"list_workers", map[string]any{"limit": 5000}, "limit 5000"},
		{"list_workers", map[string]any{"state": "zombie"}, `"zombie"`},
	} {
		code, msg := pgFault(t, pgRawXML(t, m, tc.method, tc.args))
		if code != rpcapi.FaultBadRequest || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s %v: fault %d %q, want 3 with %q", tc.method, tc.args, code, msg, tc.msg)
		}
	}
	for _, a := range []rpcapi.ListJobsArgs{{Cursor: "nope"}, {Limit: 1001}, {Order: "up"}} {
		if _, err := gobc.ListJobs(context.Background(), &a); !errors.Is(err, rpcapi.ErrBadRequest) {
			t.Errorf("gob list_jobs %+v: %v, want ErrBadRequest", a, err)
		}
	}
	if _, err := gobc.ListWorkersPage(context.Background(), &rpcapi.ListWorkersArgs{Cursor: "x"}); !errors.Is(err, rpcapi.ErrBadRequest) {
		t.Errorf("gob list_workers with a bad cursor: %v", err)
	}
	for _, path := range []string{
		"jobs?cursor=nope", "jobs?limit=1001", "jobs?limit=0", "jobs?cursor=" + groupCursor,
		"workers?cursor=" + jobsCursor, "workers?limit=1001", "workers?order=up",
		"groups?cursor=" + jobsCursor, "groups?limit=1001", "groups?order=up", "groups?colour=red",
	} {
		var e apiError
		pgGetJSON(t, m, path, 400, &e)
		if e.Error.Code != "bad_request" || e.Error.Message == "" {
			t.Errorf("GET %s: %+v", path, e)
		}
	}
	// An absent or zero limit is the default page size, over RPC.
	pgSubmit(t, gobc, specsOf(200, jobs.Spec{Type: "t"})...)
	if r, err := gobc.ListJobs(context.Background(), &rpcapi.ListJobsArgs{}); err != nil || len(r.Jobs) != DefaultPageSize || r.NextCursor == "" {
		t.Errorf("list_jobs without a limit: %d jobs, next %q, %v", len(r.Jobs), r.NextCursor, err)
	}
}

// TestPagingReplyCap: jobs whose outputs sum to far more than
// max_reply_bytes come in pages that each stay under it, whatever the
// transport; a job bigger than the cap on its own comes alone.
func TestPagingReplyCap(t *testing.T) {
	const capBytes = MinMaxReplyBytes // 64 KiB
	m := pgMaster(t, Config{MaxReplyBytes: capBytes})
	gobc, xmlc := pgGob(t, m), pgXML(t, m)
	ctx := context.Background()
	const n, out = 40, 20 << 10
	ids := pgSubmit(t, gobc, specsOf(n, jobs.Spec{Type: "big"})...)
	huge := pgSubmit(t, gobc, jobs.Spec{Type: "big"})[0] // 100 KiB of output
	ids = append(ids, huge)
	pgPull(t, gobc, "big", n+1, func(task rpcapi.Task) rpcapi.Report {
		size := out
		if task.JobID == huge {
			size = 100 << 10
		}
		return rpcapi.Report{JobID: task.JobID, Attempt: task.Attempt, Outcome: jobs.OK, Output: strings.Repeat("o", size)}
	})
	slices.Reverse(ids)

	// XML-RPC, raw: the reply bodies themselves.
	var got []string
	cursor, pages, biggest := "", 0, 0
	for {
		page, next, size := pgRawJobsPage(t, m, cursor)
		pages++
		switch {
		case len(page) == 1 && page[0] == huge:
			if size < 100<<10 {
				t.Errorf("the huge job's page is %d bytes", size)
			}
		case len(page) == 0 || size > capBytes:
			t.Errorf("page %d: %d jobs in %d bytes; want some, within %d", pages, len(page), size, capBytes)
		case slices.Contains(page, huge):
			t.Errorf("page %d: the huge job is not alone", pages)
		}
		got = append(got, page...)
		if len(page) > 1 {
			biggest = max(biggest, size)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	t.Logf("xmlrpc: %d pages, the biggest of several jobs %d bytes (cap %d)", pages, biggest, capBytes)
	if !slices.Equal(got, ids) || pages < n*out/capBytes {
		t.Fatalf("xmlrpc: %d pages of %v, want %v", pages, got, ids)
	}

	// gob and the XML-RPC client: the replies as gob would encode them.
	for name, mc := range map[string]rpcapi.MasterClient{"gob": gobc, "xmlrpc": xmlc} {
		var got []string
		err := mc.AllJobs(ctx, rpcapi.ListJobsArgs{Limit: 1000}, func(page []jobs.Job) error {
			var buf bytes.Buffer
			if err := gob.NewEncoder(&buf).Encode(&rpcapi.ListJobsReply{Jobs: page}); err != nil {
				return err
			}
			if len(page) > 1 && buf.Len() > capBytes {
				t.Errorf("%s: a page of %d jobs takes %d bytes in gob", name, len(page), buf.Len())
			}
			for _, j := range page {
				got = append(got, j.ID)
				if len(j.Attempts) != 1 || len(j.Attempts[0].Output) < out {
					t.Errorf("%s: job %s without its output", name, j.ID)
				}
			}
			return nil
		})
		if err != nil || !slices.Equal(got, ids) {
			t.Fatalf("%s: %v %v", name, got, err)
		}
	}
	// The JSON API lists jobs without their output: full pages.
	var p jobPage
	pgGetJSON(t, m, "jobs?limit=1000", 200, &p)
	if len(p.Jobs) != len(ids) {
		t.Fatalf("json: %d jobs in one page, want %d", len(p.Jobs), len(ids))
	}
}

// TestPagingWorkersAndGroups pages workers (by registration) over every
// transport and groups (by first submission) over the JSON API.
func TestPagingWorkersAndGroups(t *testing.T) {
	m := pgMaster(t, Config{})
	gobc, xmlc := pgGob(t, m), pgXML(t, m)
	ctx := context.Background()
	var wids, secrets []string
	for i := range 5 {
		r, err := gobc.Register(ctx, &rpcapi.RegisterArgs{Name: fmt.Sprint("p", i), Types: []string{"t"}, Slots: 1, Mode: rpcapi.ModePull})
		if err != nil {
			t.Fatal(err)
		}
		wids, secrets = append(wids, r.WorkerID), append(secrets, r.Secret)
	}
	for i, id := range wids[1:3] {
		if err := gobc.Logout(ctx, &rpcapi.LogoutArgs{WorkerID: id, Secret: secrets[1+i]}); err != nil {
			t.Fatal(err)
		}
	}
	desc := slices.Clone(wids)
	slices.Reverse(desc)
	for _, tc := range []struct {
		state, order string
		want         []string
	}{
		{"", "", desc},
		{"", rpcapi.OrderAsc, wids},
		{rpcapi.WorkerDead, "", []string{wids[2], wids[1]}},
		{rpcapi.WorkerAlive, rpcapi.OrderAsc, []string{wids[0], wids[3], wids[4]}},
	} {
		for name, mc := range map[string]rpcapi.MasterClient{"gob": gobc, "xmlrpc": xmlc} {
			got := walkAll(t, func(t *testing.T, cursor string) ([]string, string) {
				r, err := mc.ListWorkersPage(ctx, &rpcapi.ListWorkersArgs{State: tc.state, Order: tc.order, Cursor: cursor, Limit: 2})
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Workers) > 2 {
					t.Fatalf("%d workers in a page of 2", len(r.Workers))
				}
				var ids []string
				for _, w := range r.Workers {
					ids = append(ids, w.ID)
				}
				return ids, r.NextCursor
			})
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s state=%q order=%q: %v, want %v", name, tc.state, tc.order, got, tc.want)
			}
		}
		got := walkAll(t, func(t *testing.T, cursor string) ([]string, string) {
			var p struct {
				Workers    []rpcapi.WorkerInfo `json:"workers"`
				NextCursor string              `json:"next_cursor"`
			}
			pgGetJSON(t, m, "workers?"+url.Values{"state": {tc.state}, "order": {tc.order}, "cursor": {cursor}, "limit": {"2"}}.Encode(), 200, &p)
			var ids []string
			for _, w := range p.Workers {
				ids = append(ids, w.ID)
			}
			return ids, p.NextCursor
		})
		if !slices.Equal(got, tc.want) {
			t.Errorf("json state=%q order=%q: %v, want %v", tc.state, tc.order, got, tc.want)
		}
	}
	if all, err := xmlc.ListWorkers(ctx); err != nil || len(all.Workers) != 5 {
		t.Errorf("ListWorkers (every page): %+v %v", all, err)
	}

	var groups []string
	for i := range 5 {
		g := fmt.Sprint("g", i)
		groups = append(groups, g)
		pgSubmit(t, gobc, specsOf(i+1, jobs.Spec{Type: "t", Group: g})...)
	}
	pgSubmit(t, gobc, jobs.Spec{Type: "t", Group: "g0"}) // a later job does not move its group
	walkGroups := func(order string) []string {
		return walkAll(t, func(t *testing.T, cursor string) ([]string, string) {
			var p struct {
				Groups     []apiGroup `json:"groups"`
				NextCursor string     `json:"next_cursor"`
			}
			pgGetJSON(t, m, "groups?"+url.Values{"order": {order}, "cursor": {cursor}, "limit": {"2"}}.Encode(), 200, &p)
			var names []string
			for _, g := range p.Groups {
				names = append(names, g.Name)
				if want := int(g.Name[1]-'0') + 1; g.Total != want+btoi(g.Name == "g0") {
					t.Errorf("group %s: total %d", g.Name, g.Total)
				}
			}
			return names, p.NextCursor
		})
	}
	if got := walkGroups("asc"); !slices.Equal(got, groups) {
		t.Errorf("groups asc: %v", got)
	}
	slices.Reverse(groups)
	if got := walkGroups(""); !slices.Equal(got, groups) {
		t.Errorf("groups: %v", got)
	}
	// A page of groups ends after the group that brings the jobs read to
	// the bound.
	page, next, err := m.core.listGroups(groupQuery{Limit: 100, Examine: 5})
	if err != nil || len(page) != 1 || page[0].Name != "g4" || next == "" {
		t.Errorf("groups with a bound of 5 jobs: %+v %q %v", page, next, err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
