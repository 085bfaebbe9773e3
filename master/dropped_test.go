package master

import (
	"context"
	"testing"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestUnknownJobReportCounted: docs/protocol.md (task_complete) drops a
// report of an unknown job as it drops a stale one; the reply's dropped
// and drover_stale_reports_dropped_total count both.
func TestUnknownJobReportCounted(t *testing.T) {
	m, _ := clockMaster(t, Config{})
	wid := pullWorker(t, m, "w", "t")
	var r rpcapi.CompleteReply
	if err := m.wire.Complete(context.Background(), &rpcapi.CompleteArgs{WorkerID: wid, Secret: secretOf(wid),
		Reports: []rpcapi.Report{{JobID: "999", Attempt: 1, Outcome: jobs.OK}}}, &r); err != nil || r.Dropped != 1 {
		t.Fatalf("a report of an unknown job: %+v, %v; want dropped 1", r, err)
	}
	fams, err := m.core.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := -1.0
	for _, f := range fams {
		if f.GetName() == "drover_stale_reports_dropped_total" {
			n = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if n != 1 {
		t.Fatalf("drover_stale_reports_dropped_total = %v, want 1", n)
	}
}
