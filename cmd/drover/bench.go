package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/drover/drover/bench"
)

// benchRole is the hidden first argument of drover bench that makes it
// one of the bench's child processes ("drover bench --role master|worker
// SETTINGS", SETTINGS in JSON), which the bench starts by re-executing
// this binary.
const benchRole = "--role"

// benchCmd measures drover on loopback (see package bench).
func benchCmd(fs *pflag.FlagSet) runFunc {
	var cfg bench.Config
	fs.StringVar(&cfg.Scenario, "scenario", "e2e", "e2e, heartbeats (a fleet of simulated workers beating), queue (a big pending queue and a restart), "+
		"soak (jobs streamed through a master with short retention, sampled, then a kill -9 and a restart), reads (every listing against a big history while a fleet beats) "+
		"or churn (--jobs distinct limit keys over --types job types through a master with short retention, then watched until it released them)")
	fs.IntVar(&cfg.Jobs, "jobs", 0, "jobs to submit (default 100000; queue: 1000000; soak: stop after this many, default none; churn: one limit key each)")
	fs.IntVar(&cfg.Types, "types", 0, "churn: distinct job types (default 10000, at most 10000)")
	fs.StringVar(&cfg.HeapProfile, "heap-profile", "", "churn: the master writes heap profiles to `PREFIX`-start.pb.gz, -done.pb.gz (the last job finished) and -end.pb.gz (the release)")
	fs.IntVar(&cfg.Workers, "workers", 0, "worker processes (default 4; heartbeats and reads: simulated workers, default 1000)")
	fs.IntVar(&cfg.Clients, "clients", 4, "client connections submitting (reads: and then reading)")
	fs.IntVar(&cfg.Batch, "batch", 1000, "job specs per Submit call")
	fs.StringVar(&cfg.Store, "store", "bolt", "master store: bolt (in a temp dir) or memory")
	fs.IntVar(&cfg.Masters, "masters", 1, "e2e only: master processes, 1 or a raft group of 3 or 5 (bolt store, each its own data dir); "+
		"workers and clients use the leader, which is the master measured and profiled")
	fs.StringVar(&cfg.Transport, "transport", "gob", "gob or xmlrpc: clients, workers and the master's calls to workers")
	fs.IntVar(&cfg.Slots, "slots", 256, "slots per worker (reads: per simulated worker)")
	fs.DurationVar(&cfg.Work, "work", 0, "busy-wait per job in the workers (e.g. 100us)")
	fs.IntVar(&cfg.Retries, "retries", 0, "retries per job (default 0; 20 with --kill-worker-every)")
	fs.IntVar(&cfg.LatencySamples, "latency-samples", 200, "single jobs timed on the idle cluster")
	fs.DurationVar(&cfg.CeilingTime, "ceiling-time", 0, "how long each raw RPC ceiling is measured (default 2s)")
	fs.DurationVar(&cfg.KillWorkerEvery, "kill-worker-every", 0, "kill -9 a random worker this often during the run and start another")
	fs.DurationVar(&cfg.Window, "window", 0, "heartbeats: measurement window; reads: heartbeats alone before the reads (default 10s)")
	fs.StringVar(&cfg.Profile, "profile", "", "the master (with --masters, the leader) writes a CPU profile of the measured phase to this `file`")
	fs.IntVar(&cfg.GCPercent, "gc-percent", 0, "the master's garbage-collection target (gc_percent; 0: Go's 100, or $GOGC)")
	fs.StringVar(&cfg.Trace, "trace", "", "the master writes an execution trace (go tool trace) of the measured phase to this `file`")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "bound on the whole run (default 15m; soak and reads: 30m more than --duration)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "soak: how long to stream jobs (default 10m unless --jobs); reads: how long to read (default 1m); churn: how long to wait for the release (default 3m)")
	fs.DurationVar(&cfg.Sample, "sample", 0, "soak and churn: how often to sample the master (default 5s; churn: 1s)")
	fs.DurationVar(&cfg.Retain, "retain", 0, "the master's retain (soak default 10s, churn 5s, else the master's)")
	fs.IntVar(&cfg.RetainJobs, "retain-jobs", 0, "the master's retain_jobs (soak default 10000, churn 1000, else the master's)")
	history := fs.String("history", "", "soak: the master's history, a duration (default 30s); reads: the finished jobs to fill the history with (default 1000000)")
	fs.IntVar(&cfg.HistoryJobs, "history-jobs", 0, "the master's history_jobs (soak default 100000; reads: at least the history)")
	fs.StringVar(&cfg.LogLevel, "log-level", "error", "log level of the master and workers")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	return func(pos []string, stdout io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		if err := historyFlag(&cfg, *history); err != nil {
			return usageError(err)
		}
		cfg.Launch = bench.Reexec("bench", benchRole)
		cfg.Stderr = os.Stderr
		if err := cfg.Validate(); err != nil {
			return usageError(err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		r, err := bench.Run(ctx, cfg)
		if r != nil {
			var werr error
			if *asJSON {
				werr = r.WriteJSON(stdout)
			} else {
				werr = r.WriteTable(stdout)
			}
			if err == nil {
				err = werr
			}
		}
		return err
	}
}

// historyFlag reads --history: the finished jobs of history to fill in the
// reads scenario, and the master's history (a duration) in the others.
func historyFlag(cfg *bench.Config, v string) error {
	if v == "" {
		return nil
	}
	if cfg.Scenario == bench.ScenarioReads {
		n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
		if err != nil || n <= 0 {
			return fmt.Errorf("bench: --history %q: the reads scenario wants a number of jobs", v)
		}
		cfg.Fill = n
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("bench: --history %q: want a duration (the master's history)", v)
	}
	cfg.History = d
	return nil
}
