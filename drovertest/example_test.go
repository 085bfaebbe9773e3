package drovertest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/worker"
)

// A worker dies in the middle of a crawl: the master reaps it, the job runs
// again on the other worker, and its outcome is recorded once.
func Example() {
	t := newExampleT() // in a test: the test's *testing.T
	defer t.finish()

	started := make(chan int, 10)
	crawl := func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		started <- j.Attempt
		if j.Attempt == 1 {
			<-ctx.Done() // the first attempt hangs until its worker dies
			return jobs.Result{}, ctx.Err()
		}
		return jobs.Result{Output: "crawled " + j.Spec.Args["url"]}, nil
	}
	c := drovertest.Start(t, drovertest.Options{
		Workers:  2,
		Handlers: map[string]worker.HandlerFunc{"crawl": crawl},
	})
	ids := c.Submit(jobs.Spec{Type: "crawl", Args: map[string]string{"url": "https://example.com/"}, Retries: 2})

	fmt.Println("started attempt", <-started)
	// Kill the worker once the master knows it took the job (a worker
	// killed before its answer reached the master never had the lease:
	// the job goes back without an attempt).
	taken := func(e jobs.Event) bool { return strings.HasPrefix(e.Text, "started on") }
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if slices.ContainsFunc(c.Job(ids[0]).Events, taken) {
			break
		}
	}
	running := c.Job(ids[0]).Worker
	for i := range c.Workers() {
		if c.Worker(i).ID() == running {
			c.KillWorker(i) // kill -9
		}
	}
	c.WaitAll(ids, 10*time.Second)
	fmt.Println("started attempt", <-started)

	j := c.Job(ids[0])
	fmt.Println(j.State)
	for _, a := range j.Attempts {
		fmt.Println(strings.TrimSpace(fmt.Sprintf("attempt %d: %s %s", a.N, a.Outcome, a.Output)))
	}
	// Output:
	// started attempt 1
	// started attempt 2
	// succeeded
	// attempt 1: lost
	// attempt 2: ok crawled https://example.com/
}
