//go:build linux

package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// siteLog is a site on loopback that records, in order, the attempt that
// made each request (?attempt=N).
type siteLog struct {
	mu       sync.Mutex
	attempts []int
}

func (s *siteLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("attempt"))
	if err != nil {
		http.Error(w, "no attempt", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.attempts = append(s.attempts, n)
	s.mu.Unlock()
}

// seen returns how many requests attempt made.
func (s *siteLog) seen(attempt int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.attempts {
		if a == attempt {
			n++
		}
	}
	return n
}

// overlap returns an error naming the first request of an attempt that
// came after a later attempt's first request: two attempts crawling at
// once.
func (s *siteLog) overlap() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	latest := 0
	for i, a := range s.attempts {
		if a < latest {
			return fmt.Errorf("request %d of %d came from attempt %d after attempt %d had started: %v",
				i+1, len(s.attempts), a, latest, s.attempts)
		}
		latest = max(latest, a)
	}
	return nil
}

// startSite serves a siteLog on 127.0.0.1 until the test ends, and
// returns it with its address.
func startSite(t *testing.T) (*siteLog, string) {
	t.Helper()
	site := &siteLog{}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	return site, srv.Listener.Addr().String()
}

// crawlArgv is a crawl of the site {site}: 100 requests with the attempt
// in each, 50ms apart, which goes on after SIGTERM (as Scrapy finishes
// the requests in flight) until SIGKILL.
func crawlArgv(t *testing.T) []string {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed: the crawl job needs it")
	}
	return []string{"sh", "-c", `trap "" TERM; i=0; while [ $i -lt 100 ]; do "$0" -sS "http://$1/?attempt=$DROVER_ATTEMPT" >/dev/null; i=$((i+1)); sleep 0.05; done`,
		curl, "{site}"}
}

// stallGrace is the workers' kill_grace in the stall tests: longer than
// dead_after, so that only the master's wait for the fence keeps the
// attempts apart.
const stallGrace = 2 * time.Second

// TestStalledWorkerFences: a limit-1 crawl of a site; its worker is
// stopped (SIGSTOP) past dead_after, the master reaps it and starts the
// crawl on the other worker, then the stopped worker resumes. The site
// never sees two attempts crawl at once: the stopped worker's job was
// stopped at its fence deadline (SIGTERM, kill_grace, SIGKILL) by the
// worker's watchdog, and the master waited out the fence before
// requeueing it.
func TestStalledWorkerFences(t *testing.T) {
	argv := crawlArgv(t)
	site, addr := startSite(t)
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = strconv.Quote(a) // a TOML basic string too
	}
	c := &cluster{testproc.StartCluster(t, testproc.ClusterConfig{Workers: 2, Heartbeat: testBeat, DeadAfter: testDead,
		KillGrace: stallGrace,
		Master:    "retry_backoff = \"50ms\"\n[limits]\n\"site\" = 1\n",
		Worker:    "[commands.crawl]\nargv = [" + strings.Join(quoted, ", ") + "]\n",
	}), t}
	id := c.Submit(jobs.Spec{Type: "crawl", Args: map[string]string{"site": addr}, LimitKey: "site", Retries: 3})[0]
	testproc.Poll(t, 20*time.Second, "the first attempt to crawl", func() bool { return site.seen(1) >= 3 })

	victim := c.Workers[c.runningWorker(id)]
	victim.Signal(syscall.SIGSTOP)
	testproc.Poll(t, 30*time.Second, "a second attempt to crawl", func() bool { return site.seen(2) >= 3 })
	victim.Signal(syscall.SIGCONT)

	r := testproc.WaitAll(t, c.MC, []string{id}, 60*time.Second)
	if r.Counts[jobs.Succeeded] != 1 {
		t.Errorf("job not succeeded: %v", r.Counts)
	}
	if err := site.overlap(); err != nil {
		t.Error(err)
	}
}

// TestPartitionedWorkerFences: the same crawl, its worker cut off from the
// master (both directions) past dead_after, then healed: the site never
// sees two attempts crawl at once.
func TestPartitionedWorkerFences(t *testing.T) {
	argv := crawlArgv(t)
	site, addr := startSite(t)
	c := drovertest.Start(t, drovertest.Options{Workers: 2, Slots: 1, DeadAfter: testDead, HeartbeatInterval: testBeat,
		Commands:        map[string]worker.Command{"crawl": {Argv: argv}},
		ConfigureMaster: func(cfg *master.Config) { cfg.Limits = map[string]master.Limit{"site": {Concurrency: 1}} },
		ConfigureWorker: func(_ int, cfg *worker.Config) { cfg.KillGrace = stallGrace }})
	id := c.Submit(jobs.Spec{Type: "crawl", Args: map[string]string{"site": addr}, LimitKey: "site", Retries: 3})[0]
	testproc.Poll(t, 20*time.Second, "the first attempt to crawl", func() bool { return site.seen(1) >= 3 })

	victim := -1
	for i := range c.Workers() {
		if c.Worker(i).ID() == c.Job(id).Worker {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("no worker runs job %s", id)
	}
	c.Partition(victim)
	testproc.Poll(t, 30*time.Second, "a second attempt to crawl", func() bool { return site.seen(2) >= 3 })
	c.Heal(victim)

	r := c.WaitAll([]string{id}, 60*time.Second)
	if r.Counts[jobs.Succeeded] != 1 {
		t.Errorf("job not succeeded: %v", r.Counts)
	}
	if err := site.overlap(); err != nil {
		t.Error(err)
	}
}
