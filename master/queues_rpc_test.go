package master_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// TestQueuesOverRPC: on a master with 20 pending jobs of a type no live
// worker has (and 3 of a type one has, waiting for a free slot),
// list_queues over gob and over XML-RPC returns the rows of GET
// /api/v1/queues, member for member: the stuck lane first, its 20 jobs
// counted under the reason; type, order and limit select the rows as
// docs/protocol.md says, and a bad order or limit is fault 3. The status
// over both transports has the stuck jobs in its attention. The master
// runs on a fake clock, so the rows' ages hold still between the reads.
func TestQueuesOverRPC(t *testing.T) {
	m, _ := startClockMaster(t, master.Config{})
	mc := client(t, m.Addr())
	xc, _ := viewClients(t, m)
	ctx := context.Background()
	reg, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: "echoer", Types: []string{"echo"}, Slots: 1, Mode: rpcapi.ModePull})
	if err != nil {
		t.Fatal(err)
	}
	specs := make([]jobs.Spec, 0, 23)
	for i := range 20 {
		specs = append(specs, jobs.Spec{Type: "ocr", Args: map[string]string{"page": fmt.Sprint(i)}})
	}
	for range 3 {
		specs = append(specs, jobs.Spec{Type: "echo"})
	}
	submit(t, mc, specs...)
	f, err := mc.Fetch(ctx, &rpcapi.FetchArgs{WorkerID: reg.WorkerID, Secret: reg.Secret, Max: 1, Timeout: time.Second})
	if err != nil || len(f.Tasks) != 1 {
		t.Fatalf("fetch: %+v, %v; want an echo task", f, err)
	}
	reason := `no live worker has type "ocr" (live workers have: echo)`
	clients := map[string]rpcapi.MasterClient{"gob": mc, "XML-RPC": xc}

	var page struct {
		Queues []map[string]any `json:"queues"`
		More   int              `json:"more"`
	}
	newHTTPAPI(t, m).get("queues", &page)
	if len(page.Queues) != 2 || page.Queues[1]["type"] != "echo" || page.Queues[1]["running"] != 1.0 {
		t.Fatalf("GET /api/v1/queues: %v, want the ocr lane, then echo with one running", page.Queues)
	}
	for name, c := range clients {
		r, err := c.ListQueues(ctx, &rpcapi.ListQueuesArgs{})
		if err != nil {
			t.Fatalf("list_queues over %s: %v", name, err)
		}
		if r.More != 0 || len(r.Queues) != 2 {
			t.Fatalf("list_queues over %s: %+v, want the ocr and echo lanes", name, r)
		}
		ocr := r.Queues[0]
		if ocr.Type != "ocr" || ocr.Pending != 20 || ocr.Ready != 20 || ocr.Running != 0 ||
			!reflect.DeepEqual(ocr.Waiting, []rpcapi.WaitCount{{Reason: reason, Count: 20}}) {
			t.Errorf("list_queues over %s: first row %+v, want ocr with 20 ready jobs waiting for %q", name, ocr, reason)
		}
		rows := make([]map[string]any, len(r.Queues))
		for i, q := range r.Queues {
			rows[i] = asJSONMap(t, q)
		}
		if !reflect.DeepEqual(rows, page.Queues) {
			t.Errorf("list_queues over %s shows\n%v\nGET /api/v1/queues shows\n%v", name, rows, page.Queues)
		}
		checkQueueArgs(t, name, c)

		st, err := c.Status(ctx)
		if err != nil {
			t.Fatalf("get_master_status over %s: %v", name, err)
		}
		want := []rpcapi.Attention{{Kind: rpcapi.AttentionNoWorker, Count: 20, Link: "#/jobs?state=pending&type=ocr",
			Text: `20 pending jobs of type "ocr": ` + reason}}
		if !reflect.DeepEqual(st.Attention, want) {
			t.Errorf("get_master_status over %s: attention %+v, want %+v", name, st.Attention, want)
		}
	}
}

// checkQueueArgs checks list_queues's params through c: type, order and
// limit select the rows of the two lanes of TestQueuesOverRPC, and a bad
// order or limit is ErrBadRequest.
func checkQueueArgs(t *testing.T, name string, c rpcapi.MasterClient) {
	t.Helper()
	ctx := context.Background()
	for _, tc := range []struct {
		args  rpcapi.ListQueuesArgs
		types []string
		more  int
	}{
		{rpcapi.ListQueuesArgs{Type: "echo"}, []string{"echo"}, 0},
		{rpcapi.ListQueuesArgs{Type: "none"}, []string{}, 0},
		{rpcapi.ListQueuesArgs{Order: rpcapi.OrderAsc}, []string{"echo", "ocr"}, 0},
		{rpcapi.ListQueuesArgs{Order: rpcapi.OrderDesc, Limit: 1}, []string{"ocr"}, 1},
		{rpcapi.ListQueuesArgs{Order: rpcapi.OrderAsc, Limit: 1}, []string{"echo"}, 1},
	} {
		r, err := c.ListQueues(ctx, &tc.args)
		if err != nil {
			t.Errorf("list_queues %+v over %s: %v", tc.args, name, err)
			continue
		}
		types := []string{}
		for _, q := range r.Queues {
			types = append(types, q.Type)
		}
		if !reflect.DeepEqual(types, tc.types) || r.More != tc.more {
			t.Errorf("list_queues %+v over %s: lanes %v, more %d; want %v, more %d", tc.args, name, types, r.More, tc.types, tc.more)
		}
	}
	for _, a := range []rpcapi.ListQueuesArgs{{Order: "sideways"}, {Limit: -1}, {Limit: rpcapi.MaxPageSize + 1}} {
		if _, err := c.ListQueues(ctx, &a); !errors.Is(err, rpcapi.ErrBadRequest) {
			t.Errorf("list_queues %+v over %s: %v, want ErrBadRequest", a, name, err)
		}
	}
}
