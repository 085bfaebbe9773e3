// Command drover runs a drover master or worker, talks to a master from the
// command line, and runs a self-contained demo. Run "drover help" for the
// commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

type command struct {
	name, args, help string
	run              func(args []string, stdout io.Writer) error
}

var commands []command

func init() {
	commands = []command{
		{"master", "--config F [--listen ADDR] [--data-dir DIR] [--store bolt|memory]", "run a master; SIGHUP reloads its tokens_file", runMaster},
		{"worker", "--config F [--master ADDR] [--listen ADDR] [--name NAME] [--slots N]", "run a worker", runWorker},
		{"submit", "--type T [--arg k=v]... [--priority N] [--retries N] [--timeout D] [--group G] [--tag T]... [--limit-key K] [--unique-key K] [--delay D] [--run-at T] | --file jobs.toml", "submit jobs; prints their IDs", runSubmit},
		{"jobs", "[--state S] [--type T] [--group G] [--limit N] [--order desc|asc] [--cursor C] [--all] [--json]", "list jobs, newest first: one page (100), or every page with --all", runJobs},
		{"job", "ID [--json]", "show one job: attempts, timeline, why it waits", runJob},
		{"logs", "ID [--attempt N] [--stream stdout|stderr] [-f]", "print an attempt's full log (stdout to stdout, stderr to stderr); -f follows it until the attempt ends", runLogs},
		{"workers", "[--state S] [--limit N] [--order desc|asc] [--cursor C] [--all] [--json]", "list workers, latest registered first: one page (100), or every page with --all", runWorkers},
		{"status", "[--json]", "counts by state and workers", runStatus},
		{"cancel", "[--group G] [ID...] [--json]", "cancel jobs", runCancel},
		{"purge", "[--state S] [--type T] [--group G] [--older-than D] [--all] [--json]", "delete finished jobs now, from memory and disk (at least one filter, or --all)", runPurge},
		{"group", "G [--json]", "one group: state, counts, progress and each job's result", runGroup},
		{"schedules", "[--json]", "list cron schedules with their next fire time", runSchedules},
		{"schedule", "pause|resume NAME [--json]", "pause or resume a cron schedule", runSchedule},
		{"wait", "[--group G] [ID...] [--timeout D] [--json]", "wait for jobs (a progress bar on a terminal): exit 0 all succeeded, 1 some failed or cancelled, 2 timeout", runWait},
		{"top", "[--interval D] [--count N]", "a refreshing view of workers and throughput", runTop},
		{"demo", "[--workers N] [--jobs N]", "run a master and workers in this process on a small batch", runDemo},
		{"bench", "[--jobs N] [--workers W] [--clients C] [--store bolt|memory] [--transport gob|xmlrpc] [--json] ...", "measure throughput and latency on loopback", runBench},
		{"store", "check --data-dir DIR [--json] | salvage --data-dir DIR --to NEWDIR [--json]", "check a stopped master's data dir, or copy what reads of a damaged one into a new one: exit 0 sound, 1 could not run, 3 damage found", runStore},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "drover runs jobs on a fleet of workers under one master.")
	fmt.Fprintln(w, "\nUsage: drover COMMAND [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n           %s\n", c.name, c.help, c.args)
	}
	fmt.Fprintln(w, "\nClient commands take --master ADDR (default $DROVER_MASTER, else 127.0.0.1:7070).")
	fmt.Fprintln(w, "They send the token of --token-file F or $DROVER_TOKEN (--token T works too, but shows T in ps).")
	fmt.Fprintln(w, "Run \"drover COMMAND -h\" for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout)
		var ee *exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ee):
			if ee.err != nil {
				fmt.Fprintln(stderr, "drover "+c.name+": "+ee.err.Error())
			}
			return ee.code
		default:
			fmt.Fprintln(stderr, "drover "+c.name+": "+err.Error())
			return 1
		}
	}
	fmt.Fprintf(stderr, "drover: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// parse parses flags that may come before, between or after positional
// arguments, and returns the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(os.Stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &exitError{code: 2, err: nil}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
