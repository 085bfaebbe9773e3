package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/conf"
	"github.com/drover/drover/internal/crash"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// demoCmd is drover demo.
func demoCmd(fs *pflag.FlagSet) runFunc {
	nWorkers := fs.Int("workers", 3, "workers to start (at least 2)")
	nJobs := fs.Int("jobs", 12, "Go handler jobs in the batch")
	level := fs.String("log-level", "error", "log level of the master and workers")
	return func(pos []string, stdout io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		if *nWorkers < 2 || *nJobs < 1 {
			return usagef("want --workers >= 2 and --jobs >= 1")
		}
		return runDemo(*nWorkers, *nJobs, *level, stdout)
	}
}

// runDemo starts a master and nWorkers workers in this process, runs a
// small batch (nJobs Go handler jobs and more) that shows Go handler
// jobs, subprocess jobs, a retry and a worker dying mid-run, and prints
// what happened; the master and workers log at level.
func runDemo(nWorkers, nJobs int, level string, stdout io.Writer) error {
	log, err := conf.Logger(level, "")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "drover-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d := &demo{stdout: stdout, start: time.Now(), log: log, workers: map[string]*worker.Worker{}}

	if err := d.startMaster(dir); err != nil {
		return err
	}
	defer d.m.Close()

	defer d.crashWorkers()
	if err := d.startWorkers(nWorkers); err != nil {
		return err
	}
	d.say("%d workers registered, 3 slots each, types fetch, flaky, slow (Go) and wordcount (subprocess: wc -w {file})", len(d.all))

	words := dir + "/words.txt"
	if err := os.WriteFile(words, []byte("the quick brown fox jumps over the lazy dog\n"), 0o644); err != nil {
		return err
	}
	d.mc = rpcapi.MasterClient{C: rpcapi.NewClient(d.m.Addr())}
	defer d.mc.C.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	sub, err := d.mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: demoSpecs(nJobs, words)})
	if err != nil {
		return err
	}
	d.say("submitted %d jobs in group \"demo\": 3 slow, %d fetch, 1 flaky (fails once), 2 wordcount", len(sub.IDs), nJobs)

	victimID, err := d.crashWorkerOf(ctx, sub.IDs[0])
	if err != nil {
		return err
	}
	crashed := time.Now()
	if err := d.waitReaped(ctx, victimID); err != nil {
		return err
	}
	d.say("master reaped %s %.1fs after the crash (dead_after 1s); its jobs went back to the queue as lost attempts", victimID, time.Since(crashed).Seconds())

	wr, err := d.waitGroup(ctx)
	if err != nil {
		return err
	}
	d.say("group demo done: %d succeeded, %d failed", wr.Counts[jobs.Succeeded], wr.Counts[jobs.Failed]+wr.Counts[jobs.Cancelled])

	list, err := d.mc.ListAllJobs(ctx, rpcapi.ListJobsArgs{Group: "demo", Order: rpcapi.OrderAsc, Limit: rpcapi.MaxPageSize})
	if err != nil {
		return err
	}
	moved, retried := d.printJobs(list)
	d.say("%d attempts lost with the crashed worker and rerun elsewhere; %d failed attempts retried", moved, retried)
	if len(wr.Failed) > 0 {
		return fmt.Errorf("%d jobs did not succeed: %v", len(wr.Failed), wr.Failed)
	}
	d.say("all %d jobs succeeded. Next: the README's \"master and two workers\" walkthrough.", len(list))
	return nil
}

// demo is one run of the demo: its master, its workers and its output.
type demo struct {
	stdout  io.Writer
	start   time.Time
	log     *logrus.Logger
	m       *master.Master
	mc      rpcapi.MasterClient
	all     []*worker.Worker          // the workers started, in order
	workers map[string]*worker.Worker // the registered ones, by ID
}

// say prints a line to stdout, stamped with the seconds since the start.
func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.stdout, "[%5.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, a...))
}

// startMaster starts the demo's master on a free loopback port, with its
// bbolt store in dir and short heartbeat, reaping and retry times.
func (d *demo) startMaster(dir string) error {
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", DataDir: dir,
		HeartbeatInterval: 200 * time.Millisecond, DeadAfter: time.Second,
		RetryBackoff: 200 * time.Millisecond, Logger: d.log})
	if err != nil {
		return err
	}
	if err := m.Start(); err != nil {
		return err
	}
	d.m = m
	d.say("master listening on %s, bbolt store in %s", m.Addr(), dir)
	return nil
}

// startWorkers starts n workers with the demo's handlers and commands,
// and waits (at most 10s each) until they have registered.
func (d *demo) startWorkers(n int) error {
	for i := range n {
		name := "worker-" + string(rune('a'+i%26))
		w, err := worker.New(worker.Config{Master: d.m.Addr(), Name: name, Slots: 3, Logger: d.log,
			KillGrace: time.Second,
			Commands: map[string]worker.Command{
				"wordcount": {Argv: []string{"wc", "-w", "{file}"}, Timeout: 10 * time.Second},
			}})
		if err != nil {
			return err
		}
		w.Handle("fetch", demoFetch)
		w.Handle("flaky", demoFlaky)
		w.Handle("slow", demoSlow)
		if err := w.Start(); err != nil {
			return err
		}
		d.all = append(d.all, w)
	}
	for _, w := range d.all {
		select {
		case <-w.Registered():
			d.workers[w.ID()] = w
		case <-time.After(10 * time.Second):
			return errors.New("a worker did not register within 10s")
		}
	}
	return nil
}

