package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos scenario; skipped with -short")
	}
}

// TestKillWorkers: kill -9 a random worker every second or two while
// 1,000 jobs run over 4 workers, and start it again after each kill.
func TestKillWorkers(t *testing.T) {
	const n = 1000
	c := startScenario(t, "kill_workers", 4, 4, n, "0.2")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)

	kills := 0
	deadline := time.Now().Add(2 * time.Minute)
	for {
		time.Sleep(time.Second + rand.N(time.Second)) // the chaos: a kill every 1-2s
		if m := c.Counts(); m != nil && final(m) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not final after %d kills: counts %v", kills, c.Counts())
		}
		i := rng.IntN(len(c.Workers))
		c.Workers[i].Kill()
		c.RestartWorker(i)
		kills++
		t.Logf("%s: killed and restarted worker-%d (kill %d), counts %v",
			c.elapsed(), i, kills, c.Counts())
	}
	c.finish(time.Minute)
	t.Logf("%d kills in %s; attempts lost %v, workers reaped %v", kills, c.elapsed(),
		c.metric("drover_attempts_lost_total"), c.metric("drover_workers_reaped_total"))
	if kills < 3 {
		t.Errorf("only %d kills happened before the batch ended; want at least 3", kills)
	}
	c.NoJobsLeft()
}

// TestSigstopWorker: SIGSTOP a worker that runs jobs for longer than
// dead_after, then SIGCONT it: the master reaps it and reruns its jobs
// elsewhere, and drops its late reports, counting them. The workers do not
// fence themselves (fence = false), so the stopped worker's jobs run on
// and report late.
func TestSigstopWorker(t *testing.T) {
	const n = 300
	c := startScenarioConf(t, "sigstop_worker", "fence = false", 3, 4, n, "0.3")

	const name = "worker-0"
	victim := c.Workers[0]
	var before rpcapi.WorkerInfo
	testproc.Poll(t, 20*time.Second, name+" running jobs", func() bool {
		wi, ok := c.WorkerInfo(name)
		if !ok || wi.State != rpcapi.WorkerAlive || len(wi.Jobs) < 2 {
			return false
		}
		// Leased is not enough: the jobs must have started (an Assign
		// still in flight would only be read after SIGCONT).
		started := c.started()
		for _, ref := range wi.Jobs {
			if !started[rpcapi.JobRef{JobID: ref.JobID, Attempt: ref.Attempt}] {
				return false
			}
		}
		before = wi
		return true
	})
	stale0 := c.metric("drover_stale_reports_dropped_total")
	victim.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	t.Logf("%s: SIGSTOP %s (%s) running %v", c.elapsed(), name, before.ID, before.Jobs)

	testproc.Poll(t, 10*time.Second, name+" reaped", func() bool {
		wi, ok := c.WorkerInfo(name)
		return ok && wi.ID == before.ID && wi.State == rpcapi.WorkerDead
	})
	// Its jobs run again elsewhere (those it finished before the stop
	// are final already).
	testproc.Poll(t, 20*time.Second, name+"'s jobs leased elsewhere", func() bool {
		for _, ref := range before.Jobs {
			ctx, cancel := ctx5()
			info, err := c.MC.GetJob(ctx, ref.JobID)
			cancel()
			if err != nil || (info.Job.Attempt == ref.Attempt && !info.Job.State.Final()) {
				return false
			}
		}
		return true
	})
	victim.Signal(syscall.SIGCONT)
	t.Logf("%s: SIGCONT after %s stopped (dead_after %s)", c.elapsed(),
		time.Since(stopped).Round(time.Millisecond), deadAfter)

	testproc.Poll(t, 10*time.Second, "drover_stale_reports_dropped_total to rise above "+fmt.Sprint(stale0)+
		" after SIGCONT: the late results of "+name+" not counted? (a worker that re-registers before reporting "+
		"drops them silently)", func() bool { return c.metric("drover_stale_reports_dropped_total") > stale0 })
	c.finish(time.Minute)
	lostOnVictim := 0
	for _, j := range c.jobs() {
		for _, a := range j.Attempts {
			if a.Worker == before.ID && a.Outcome == jobs.Lost {
				lostOnVictim++
			}
		}
	}
	wi, _ := c.WorkerInfo(name)
	t.Logf("stale reports dropped %v; %d attempts lost with %s; %s is now %s",
		c.metric("drover_stale_reports_dropped_total")-stale0, lostOnVictim, name, name, wi.State)
	if lostOnVictim == 0 {
		t.Errorf("no attempt of %s ended lost", name)
	}
	c.NoJobsLeft()
}

// TestKillMaster: kill -9 the master three times during a batch, each time
// starting it again on the same data dir and address.
func TestKillMaster(t *testing.T) {
	const n = 1000
	c := startScenario(t, "kill_master", 4, 4, n, "0.1")
	for k := 1; k <= 3; k++ {
		testproc.Poll(t, time.Minute, fmt.Sprintf("%d%% of the jobs final", 25*k), func() bool {
			m := c.Counts()
			return m != nil && final(m) >= k*n/4
		})
		c.RestartMaster()
		t.Logf("%s: killed and restarted the master (kill %d), counts %v",
			c.elapsed(), k, c.Counts())
	}
	c.finish(90 * time.Second)
	t.Logf("took %s", c.elapsed())
	c.NoJobsLeft()
}

