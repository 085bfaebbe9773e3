package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// pollEvery is how often the e2e run polls Status to see that every job is
// final.
const pollEvery = 20 * time.Millisecond

const completionNote = "Status polled every 20ms until all jobs are final; the end is then the latest job's Updated time (when the master recorded its outcome), read from ListJobs"

func runE2E(ctx context.Context, cfg *Config, r *Result) error {
	e := &E2E{Completion: completionNote}
	r.E2E = e
	cfg.note("raw RPC ceilings, %s each", cfg.CeilingTime)
	if err := measureCeilings(ctx, cfg, e); err != nil {
		return err
	}
	cfg.note("starting %d master(s) (%s store) and %d workers (%s, %d slots)", cfg.Masters, cfg.Store, cfg.Workers, cfg.Transport, cfg.Slots)
	c, err := startCluster(ctx, cfg, cfg.Workers)
	if err != nil {
		return err
	}
	defer c.close()
	if g := c.group; g != nil {
		e.LeaderRPC, e.Members = c.addr, g.seen
	}

	cfg.note("latency: %d single jobs on the idle cluster", cfg.LatencySamples)
	lat, err := measureLatency(ctx, cfg, c.addr, cfg.LatencySamples)
	if err != nil {
		return err
	}
	e.LatencyP50us = micros(percentile(lat, 0.50))
	e.LatencyP99us = micros(percentile(lat, 0.99))
	e.LatencyMaxus = micros(percentile(lat, 1))

	cfg.note("throughput: %d jobs from %d clients in batches of %d", cfg.Jobs, cfg.Clients, cfg.Batch)
	u := c.usage()
	if cfg.Profile != "" || cfg.Trace != "" {
		c.master.send("profile start")
	}
	run, err := c.throughput(ctx, cfg.Jobs, cfg.KillWorkerEvery)
	if cfg.Profile != "" || cfg.Trace != "" {
		c.master.send("profile stop")
	}
	if err != nil {
		return err
	}
	c.usage().since(u, run.kills > 0, e)
	e.Kills = run.kills
	e.SubmitSeconds = run.submitEnd.Sub(run.first).Seconds()
	e.SubmitJobsPerS = float64(cfg.Jobs) / e.SubmitSeconds

	cfg.note("checking every job")
	if err := c.verify(ctx, run, e); err != nil {
		return err
	}
	e.E2ESeconds = run.last.Sub(run.first).Seconds()
	e.E2EJobsPerS = float64(cfg.Jobs) / e.E2ESeconds
	e.TailSeconds = run.last.Sub(run.submitEnd).Seconds()
	ratio := func(x float64) float64 {
		if x == 0 {
			return 0
		}
		return e.E2EJobsPerS / x
	}
	e.RatioRPCSeq = ratio(e.RPCSeqCallsPerS)
	e.RatioRPCPar = ratio(e.RPCParCallsPerS)
	e.RatioXMLRPC = ratio(e.XMLRPCCallsPerS)
	if e.RPCSeqP50us > 0 {
		e.LatencyPerRPC = e.LatencyP50us / e.RPCSeqP50us
	}
	if e.RPCProcP50us > 0 {
		e.LatencyPerProcRPC = e.LatencyP50us / e.RPCProcP50us
	}
	hot, idle := 0.0, 0.0
	if cfg.Store == master.StoreBolt {
		cfg.note("one commit of the bolt store, %d times one after another and %d times after an idle pause", commitSamples, commitSamples)
		if hot, idle, err = commitP50s(e.LatencyP50us); err != nil {
			return err
		}
	}
	e.latencyTarget(hot, idle)
	return e.check(cfg.Jobs)
}

// usage is what the processes had used at one time.
type usage struct {
	master                  procStats
	io                      procIO
	workers, standbys, self time.Duration
	host                    time.Duration
}

// usage reads what the cluster's processes, this one and the machine have
// used so far.
func (c *cluster) usage() usage {
	return usage{master: c.masterStats(), io: c.masterIO(), workers: c.workersCPU(), standbys: c.standbysCPU(),
		self: selfCPU(), host: hostBusy()}
}

