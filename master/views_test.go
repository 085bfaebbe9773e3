package master_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestWorkerViewsAgree: a worker with tags holding a job reads the same,
// field for field, from list_workers over gob and XML-RPC and from the
// JSON API's listing and detail.
func TestWorkerViewsAgree(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	release := make(chan struct{})
	defer close(release)
	w := startWorkerWith(t, worker.Config{Master: m.Addr(), Name: "tagged", Slots: 2, Tags: []string{"region=eu", "gpu"}},
		map[string]worker.HandlerFunc{"hold": func(ctx context.Context, _ *jobs.Job) (jobs.Result, error) {
			select {
			case <-ctx.Done():
			case <-release:
			}
			return jobs.Result{}, nil
		}})
	_ = w
	mc := client(t, m.Addr())
	ids := submit(t, mc, jobs.Spec{Type: "hold", Tags: []string{"gpu"}})
	ctx := context.Background()
	var gobView rpcapi.WorkerInfo
	pollT(t, 10*time.Second, "the job running on the worker", func() bool {
		r, err := mc.ListWorkers(ctx)
		if err != nil || len(r.Workers) != 1 || len(r.Workers[0].Jobs) != 1 {
			return false
		}
		gobView = r.Workers[0]
		return gobView.Jobs[0].State == jobs.Running
	})
	want := rpcapi.WorkerJob{JobID: ids[0], Attempt: 1, Type: "hold", State: jobs.Running}
	if gobView.Jobs[0] != want || !reflect.DeepEqual(gobView.Tags, []string{"gpu", "region=eu"}) &&
		!reflect.DeepEqual(gobView.Tags, []string{"region=eu", "gpu"}) {
		t.Fatalf("list_workers over gob: jobs %+v tags %v; want %+v and the worker's two tags", gobView.Jobs, gobView.Tags, want)
	}
	x, err := rpcapi.NewXMLClient(m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	xr, err := rpcapi.MasterClient{C: x}.ListWorkers(ctx)
	if err != nil || len(xr.Workers) != 1 {
		t.Fatalf("list_workers over XML-RPC: %+v, %v", xr, err)
	}
	api := newHTTPAPI(t, m)
	var list struct {
		Workers []map[string]any `json:"workers"`
	}
	api.get("workers", &list)
	var detail map[string]any
	api.get("workers/"+gobView.ID, &detail)
	asJSON := func(v any) map[string]any {
		b, _ := json.Marshal(v)
		var out map[string]any
		json.Unmarshal(b, &out)
		return out
	}
	g, xv := asJSON(gobView), asJSON(xr.Workers[0])
	delete(g, "last_heartbeat") // it moves between the calls
	for name, v := range map[string]map[string]any{"xml-rpc": xv, "json listing": list.Workers[0], "json detail": detail} {
		delete(v, "last_heartbeat")
		if !reflect.DeepEqual(g, v) {
			t.Errorf("%s shows the worker as\n%v\nlist_workers over gob as\n%v", name, v, g)
		}
	}
}
