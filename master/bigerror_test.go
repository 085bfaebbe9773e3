package master

import (
	"context"
	"strings"
	"testing"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestReportErrorCountsAgainstMaxResult: a report's error counts against
// max_result_bytes with output, data and stats (docs/protocol.md,
// Report): a 2 MiB error is not stored; the attempt is recorded as a
// permanent error saying the report's size, and the job fails.
func TestReportErrorCountsAgainstMaxResult(t *testing.T) {
	m, _ := clockMaster(t, Config{})
	wid := pullWorker(t, m, "liar", "t")
	ids, err := m.Submit(context.Background(), jobs.Spec{Type: "t", Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	task := fetchTask(t, m, wid)
	var r rpcapi.CompleteReply
	if err := m.wire.Complete(context.Background(), &rpcapi.CompleteArgs{WorkerID: wid, Secret: secretOf(wid),
		Reports: []rpcapi.Report{{JobID: task.JobID, Attempt: task.Attempt, Outcome: jobs.Error,
			Error: strings.Repeat("e", 2<<20)}}}, &r); err != nil || r.Accepted != 1 {
		t.Fatalf("task_complete: %+v, %v", r, err)
	}
	j := jobNow(t, m, ids[0])
	a := j.Attempts[len(j.Attempts)-1]
	if j.State != jobs.Failed || len(a.Error) > 1000 || !strings.Contains(a.Error, "over the master's max_result_bytes") {
		t.Fatalf("job %s, error of %d bytes (%.80q); want failed, saying the report is over max_result_bytes", j.State, len(a.Error), a.Error)
	}
}
