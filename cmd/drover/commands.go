package main

import (
	"io"
	"maps"

	"github.com/spf13/pflag"
)

// command is one drover command as "drover help CMD" shows it: its
// arguments, a line of help, more if needed, and examples; setup adds its
// flags to fs and returns the function that runs it on its positional
// arguments after the flags are parsed.
type command struct {
	name, args, short, long, example string
	group                            string // groupClient, groupServer or groupTool
	setup                            func(fs *pflag.FlagSet) runFunc
	subs                             []command // a command of commands (drover store)
	// values completes flags' values in the shells: flag name -> values.
	values map[string][]string
}

// runFunc runs a command on its positional arguments.
type runFunc func(pos []string, stdout io.Writer) error

const (
	groupClient = "client"
	groupServer = "server"
	groupTool   = "tool"
)

var (
	jobStates    = []string{"pending", "running", "succeeded", "failed", "cancelled"}
	finalStates  = []string{"succeeded", "failed", "cancelled"}
	orders       = []string{"desc", "asc"}
	transports   = []string{"gob", "xmlrpc"}
	workerStates = []string{"alive", "draining", "dead"}
	logLevels    = []string{"debug", "info", "warn", "error"}
	logFormats   = []string{"text", "json"}
	stores       = []string{"bolt", "memory"}
)

// clientValues is the completion of a client command's flags' values.
var clientValues = map[string][]string{"transport": transports}

// with is the completion of a client command's flags' values and of m's.
func with(m map[string][]string) map[string][]string {
	out := map[string][]string{"transport": transports}
	maps.Copy(out, m)
	return out
}

// commands are drover's commands; "drover help" lists them by group,
// sorted by name.
func commands() []command { return commandList }

