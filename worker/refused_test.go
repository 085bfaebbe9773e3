package worker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestRefusedSlotIsExplained: a one-slot worker whose handler ignores the
// master's cancel still holds its slot, so it refuses the next job, which
// the master's own count (slots less leases) sees room for. Per
// docs/protocol.md (assign_task), the job's waiting says the worker
// refused its last task and why, the master offers it work again after a
// pause that doubles with each refusal in a row (up to four heartbeat
// intervals), and once the handler returns the job runs.
func TestRefusedSlotIsExplained(t *testing.T) {
	dir, log := t.TempDir(), testLog(t)
	m := startLeader(t, filepath.Join(dir, "data"), log) // heartbeat 100ms
	started, release := make(chan struct{}), make(chan struct{})
	startWorker(t, dir, log, worker.Config{Master: m.Addr(), Slots: 1}, map[string]worker.HandlerFunc{
		"stuck": func(ctx context.Context, _ *jobs.Job) (jobs.Result, error) {
			close(started)
			<-release // ignores ctx
			return jobs.Result{}, nil
		},
		"echo": func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{Output: "echo"}, nil },
	})
	mc := rpcapi.MasterClient{C: rpcapi.NewClient(m.Addr())}
	defer mc.C.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	stuck := submitOne(t, mc, "stuck")
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the stuck job did not start within 20s")
	}
	if _, err := mc.Cancel(ctx, &rpcapi.CancelArgs{IDs: []string{stuck}}); err != nil {
		t.Fatal(err)
	}
	echo := submitOne(t, mc, "echo")
	poll.UntilErr(t, 20*time.Second, "the echo job's waiting to name the refusal", func() error {
		ji, err := mc.GetJob(ctx, echo)
		if err != nil {
			return err
		}
		if !strings.Contains(ji.Waiting, "refused their last task") || !strings.Contains(ji.Waiting, "no free slot") {
			return fmt.Errorf("state %s, waiting %q", ji.Job.State, ji.Waiting)
		}
		return nil
	})
	refusals := func() int {
		ji, err := mc.GetJob(ctx, echo)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range ji.Job.Events {
			if strings.Contains(e.Text, "refused it") {
				n++
			}
		}
		return n
	}
	// Refusals in a row back off 25ms, 50ms, ... up to 400ms (four 100ms
	// beats). From one refusal on, five more take at least the last four
	// of their pauses, 100+200+400+400ms (a fixed 25ms pause: about
	// 125ms); a slow machine only makes it longer.
	first, from := refusals(), time.Now()
	poll.UntilErr(t, 30*time.Second, "five more refusals of the echo job", func() error {
		if n := refusals() - first; n < 5 {
			return fmt.Errorf("%d more refusals", n)
		}
		return nil
	})
	if took := time.Since(from); took < 600*time.Millisecond {
		t.Errorf("five more refusals came within %v; want the pause to double each time", took)
	}
	close(release)
	awaitState(t, mc, echo, jobs.Succeeded)
}