// handlerCluster starts an in-process cluster whose workers run "append"
// jobs: append to l, then take d.
func handlerCluster(t *testing.T, workers int, l *runLog, d time.Duration, store jobs.Store) *drovertest.Cluster {
	return drovertest.Start(t, drovertest.Options{
		Workers:           workers,
		Slots:             4,
		HeartbeatInterval: 200 * time.Millisecond,
		DeadAfter:         time.Second,
		RetryBackoff:      20 * time.Millisecond,
		MaxBackoff:        200 * time.Millisecond,
		Store:             store,
		Handlers:          map[string]worker.HandlerFunc{"append": appendHandler(l, d)},
	})
}

func appendSpecs(n int) []jobs.Spec {
	specs := make([]jobs.Spec, n)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "append", Retries: retries}
	}
	return specs
}

func finalCount(c *drovertest.Cluster) int {
	m := testproc.Counts(c.Client())
	if m == nil {
		return -1
	}
	return final(m)
}

// TestPartition: cut one worker off the master (both directions) for
// longer than dead_after while a batch runs, then heal the link.
func TestPartition(t *testing.T) {
	skipShort(t)
	n := scaled(1000, 2)
	l := newRunLog(t, filepath.Join(t.TempDir(), "ran.log"))
	c := handlerCluster(t, 4, l, 50*time.Millisecond, nil)
	start := time.Now()
	ids := c.Submit(appendSpecs(n)...)
	testproc.Poll(t, 30*time.Second, "a fifth of the jobs final", func() bool { return finalCount(c) >= n/5 })

	const victim = 1
	old := c.Worker(victim).ID()
	c.Partition(victim)
	cut := time.Now()
	t.Logf("%s: partitioned worker-%d (%s), %d final", time.Since(start).Round(time.Millisecond), victim, old, finalCount(c))
	testproc.Poll(t, 10*time.Second, "the partitioned worker reaped", func() bool {
		wi, ok := c.WorkerInfo(victim)
		return ok && wi.ID == old && wi.State == rpcapi.WorkerDead
	})
	time.Sleep(300 * time.Millisecond) // the partition lasts a little past the reaping
	c.Heal(victim)
	t.Logf("%s: healed after %s", time.Since(start).Round(time.Millisecond), time.Since(cut).Round(time.Millisecond))
	testproc.Poll(t, 10*time.Second, "the healed worker registered again", func() bool {
		wi, ok := c.WorkerInfo(victim)
		return ok && wi.ID != old && wi.State == rpcapi.WorkerAlive
	})
	c.WaitAll(ids, time.Minute)
	verify(t, "partition", ids, listAll(t, c.Client()), l.path)
	t.Logf("took %s; attempts lost %v, stale reports dropped %v", time.Since(start).Round(time.Millisecond),
		c.Metric("drover_attempts_lost_total"), c.Metric("drover_stale_reports_dropped_total"))
}

// TestDiskFailure: the store fails every write for a while (a bbolt store
// in a temporary dir behind drovertest's failure switch): submits get
// ErrUnavailable, jobs acknowledged before go on, and once the store
// recovers the master takes submits again. A restart then shows that
// everything acknowledged is durable and nothing refused was kept.
func TestDiskFailure(t *testing.T) {
	skipShort(t)
	n := scaled(600, 2)
	dir := t.TempDir()
	l := newRunLog(t, filepath.Join(dir, "ran.log"))
	store, err := jobs.OpenBolt(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	c := handlerCluster(t, 3, l, 20*time.Millisecond, store)
	start := time.Now()
	ids := c.Submit(appendSpecs(n / 2)...)
	testproc.Poll(t, 30*time.Second, "a quarter of the first half final", func() bool { return finalCount(c) >= n/8 })

	c.FailStore()
	failed := time.Now()
	t.Logf("%s: store failing, %d final", time.Since(start).Round(time.Millisecond), finalCount(c))
	refused := 0
	for refused < 3 || time.Since(failed) < 1500*time.Millisecond {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Client().Submit(ctx, &rpcapi.SubmitArgs{Specs: appendSpecs(10)})
		cancel()
		if !errors.Is(err, rpcapi.ErrUnavailable) {
			t.Fatalf("submit %d with a failing store: %v; want ErrUnavailable", refused+1, err)
		}
		refused++
	}
	c.RestoreStore()
	t.Logf("%s: store restored after %s; %d submits refused, %d saves failed", time.Since(start).Round(time.Millisecond),
		time.Since(failed).Round(time.Millisecond), refused, c.FailedSaves())

	ids = append(ids, c.Submit(appendSpecs(n-n/2)...)...)
	c.WaitAll(ids, time.Minute)
	c.RestartMaster()
	verify(t, "disk_failure", ids, listAll(t, c.Client()), l.path)
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}