var commandList = []command{
	{name: "submit", args: "--type T [--arg k=v]... | --file jobs.toml", group: groupClient, setup: submitCmd, values: clientValues,
		short: "submit jobs; prints their IDs, one a line",
		example: `  drover submit --type echo --arg text=hello --group first
  drover submit --type crawl --arg site=example.org --retries 3 --timeout 10m --tag region=eu
  drover submit --type report --run-at 2026-12-24T06:00:00Z
  drover submit --file jobs.toml --json`},
	{name: "jobs", group: groupClient, setup: jobsCmd, values: with(map[string][]string{"state": jobStates, "order": orders}),
		short: "list jobs, newest first: one page (100), or every page with --all",
		example: `  drover jobs --limit 3                 # the newest three
  drover jobs --state failed --type crawl
  drover jobs --reverse --all --json    # every job, oldest first`},
	{name: "job", args: "ID", group: groupClient, setup: jobCmd, values: clientValues,
		short: "show one job: attempts, timeline, why it waits",
		example: `  drover job 42
  drover job 42 --json | jq .state`},
	{name: "logs", args: "ID", group: groupClient, setup: logsCmd, values: with(map[string][]string{"stream": {"stdout", "stderr"}}),
		short: "print an attempt's full log (stdout to stdout, stderr to stderr); -f follows it",
		example: `  drover logs 42
  drover logs 42 --attempt 1 --stream stderr
  drover logs 42 -f`},
	{name: "workers", group: groupClient, setup: workersCmd, values: with(map[string][]string{"state": workerStates, "order": orders}),
		short: "list workers, latest registered first",
		example: `  drover workers
  drover workers --state dead --json`},
	{name: "groups", group: groupClient, setup: groupsCmd, values: with(map[string][]string{"order": orders}),
		short: "list groups, the group started last first",
		example: `  drover groups --limit 10
  drover groups --all --json`},
	{name: "group", args: "G", group: groupClient, setup: groupCmd, values: clientValues,
		short: "one group: state, counts, progress and each job's result",
		example: `  drover group nightly
  drover group nightly --json`},
	{name: "status", group: groupClient, setup: statusCmd, values: clientValues,
		short: "what needs attention, counts by state, workers, and the master's version",
		example: `  drover status
  drover status --json`},
	{name: "wait", args: "[ID...]", group: groupClient, setup: waitCmd, values: clientValues,
		short: "wait for jobs to end: exit 0 all succeeded, 1 some failed or cancelled, 3 timed out, 4 master unreachable",
		long: `Wait blocks until every job named (by ID, or every job of --group and the
group's follow-up job) is final, drawing a progress bar on a terminal, else printing a line when the counts
change. A master that cannot be reached is said at once on stderr and
retried for --retry-for (30s by default), then wait exits 4.`,
		example: `  drover wait --group first
  drover wait 41 42 --timeout 10m --json
  drover wait --group nightly --retry-for 5m   # through a master restart`},
	{name: "cancel", args: "[ID...]", group: groupClient, setup: cancelCmd, values: with(map[string][]string{"state": {"pending", "running"}}),
		short: "cancel pending or running jobs, by ID, --group or a filter",
		long: `With a filter other than --group alone (--state, --type, --worker, --error,
--q, --older-than, --all), cancel acts on every live job the filter selects
and prints how many; on a terminal it first says how many and asks, unless
--yes. --dry-run only counts them.`,
		example: `  drover cancel 42 43
  drover cancel --group nightly
  drover cancel --type crawl --state pending --yes`},
	{name: "retry", args: "[ID...]", group: groupClient, setup: retryCmd, values: with(map[string][]string{"state": {"failed", "cancelled"}}),
		short: "retry failed or cancelled jobs, by ID or every one a filter selects",
		long: `With a filter (--state, --type, --group, --worker, --error, --q, --older-than,
or --all), retry acts on every failed or cancelled job it selects and prints
how many; on a terminal it first says how many and asks, unless --yes.
--dry-run only counts them. Needs an admin token.`,
		example: `  drover retry 42
  drover retry --state failed --type crawl --dry-run
  drover retry --error "connection refused" --older-than 1h --yes`},
	{name: "drain", args: "WORKER", group: groupClient, setup: workerOpCmd("drain"), values: clientValues,
		short:   "stop giving a worker jobs, and tell it to drain (finish what it runs)",
		example: `  drover drain w3-fdbe`},
	{name: "undrain", args: "WORKER", group: groupClient, setup: workerOpCmd("undrain"), values: clientValues,
		short:   "give a worker the master drained jobs again",
		example: `  drover undrain w3-fdbe`},
	{name: "purge", group: groupClient, setup: purgeCmd, values: with(map[string][]string{"state": finalStates}),
		short: "delete finished jobs now, from memory and disk (at least one filter, or --all)",
		example: `  drover purge --state failed --older-than 24h
  drover purge --group nightly --json`},
	{name: "schedules", group: groupClient, setup: schedulesCmd, values: clientValues,
		short:   "list cron schedules with their next fire time",
		example: `  drover schedules`},
	{name: "schedule", args: "pause|resume|run|delete NAME", group: groupClient, setup: scheduleCmd, values: clientValues,
		short: "pause, resume, run now or delete a cron schedule",
		long: `run fires the schedule once now (its overlap policy applies: skip refuses while
its last run is live, queue queues the fire). delete removes it from the
master's store; a schedule of the master's jobs file is refused.`,
		example: `  drover schedule pause nightly
  drover schedule resume nightly --json
  drover schedule run nightly
  drover schedule delete nightly`},
	{name: "queues", group: groupClient, setup: queuesCmd, values: clientValues,
		short: "list the lanes of pending work, biggest first: pending, running, oldest wait, rate, why they wait",
		example: `  drover queues
  drover queues --type ocr --json
  drover queues --reverse --limit 10`},
	{name: "top", group: groupClient, setup: topCmd, values: clientValues,
		short: "a refreshing view of workers and throughput",
		example: `  drover top
  drover top --json --interval 5s | jq -c .counts`},
	{name: "master", group: groupServer, setup: masterCmd,
		values: map[string][]string{"store": stores, "log-level": logLevels, "log-format": logFormats},
		short:  "run a master; SIGHUP reloads its conf (log, limits, tokens, jobs file)",
		example: `  drover master --config master.toml
  drover master --listen 127.0.0.1:7070 --data-dir ./data`},
	{name: "worker", group: groupServer, setup: workerCmd,
		values: map[string][]string{"transport": transports, "mode": {"push", "pull"}, "log-level": logLevels, "log-format": logFormats},
		short:  "run a worker; SIGHUP reloads its log settings",
		example: `  drover worker --config worker.toml --name worker-a
  drover worker --config worker.toml --master 10.0.0.1:7070 --slots 8 --tag region=eu`},
	{name: "demo", group: groupTool, setup: demoCmd, values: map[string][]string{"log-level": logLevels},
		short:   "run a master and workers in this process on a small batch",
		example: `  drover demo`},
	{name: "bench", group: groupTool, setup: benchCmd,
		values: map[string][]string{"store": stores, "transport": transports, "log-level": logLevels,
			"scenario": {"e2e", "heartbeats", "queue", "soak", "reads", "churn"}},
		short: "measure throughput and latency on loopback",
		example: `  drover bench --jobs 100000 --workers 4
  drover bench --scenario heartbeats --json`},
	{name: "cluster", group: groupClient,
		short: "a raft group of masters (docs/ha.md): who leads, terms, applied index, members; add and remove members",
		subs: []command{
			{name: "status", setup: clusterStatusCmd, values: clientValues,
				short:   "ask each master of --master (a comma list) what it knows of the group; exit 1 if none answers",
				example: `  drover cluster status --master 127.0.0.1:7070,127.0.0.1:7080,127.0.0.1:7090`},
			{name: "add", setup: clusterAddCmd, values: clientValues,
				short:   "add a member that started with join = true (admin); goes to the leader among --master",
				example: `  drover cluster add --master 127.0.0.1:7070,127.0.0.1:7080 --id m4 --raft 10.0.0.4:7071 --rpc 10.0.0.4:7070`},
			{name: "remove", setup: clusterRemoveCmd, values: clientValues,
				short:   "remove a member (admin); goes to the leader among --master",
				example: `  drover cluster remove --master 127.0.0.1:7070,127.0.0.1:7080 --id m4`},
		}},
	{name: "store", group: groupTool,
		short: "check a stopped master's data dir, or copy what reads of a damaged one into a new one",
		long: `Exit codes: 0 sound (salvage: nothing was lost), 1 damage found (salvage: it
kept what it could) or could not run (stderr says why), 2 usage.`,
		subs: []command{
			{name: "check", setup: storeCheckCmd,
				short:   "report what a stopped master's data dir holds and what is damaged: exit 0 sound, 1 damage found",
				example: `  drover store check --data-dir data --json`},
			{name: "salvage", setup: storeSalvageCmd,
				short:   "copy every valid job of a damaged data dir into a new one: exit 0 nothing lost, 1 something lost",
				example: `  drover store salvage --data-dir data --to data.new`},
		}},
	{name: "version", group: groupTool, setup: versionCmd,
		short: "print the module version, VCS commit and Go version drover was built from",
		example: `  drover version
  drover version --json`},
}
