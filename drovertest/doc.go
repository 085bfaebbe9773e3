// Package drovertest runs a drover cluster inside a test: a master and N
// workers on loopback, an in-memory store, and handles to kill, pause,
// partition and restart any node. It lets a user of drover reproduce a
// worker death, a network partition, a late report or a master restart in
// a unit test of their own handlers, and check that their jobs behave (run
// again safely, record one outcome).
//
// Every worker sits behind two TCP proxies of the cluster's, one for its
// calls to the master and one for the master's calls to it (the worker
// advertises the proxy's address), so the network between them is the
// test's to break:
//
//   - Partition(i) closes worker i's connections and black-holes new ones
//     until Heal(i); the master reaps it after DeadAfter and reruns its
//     jobs elsewhere, and once healed it registers again.
//   - Pause(i) stalls the link without closing it, as a stopped process;
//     whatever the worker sent meanwhile (a report) arrives after Resume(i),
//     late: a master that reaped the worker drops it and counts it in
//     drover_stale_reports_dropped_total.
//   - KillWorker(i) is kill -9 (an in-process worker stopped abruptly); RestartWorker(i) starts a new
//     worker of the same name behind the same proxies.
//   - RestartMaster() closes the master and starts a new one on the same
//     address and store; workers re-register and it adopts their jobs.
//   - FailStore() makes every store write fail (a failing disk) until
//     RestoreStore().
//
// A test in a few lines:
//
//	func TestCrawlSurvivesAWorkerDeath(t *testing.T) {
//		c := drovertest.Start(t, drovertest.Options{
//			Workers:  2,
//			Handlers: map[string]worker.HandlerFunc{"crawl": crawl},
//		})
//		ids := c.Submit(jobs.Spec{Type: "crawl", Args: map[string]string{"url": srv.URL}, Retries: 3})
//		drovertest.Eventually(t, 5*time.Second, "the job to start", func() bool {
//			return c.Job(ids[0]).State == jobs.Running
//		})
//		c.KillWorker(0) // whichever runs it, the job ends succeeded once
//		c.KillWorker(1)
//		c.RestartWorker(0)
//		r := c.WaitAll(ids, 10*time.Second)
//		if r.Counts[jobs.Succeeded] != 1 {
//			t.Fatalf("counts %v", r.Counts)
//		}
//	}
//
// Defaults suit tests: heartbeats every 100ms, workers reaped after 1s of
// silence, retries after 20ms (at most 500ms). Logs go to t.Log when the
// test runs with -v and nowhere otherwise. Everything is stopped and
// closed at the test's cleanup.
package drovertest
