package master

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"unicode"

	"github.com/kolo/xmlrpc"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// hostileText returns n bytes of text chosen to grow in the replies'
// encodings: XML's entities, JSON's \u escapes, invalid UTF-8 and
// separators JSON escapes, among plain letters.
func hostileText(rng *rand.Rand, n int) string {
	pieces := []string{"a", "&", "<", ">", "\"", "'", "\\", "\r", "\n", "\t", "\x01", "\x7f", "\xff", "\u2028", "é", "\ufffe"}
	var b strings.Builder
	heavy := rng.IntN(3) == 0 // some texts are made of the worst bytes only
	for b.Len() < n {
		p := pieces[rng.IntN(len(pieces))]
		if heavy {
			p = pieces[1+rng.IntN(3)]
		}
		b.WriteString(p)
	}
	return b.String()
}

// TestReplyCapHostile: jobs made of text that grows most when encoded
// (seeded, random) come in listing pages that stay within max_reply_bytes
// over XML-RPC (the raw reply), the JSON API and gob; only a job bigger
// than the cap on its own comes alone. Every job is listed once.
func TestReplyCapHostile(t *testing.T) {
	const capBytes = MinMaxReplyBytes // 64 KiB
	m := pgMaster(t, Config{MaxReplyBytes: capBytes})
	gobc := pgGob(t, m)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 12))
	size := func() int { return []int{0, 10, 300, 3000, 12000}[rng.IntN(5)] }
	var specs []jobs.Spec
	for i := range 120 {
		s := jobs.Spec{Type: "h", Group: hostileText(rng, rng.IntN(40)), Key: fmt.Sprint(i, hostileText(rng, rng.IntN(40))),
			Args: map[string]string{}}
		for k := range rng.IntN(30) {
			s.Args[fmt.Sprintf("k%d%s", k, hostileText(rng, rng.IntN(8)))] = hostileText(rng, size()/4)
		}
		specs = append(specs, s)
	}
	// And plain small jobs, so that pages of many jobs test the fixed
	// overheads: some run, some never do.
	for range 300 {
		specs = append(specs, jobs.Spec{Type: "h"})
	}
	ids := pgSubmit(t, gobc, specs...)
	ids = append(ids, pgSubmit(t, gobc, specsOf(300, jobs.Spec{Type: "never"})...)...)
	pgPull(t, gobc, "h", len(specs), func(task rpcapi.Task) rpcapi.Report {
		r := rpcapi.Report{JobID: task.JobID, Attempt: task.Attempt, Outcome: jobs.OK,
			Output: hostileText(rng, size()), Data: hostileText(rng, size())}
		if rng.IntN(3) == 0 {
			r.Outcome, r.Error = jobs.Error, hostileText(rng, size())
		}
		return r
	})

	most := map[string]int{} // the most jobs on a page, per transport
	check := func(name string, page int, n int, bytes int) {
		t.Helper()
		most[name] = max(most[name], n)
		if n > 1 && bytes > capBytes {
			t.Errorf("%s: page %d of %d jobs is %d bytes, over max_reply_bytes %d", name, page, n, bytes, capBytes)
		}
	}
	seen := func(name string, got map[string]int) {
		t.Helper()
		for _, id := range ids {
			if got[id] != 1 {
				t.Errorf("%s: job %s listed %d times", name, id, got[id])
			}
		}
	}

	// XML-RPC, the raw reply bodies.
	got := map[string]int{}
	for cursor, page := "", 1; ; page++ {
		pageIDs, next, size := pgRawJobsPage(t, m, cursor)
		check("xmlrpc", page, len(pageIDs), size)
		for _, id := range pageIDs {
			got[id]++
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	seen("xmlrpc", got)

	// The JSON API, the raw bodies.
	got = map[string]int{}
	for cursor, page := "", 1; ; page++ {
		res, err := http.Get("http://" + m.Addr() + APIPrefix + "jobs?limit=1000&cursor=" + cursor)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var p jobPage
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("json page %d: %v", page, err)
		}
		check("json", page, len(p.Jobs), len(body))
		for _, j := range p.Jobs {
			got[j.ID]++
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	seen("json", got)

	// gob: the pages as gob encodes them.
	got = map[string]int{}
	page := 0
	err := gobc.AllJobs(ctx, rpcapi.ListJobsArgs{Limit: 1000}, func(js []jobs.Job) error {
		page++
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(&rpcapi.ListJobsReply{Jobs: js}); err != nil {
			return err
		}
		check("gob", page, len(js), buf.Len())
		for _, j := range js {
			got[j.ID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen("gob", got)
	t.Logf("the most jobs on a page: %v", most)
}

// TestReplyCapIDLists: cancel_jobs and wait_jobs over a group of 20,000
// jobs list as many IDs as fit within max_reply_bytes and count the rest.
func TestReplyCapIDLists(t *testing.T) {
	const capBytes = MinMaxReplyBytes
	m := pgMaster(t, Config{MaxReplyBytes: capBytes})
	gobc := pgGob(t, m)
	const n = 20000
	ids := pgSubmit(t, gobc, specsOf(n, jobs.Spec{Type: "never", Group: "big"})...)
	for _, call := range []struct {
		method string
		args   map[string]any
		list   string
		more   string
	}{
		{"cancel_jobs", map[string]any{"group": "big"}, "cancelled", "cancelled_more"},
		{"wait_jobs", map[string]any{"group": "big", "timeout": 1.0}, "failed", "failed_more"},
	} {
		body := pgRawXML(t, m, call.method, call.args)
		var r map[string]any
		if err := xmlrpc.Response(body).Unmarshal(&r); err != nil {
			t.Fatalf("%s: %v", call.method, err)
		}
		list, _ := r[call.list].([]any)
		more, _ := r[call.more].(int64)
		if len(body) > capBytes || len(list) == 0 || len(list)+int(more) != n {
			t.Fatalf("%s: %d bytes (cap %d), %d listed + %d more, want %d in all", call.method, len(body), capBytes, len(list), more, n)
		}
		if list[0] != ids[0] {
			t.Errorf("%s: lists %v first, want the lowest ID %s", call.method, list[0], ids[0])
		}
	}
}

// TestReplyCapStatus: get_master_status lists as many workers as fit in
// max_reply_bytes and counts the rest.
func TestReplyCapStatus(t *testing.T) {
	const capBytes = MinMaxReplyBytes
	m := pgMaster(t, Config{MaxReplyBytes: capBytes})
	gobc := pgGob(t, m)
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 300
	for i := range n {
		_, err := gobc.Register(context.Background(), &rpcapi.RegisterArgs{Name: fmt.Sprint("w", i, hostileText(rng, 60)),
			Types: []string{"t" + hostileText(rng, 30)}, Slots: 1, Mode: rpcapi.ModePull})
		if err != nil {
			t.Fatal(err)
		}
	}
	body := pgRawXML(t, m, "get_master_status", map[string]any{})
	var r struct {
		Workers     []map[string]any `xmlrpc:"workers"`
		WorkersMore int              `xmlrpc:"workers_more"`
		Alive       int              `xmlrpc:"alive"`
	}
	if err := xmlrpc.Response(body).Unmarshal(&r); err != nil {
		t.Fatal(err)
	}
	if len(body) > capBytes || len(r.Workers) == 0 || len(r.Workers)+r.WorkersMore != n || r.Alive != n {
		t.Fatalf("get_master_status: %d bytes (cap %d), %d workers listed + %d more, %d alive; want %d in all",
			len(body), capBytes, len(r.Workers), r.WorkersMore, r.Alive, n)
	}
}

// TestReplyCapQueues: list_queues (XML-RPC, the raw reply, and GET
// /api/v1/queues, the raw body) lists as many lanes as fit in
// max_reply_bytes and counts the rest in more, and get_master_status
// lists as many attention items as fit in half of it and counts the rest
// in attention_more: with reasons made long by hostile worker types, and
// with a thousand small lanes that test the fixed overheads.
func TestReplyCapQueues(t *testing.T) {
	const capBytes = MinMaxReplyBytes
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name           string
		workers, lanes int
	}{{"long reasons", 40, 60}, {"small lanes", 0, 1000}} {
		t.Run(tc.name, func(t *testing.T) {
			m := pgMaster(t, Config{MaxReplyBytes: capBytes})
			gobc := pgGob(t, m)
			for i := range tc.workers {
				_, err := gobc.Register(context.Background(), &rpcapi.RegisterArgs{Name: fmt.Sprint("w", i),
					Types: []string{"t" + hostileText(rng, 30)}, Slots: 1, Mode: rpcapi.ModePull})
				if err != nil {
					t.Fatal(err)
				}
			}
			specs := make([]jobs.Spec, tc.lanes)
			for i := range specs {
				specs[i] = jobs.Spec{Type: fmt.Sprint("s", i)}
				if tc.workers > 0 {
					// A job type is UTF-8 without control characters
					// (Spec.Validate): those become characters XML escapes.
					specs[i].Type += strings.Map(func(r rune) rune {
						if unicode.IsControl(r) {
							return '&'
						}
						return r
					}, strings.ToValidUTF8(hostileText(rng, 20), "<"))
				}
			}
			pgSubmit(t, gobc, specs...)

			body := pgRawXML(t, m, "list_queues", map[string]any{"limit": 1000})
			var q struct {
				Queues []map[string]any `xmlrpc:"queues"`
				More   int              `xmlrpc:"more"`
			}
			if err := xmlrpc.Response(body).Unmarshal(&q); err != nil {
				t.Fatal(err)
			}
			if len(body) > capBytes || len(q.Queues) < 2 || len(q.Queues)+q.More != tc.lanes {
				t.Errorf("list_queues: %d bytes (cap %d), %d lanes + %d more; want at least 2 and %d in all",
					len(body), capBytes, len(q.Queues), q.More, tc.lanes)
			}
			res, err := http.Get("http://" + m.Addr() + APIPrefix + "queues?limit=1000")
			if err != nil {
				t.Fatal(err)
			}
			jbody, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var jq queuesPage
			if err := json.Unmarshal(jbody, &jq); err != nil || len(jbody) > capBytes || len(jq.Queues)+jq.More != tc.lanes {
				t.Errorf("GET queues: %d bytes (cap %d), %d lanes + %d more, %v; want %d in all",
					len(jbody), capBytes, len(jq.Queues), jq.More, err, tc.lanes)
			}

			body = pgRawXML(t, m, "get_master_status", map[string]any{})
			var st struct {
				Attention     []map[string]any `xmlrpc:"attention"`
				AttentionMore int              `xmlrpc:"attention_more"`
			}
			if err := xmlrpc.Response(body).Unmarshal(&st); err != nil {
				t.Fatal(err)
			}
			if len(body) > capBytes || len(st.Attention) < 2 || len(st.Attention)+st.AttentionMore != tc.lanes {
				t.Errorf("get_master_status: %d bytes (cap %d), %d attention items + %d more; want at least 2 and %d in all",
					len(body), capBytes, len(st.Attention), st.AttentionMore, tc.lanes)
			}
		})
	}
}
