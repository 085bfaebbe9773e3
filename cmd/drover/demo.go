package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drover/drover/conf"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// runDemo starts a master and workers in this process, runs a small batch
// that shows Go handler jobs, subprocess jobs, a retry and a worker dying
// mid-run, and prints what happened.
func runDemo(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	nWorkers := fs.Int("workers", 3, "workers to start (at least 2)")
	nJobs := fs.Int("jobs", 12, "Go handler jobs in the batch")
	level := fs.String("log-level", "error", "log level of the master and workers")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *nWorkers < 2 || *nJobs < 1 {
		return errors.New("want --workers >= 2 and --jobs >= 1")
	}
	log, err := conf.Logger(*level, "")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "drover-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	say := func(format string, a ...any) {
		fmt.Fprintf(stdout, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}

	m, err := master.New(master.Config{Listen: "127.0.0.1:0", DataDir: dir,
		HeartbeatInterval: 200 * time.Millisecond, DeadAfter: time.Second,
		RetryBackoff: 200 * time.Millisecond, Logger: log})
	if err != nil {
		return err
	}
	if err := m.Start(); err != nil {
		return err
	}
	defer m.Close()
	say("master listening on %s, bbolt store in %s", m.Addr(), dir)

	workers := map[string]*worker.Worker{}
	var all []*worker.Worker
	for i := range *nWorkers {
		name := "worker-" + string(rune('a'+i%26))
		w, err := worker.New(worker.Config{Master: m.Addr(), Name: name, Slots: 3, Logger: log,
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
		defer w.Crash()
		all = append(all, w)
	}
	for _, w := range all {
		select {
		case <-w.Registered():
			workers[w.ID()] = w
		case <-time.After(10 * time.Second):
			return errors.New("a worker did not register within 10s")
		}
	}
	say("%d workers registered, 3 slots each, types fetch, flaky, slow (Go) and wordcount (subprocess: wc -w {file})", len(all))

	words := dir + "/words.txt"
	if err := os.WriteFile(words, []byte("the quick brown fox jumps over the lazy dog\n"), 0o644); err != nil {
		return err
	}
	var specs []jobs.Spec
	for i := range 3 {
		specs = append(specs, jobs.Spec{Type: "slow", Priority: 10, Retries: 2, Group: "demo",
			Args: map[string]string{"part": fmt.Sprint(i + 1)}})
	}
	for i := range *nJobs {
		specs = append(specs, jobs.Spec{Type: "fetch", Retries: 2, Group: "demo",
			Args: map[string]string{"url": fmt.Sprintf("https://example.com/page/%d", i+1)}})
	}
	specs = append(specs,
		jobs.Spec{Type: "flaky", Retries: 3, Group: "demo", Args: map[string]string{"url": "https://example.com/flaky"}},
		jobs.Spec{Type: "wordcount", Retries: 1, Group: "demo", Args: map[string]string{"file": words}},
		jobs.Spec{Type: "wordcount", Retries: 1, Group: "demo", Args: map[string]string{"file": "/etc/hostname"}},
	)
	mc := rpcapi.MasterClient{C: rpcapi.NewClient(m.Addr())}
	defer mc.C.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	sub, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs})
	if err != nil {
		return err
	}
	say("submitted %d jobs in group \"demo\": 3 slow, %d fetch, 1 flaky (fails once), 2 wordcount", len(sub.IDs), *nJobs)

	// Crash the worker running the first slow job, as kill -9 would.
	var victim *worker.Worker
	var victimID string
	for victim == nil {
		info, err := mc.GetJob(ctx, sub.IDs[0])
		if err != nil {
			return err
		}
		if w := workers[info.Job.Worker]; info.Job.State == jobs.Running && w != nil && w.Running() > 0 {
			victimID, victim = info.Job.Worker, w
		} else if info.Job.State.Final() {
			return fmt.Errorf("slow job ended %s before the crash", info.Job.State)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	held := victim.Running()
	victim.Crash()
	crashed := time.Now()
	say("crashed %s with %d jobs running, as kill -9 would: no logout, no reports, no heartbeats", victimID, held)

	for {
		r, err := mc.ListWorkers(ctx)
		if err != nil {
			return err
		}
		reaped := false
		for _, w := range r.Workers {
			if w.ID == victimID && w.State == rpcapi.WorkerDead {
				reaped = true
			}
		}
		if reaped {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	say("master reaped %s %.1fs after the crash (dead_after 1s); its jobs went back to the queue as lost attempts", victimID, time.Since(crashed).Seconds())

	var wr *rpcapi.WaitReply
	for {
		wr, err = mc.Wait(ctx, &rpcapi.WaitArgs{Group: "demo", Timeout: 5 * time.Second})
		if err != nil {
			return err
		}
		if wr.Done {
			break
		}
	}
	say("group demo done: %d succeeded, %d failed", wr.Counts[jobs.Succeeded], wr.Counts[jobs.Failed]+wr.Counts[jobs.Cancelled])

	list, err := mc.ListAllJobs(ctx, rpcapi.ListJobsArgs{Group: "demo", Order: rpcapi.OrderAsc, Limit: rpcapi.MaxPageSize})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tTYPE\tSTATE\tATTEMPTS (worker: outcome)\tRESULT")
	moved, retried := 0, 0
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.ID, j.Spec.Type, j.State, strings.Join(parts, ", "), res)
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	say("%d attempts lost with the crashed worker and rerun elsewhere; %d failed attempts retried", moved, retried)
	if len(wr.Failed) > 0 {
		return fmt.Errorf("%d jobs did not succeed: %v", len(wr.Failed), wr.Failed)
	}
	say("all %d jobs succeeded. Next: the README's \"master and two workers\" walkthrough.", len(list))
	return nil
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
