package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/client"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
)

// TestWaitDoneThenMasterKilled checks docs/protocol.md's wait_jobs, "done
// is read from the master's memory": a job whose Wait answered succeeded,
// with the master killed (SIGKILL) right after that answer and started
// again on the same data dir, ends succeeded with its one attempt, and its
// command ran once. The kill usually lands before the outcome's commit
// (which lingers up to 10 ms), so the restarted master learns the outcome
// from the worker that still holds the report.
func TestWaitDoneThenMasterKilled(t *testing.T) {
	ranlog := filepath.Join(t.TempDir(), "ran")
	c := testproc.StartCluster(t, testproc.ClusterConfig{Workers: 1, Slots: 1, Worker: `
[commands.mark]
argv = ["sh", "-c", "echo \"$DROVER_JOB_ID $DROVER_ATTEMPT\" >> \"$0\"", "{ranlog}"]
`})
	cl, err := client.Dial(c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const rounds = 5
	adopted := 0
	for r := range rounds {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		ids, err := cl.Submit(ctx, jobs.Spec{Type: "mark", Args: map[string]string{"ranlog": ranlog}})
		if err != nil {
			cancel()
			t.Fatalf("round %d: submit: %v", r, err)
		}
		res, err := cl.Wait(ctx, ids[0])
		if err != nil || !res.OK() {
			cancel()
			t.Fatalf("round %d: wait = %+v, %v; want done and succeeded", r, res, err)
		}
		c.RestartMaster() // SIGKILL at once, then the same address and data dir
		testproc.Poll(t, 30*time.Second, "the job final after the restart", func() bool {
			j, err := cl.Job(ctx, ids[0])
			return err == nil && j.Job.State.Final()
		})
		j, err := cl.Job(ctx, ids[0])
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if j.Job.State != jobs.Succeeded || len(j.Job.Attempts) != 1 || j.Job.Attempts[0].Outcome != jobs.OK {
			t.Fatalf("round %d: job %s after the restart: %s with attempts %+v; Wait had answered succeeded after one attempt",
				r, ids[0], j.Job.State, j.Job.Attempts)
		}
		for _, e := range j.Job.Events {
			if strings.HasPrefix(e.Text, "adopted by ") {
				adopted++
				break
			}
		}
	}
	b, err := os.ReadFile(ranlog)
	if err != nil {
		t.Fatal(err)
	}
	runs := strings.Fields(string(b))
	if len(runs) != 2*rounds {
		t.Fatalf("the command ran %d times for %d jobs (want once each):\n%s", len(runs)/2, rounds, b)
	}
	// How many rounds hit the window: the outcome was not yet on disk, and
	// the restarted master adopted the attempt from the worker.
	t.Logf("%d of %d rounds: the restarted master adopted the attempt from the worker", adopted, rounds)
}