// since sets e's resource figures: u's over before's. With workers
// killed, the workers' CPU and the rest of the machine's are not known
// (killed workers took their CPU time with them).
func (u usage) since(before usage, killed bool, e *E2E) {
	e.MasterWritten, e.MasterDisk = u.io.Written-before.io.Written, u.io.Disk-before.io.Disk
	e.MasterCPUSeconds = (u.master.CPU - before.master.CPU).Seconds()
	e.MasterCPUTotal = u.master.CPU.Seconds()
	e.MasterPeakRSS = u.master.HWM
	e.MasterRSS = u.master.RSS
	e.StandbysCPUSeconds = (u.standbys - before.standbys).Seconds()
	e.BenchCPUSeconds = (u.self - before.self).Seconds()
	if !killed {
		e.WorkersCPUSeconds = (u.workers - before.workers).Seconds()
		e.OtherCPUSeconds = max((u.host-before.host).Seconds()-e.MasterCPUSeconds-e.WorkersCPUSeconds-e.StandbysCPUSeconds-e.BenchCPUSeconds, 0)
	}
}

// check turns a failed correctness check into an error.
func (e *E2E) check(n int) error {
	var errs []error
	if e.Succeeded != n {
		errs = append(errs, fmt.Errorf("%d of %d jobs succeeded (%d failed, %d cancelled)", e.Succeeded, n, e.Failed, e.Cancelled))
	}
	if e.BadJobs > 0 {
		errs = append(errs, fmt.Errorf("%d jobs do not have exactly one ok attempt", e.BadJobs))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrCheck, errors.Join(errs...))
	}
	return nil
}

// measureLatency submits one job at a time and waits for its outcome.
func measureLatency(ctx context.Context, cfg *Config, addr string, n int) ([]time.Duration, error) {
	caller, err := rpcapi.NewCaller(addr, cfg.Transport)
	if err != nil {
		return nil, err
	}
	defer caller.Close()
	mc := rpcapi.MasterClient{C: caller}
	specs := []jobs.Spec{{Type: NoopType, Retries: cfg.Retries}}
	const warm = 5
	out := make([]time.Duration, 0, n)
	for i := range n + warm {
		t0 := time.Now()
		sr, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs})
		if err != nil {
			return nil, fmt.Errorf("bench: latency submit: %w", err)
		}
		wr, err := mc.Wait(ctx, &rpcapi.WaitArgs{IDs: sr.IDs, Timeout: rpcapi.MaxWait})
		if err != nil {
			return nil, fmt.Errorf("bench: latency wait: %w", err)
		}
		d := time.Since(t0)
		if !wr.Done || len(wr.Failed) > 0 {
			return nil, fmt.Errorf("bench: latency job %s: done %v, failed %v", sr.IDs[0], wr.Done, wr.Failed)
		}
		if i >= warm {
			out = append(out, d)
		}
	}
	return out, nil
}

// run is one throughput run's raw facts.
type run struct {
	ids       []string
	first     time.Time // the first Submit call began
	submitEnd time.Time // the last Submit call returned
	last      time.Time // the last outcome was recorded (set by verify)
	kills     int
}

// submitAll submits n no-op jobs in batches of cfg.Batch from cfg.Clients
// connections of cfg.Transport and returns their IDs in batch order.
func submitAll(ctx context.Context, cfg *Config, addr string, n int) (*run, error) {
	nb := (n + cfg.Batch - 1) / cfg.Batch
	specs := make([]jobs.Spec, min(cfg.Batch, n))
	for i := range specs {
		specs[i] = jobs.Spec{Type: NoopType, Retries: cfg.Retries}
	}
	callers := make([]rpcapi.Caller, cfg.Clients)
	for i := range callers {
		c, err := rpcapi.NewCaller(addr, cfg.Transport)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		callers[i] = c
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ids := make([][]string, nb)
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	r := &run{first: time.Now()}
	for _, c := range callers {
		mc := rpcapi.MasterClient{C: c}
		wg.Go(func() {
			for {
				b := int(next.Add(1) - 1)
				if b >= nb || ctx.Err() != nil {
					return
				}
				size := min(cfg.Batch, n-b*cfg.Batch)
				rep, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs[:size]})
				if err == nil && len(rep.IDs) != size {
					err = fmt.Errorf("%d IDs for %d specs", len(rep.IDs), size)
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("bench: submit: %w", err); cancel() })
					return
				}
				ids[b] = rep.IDs
			}
		})
	}
	wg.Wait()
	r.submitEnd = time.Now()
	if firstErr != nil {
		return nil, firstErr
	}
	r.ids = slices.Concat(ids...)
	return r, nil
}