// crashWorkers crashes the workers started, the last first.
func (d *demo) crashWorkers() {
	for i := len(d.all) - 1; i >= 0; i-- {
		crash.Worker(d.all[i])
	}
}

// demoSpecs returns the demo's batch: 3 slow jobs, nJobs fetch jobs, a
// flaky one and two wordcount jobs (of words and /etc/hostname).
func demoSpecs(nJobs int, words string) []jobs.Spec {
	var specs []jobs.Spec
	for i := range 3 {
		specs = append(specs, jobs.Spec{Type: "slow", Priority: 10, Retries: 2, Group: "demo",
			Args: map[string]string{"part": fmt.Sprint(i + 1)}})
	}
	for i := range nJobs {
		specs = append(specs, jobs.Spec{Type: "fetch", Retries: 2, Group: "demo",
			Args: map[string]string{"url": fmt.Sprintf("https://example.com/page/%d", i+1)}})
	}
	return append(specs,
		jobs.Spec{Type: "flaky", Retries: 3, Group: "demo", Args: map[string]string{"url": "https://example.com/flaky"}},
		jobs.Spec{Type: "wordcount", Retries: 1, Group: "demo", Args: map[string]string{"file": words}},
		jobs.Spec{Type: "wordcount", Retries: 1, Group: "demo", Args: map[string]string{"file": "/etc/hostname"}},
	)
}

// crashWorkerOf crashes the worker running job id once it runs, as kill
// -9 would, and returns the worker's ID.
func (d *demo) crashWorkerOf(ctx context.Context, id string) (string, error) {
	var victim *worker.Worker
	var victimID string
	for victim == nil {
		info, err := d.mc.GetJob(ctx, id)
		if err != nil {
			return "", err
		}
		if w := d.workers[info.Job.Worker]; info.Job.State == jobs.Running && w != nil && w.Running() > 0 {
			victimID, victim = info.Job.Worker, w
		} else if info.Job.State.Final() {
			return "", fmt.Errorf("slow job ended %s before the crash", info.Job.State)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	held := victim.Running()
	crash.Worker(victim)
	d.say("crashed %s with %d jobs running, as kill -9 would: no logout, no reports, no heartbeats", victimID, held)
	return victimID, nil
}

// waitReaped waits until the master has found the worker id dead.
func (d *demo) waitReaped(ctx context.Context, id string) error {
	for {
		r, err := d.mc.ListWorkers(ctx)
		if err != nil {
			return err
		}
		for _, w := range r.Workers {
			if w.ID == id && w.State == rpcapi.WorkerDead {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitGroup waits until every job of the group "demo" is final.
func (d *demo) waitGroup(ctx context.Context) (*rpcapi.WaitReply, error) {
	for {
		wr, err := d.mc.Wait(ctx, &rpcapi.WaitArgs{Group: "demo", Timeout: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		if wr.Done {
			return wr, nil
		}
	}
}

// printJobs prints a table of the jobs with their attempts, and returns
// the attempts lost (moved to another worker) and failed (retried).
func (d *demo) printJobs(list []jobs.Job) (moved, retried int) {
	fmt.Fprintln(d.stdout)
	tw := tabwriter.NewWriter(d.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tTYPE\tSTATE\tATTEMPTS (worker: outcome)\tRESULT")
	for _, j := range list {
		var parts []string
		for _, a := range j.Attempts {
			parts = append(parts, a.Worker+": "+string(a.Outcome))
			switch a.Outcome {
			case jobs.Lost:
				moved++
			case jobs.Error:
				retried++
			}
		}
		res := ""
		if len(j.Attempts) > 0 {
			res = strings.TrimSpace(j.Attempts[len(j.Attempts)-1].Output)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.ID, j.Spec.Type, j.State, safeLine(strings.Join(parts, ", ")), safeLine(res))
	}
	tw.Flush()
	fmt.Fprintln(d.stdout)
	return moved, retried
}

func demoFetch(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	select {
	case <-time.After(time.Duration(100+rand.IntN(300)) * time.Millisecond):
	case <-ctx.Done():
		return jobs.Result{}, ctx.Err()
	}
	return jobs.Result{Output: "fetched " + j.Spec.Args["url"]}, nil
}

func demoFlaky(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	if j.Attempt == 1 {
		return jobs.Result{}, errors.New("connection reset by peer (simulated)")
	}
	return jobs.Result{Output: "fetched " + j.Spec.Args["url"] + " on attempt " + fmt.Sprint(j.Attempt)}, nil
}

func demoSlow(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	select {
	case <-time.After(1500 * time.Millisecond):
	case <-ctx.Done():
		return jobs.Result{}, ctx.Err()
	}
	return jobs.Result{Output: "processed part " + j.Spec.Args["part"]}, nil
}
