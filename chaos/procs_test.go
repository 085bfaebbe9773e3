package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }

// Timing of the process clusters: short, so a dead worker is noticed in
// about a second.
const (
	beat      = 250 * time.Millisecond
	deadAfter = 1200 * time.Millisecond
)

// appendCommand is the job every process scenario runs: it appends
// "ID ATTEMPT" to the file {log}, then sleeps {sleep} seconds, so a job
// killed in its sleep has run (and will run again).
const appendCommand = `
[commands.append]
argv = ["sh", "-c", "echo \"$DROVER_JOB_ID $DROVER_ATTEMPT\" >> \"$0\"; sleep \"$1\"", "{log}", "{sleep}"]
timeout = "30s"
`

// procCluster is a master process and worker processes on 127.0.0.1
// whose jobs append to ranLog.
type procCluster struct {
	*testproc.Cluster
	t      *testing.T
	ranLog string
}

// startProcCluster starts a master (bolt store in a temporary data dir)
// and n workers of slots slots each, and waits until they have registered.
func startProcCluster(t *testing.T, n, slots int) *procCluster {
	t.Helper()
	return startProcClusterConf(t, n, slots, "")
}

// startProcClusterConf is startProcCluster with more TOML for every
// worker's conf (top-level keys).
func startProcClusterConf(t *testing.T, n, slots int, workerConf string) *procCluster {
	t.Helper()
	c := testproc.StartCluster(t, testproc.ClusterConfig{Workers: n, Slots: slots, Heartbeat: beat, DeadAfter: deadAfter,
		Master: "retry_backoff = \"20ms\"\nmax_backoff = \"200ms\"", Worker: workerConf + "\n" + appendCommand})
	return &procCluster{Cluster: c, t: t, ranLog: filepath.Join(c.Dir, "ran.log")}
}

// procScenario is a scenario's batch on a process cluster: its name (the
// jobs' group), the ids of its jobs and when it was submitted.
type procScenario struct {
	*procCluster
	name  string
	ids   []string
	start time.Time
}

// startScenario starts a process cluster of workers workers with slots
// slots each and submits to it n jobs, in group name, that sleep sleep
// seconds; with -short it skips the test.
func startScenario(t *testing.T, name string, workers, slots, n int, sleep string) *procScenario {
	t.Helper()
	return startScenarioConf(t, name, "", workers, slots, n, sleep)
}

// startScenarioConf is startScenario with more TOML for every worker's
// conf (top-level keys).
func startScenarioConf(t *testing.T, name, workerConf string, workers, slots, n int, sleep string) *procScenario {
	t.Helper()
	skipShort(t)
	s := &procScenario{procCluster: startProcClusterConf(t, workers, slots, workerConf), name: name}
	s.start = time.Now()
	s.ids = s.submit(name, n, sleep)
	return s
}

// elapsed is the time since the batch was submitted, in milliseconds.
func (s *procScenario) elapsed() time.Duration {
	return time.Since(s.start).Round(time.Millisecond)
}

// finish waits up to timeout until every job of the batch is final (riding
// out master restarts), then verifies the batch.
func (s *procScenario) finish(timeout time.Duration) {
	s.t.Helper()
	s.waitFinal(len(s.ids), timeout)
	verify(s.t, s.name, s.ids, s.jobs(), s.ranLog)
}

func ctx5() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func final(counts map[jobs.State]int) int {
	return counts[jobs.Succeeded] + counts[jobs.Failed] + counts[jobs.Cancelled]
}

// submit submits n append jobs that sleep for sleep seconds, in group.
func (c *procCluster) submit(group string, n int, sleep string) []string {
	c.t.Helper()
	specs := make([]jobs.Spec, n)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "append", Retries: retries, Group: group,
			Args: map[string]string{"log": c.ranLog, "sleep": sleep}}
	}
	return c.Submit(specs...)
}

// waitFinal waits until n jobs are final, riding out master restarts.
func (c *procCluster) waitFinal(n int, timeout time.Duration) {
	c.t.Helper()
	var last map[jobs.State]int
	testproc.PollErr(c.t, timeout, "jobs final", func() error {
		if m := c.Counts(); m != nil {
			last = m
			if final(m) >= n {
				return nil
			}
		}
		return fmt.Errorf("counts %v", last)
	})
}

// jobs lists every job of the master.
func (c *procCluster) jobs() []jobs.Job {
	c.t.Helper()
	return listAll(c.t, c.MC)
}

// listAll lists every job of the master behind mc.
func listAll(t *testing.T, mc rpcapi.MasterClient) []jobs.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all, err := mc.ListAllJobs(ctx, rpcapi.ListJobsArgs{Limit: rpcapi.MaxPageSize})
	if err != nil {
		t.Fatalf("list jobs: %v", err)
	}
	return all
}

// metric reads one metric from the master's /metrics page.
func (c *procCluster) metric(name string) float64 {
	c.t.Helper()
	text, err := drovertest.FetchMetrics(c.Addr)
	if err != nil {
		c.t.Fatal(err)
	}
	v, _ := drovertest.MetricValue(text, name)
	return v
}

// started returns the attempts that have started (written their line to
// the run log).
func (c *procCluster) started() map[rpcapi.JobRef]bool {
	out := map[rpcapi.JobRef]bool{}
	data, _ := os.ReadFile(c.ranLog)
	for line := range strings.Lines(string(data)) {
		id, att, ok := strings.Cut(strings.TrimSpace(line), " ")
		if n, err := strconv.Atoi(att); ok && err == nil {
			out[rpcapi.JobRef{JobID: id, Attempt: n}] = true
		}
	}
	return out
}