// finalCount sums the final states.
func finalCount(st *rpcapi.StatusReply) int {
	return st.Counts[jobs.Succeeded] + st.Counts[jobs.Failed] + st.Counts[jobs.Cancelled]
}

// throughput submits n jobs and waits until all are final, killing a
// worker every killEvery when it is set.
func (c *cluster) throughput(ctx context.Context, n int, killEvery time.Duration) (*run, error) {
	st, err := c.ctl.Status(ctx)
	if err != nil {
		return nil, err
	}
	base := finalCount(st)
	stopKill := make(chan struct{})
	var kills atomic.Int64
	var killWG sync.WaitGroup
	if killEvery > 0 {
		killWG.Go(func() {
			t := time.NewTicker(killEvery)
			defer t.Stop()
			for {
				select {
				case <-stopKill:
					return
				case <-t.C:
				}
				if err := c.killWorker(); err != nil {
					c.cfg.note("kill and restart a worker: %v", err)
				}
				kills.Add(1)
			}
		})
	}
	defer func() {
		select {
		case <-stopKill:
		default:
			close(stopKill)
		}
		killWG.Wait()
	}()
	r, err := submitAll(ctx, c.cfg, c.addr, n)
	if err != nil {
		return nil, err
	}
	for {
		st, err := c.ctl.Status(ctx)
		if err != nil {
			return nil, err
		}
		if finalCount(st)-base >= n {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: %d of %d jobs final (the master counts %v): %w", finalCount(st)-base, n, st.Counts, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
	close(stopKill)
	killWG.Wait()
	r.kills = int(kills.Load())
	return r, nil
}

// verify lists every job and checks that each of the run's jobs succeeded
// with exactly one ok attempt; it sets r.last to the latest outcome.
func (c *cluster) verify(ctx context.Context, r *run, e *E2E) error {
	st, err := c.ctl.Status(ctx)
	if err != nil {
		return err
	}
	e.StaleDropped, e.Reaped = st.Dropped, st.Reaped
	want := make(map[string]bool, len(r.ids))
	for _, id := range r.ids {
		want[id] = true
	}
	seen := 0
	err = c.ctl.AllJobs(ctx, rpcapi.ListJobsArgs{Limit: rpcapi.MaxPageSize}, func(page []jobs.Job) error {
		for i := range page {
			c.verifyJob(&page[i], want, &seen, r, e)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bench: list jobs: %w", err)
	}
	e.BadJobs += len(want) // submitted but not listed
	if seen == 0 {
		return errors.New("bench: none of the submitted jobs is listed")
	}
	return nil
}

// verifyJob counts one listed job into e: its state, attempts, and
// whether it is one of want (the run's jobs) with exactly one ok attempt.
func (c *cluster) verifyJob(j *jobs.Job, want map[string]bool, seen *int, r *run, e *E2E) {
	if !want[j.ID] {
		return
	}
	delete(want, j.ID)
	*seen++
	switch j.State {
	case jobs.Succeeded:
		e.Succeeded++
	case jobs.Failed:
		e.Failed++
	case jobs.Cancelled:
		e.Cancelled++
	}
	ok := 0
	for _, a := range j.Attempts {
		switch a.Outcome {
		case jobs.OK:
			ok++
		case jobs.Lost:
			e.AttemptsLost++
		}
	}
	e.Attempts += len(j.Attempts)
	if ok != 1 || j.State != jobs.Succeeded {
		e.BadJobs++
	}
	if ok > 1 {
		e.DupJobs++
	}
	if j.Updated.After(r.last) {
		r.last = j.Updated
	}
}
