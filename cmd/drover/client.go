package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/drover/drover/conf"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

const callTimeout = 30 * time.Second

// clientToken returns the token a client command sends: --token, else the
// content of --token-file, else $DROVER_TOKEN (env), else none. Both flags
// at once, or a token file that cannot be read or is empty, is an error
// naming the file.
func clientToken(flagToken, file, env string) (string, error) {
	switch {
	case flagToken != "" && file != "":
		return "", errors.New("--token and --token-file exclude each other")
	case flagToken != "":
		return flagToken, nil
	case file != "":
		tok, err := conf.ReadTokenFile(file)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		return tok, nil
	}
	return env, nil
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// oneArg returns the one positional argument pos must hold, a what.
func oneArg(pos []string, what string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("want one %s, got %d arguments", what, len(pos))
	}
	return pos[0], nil
}

// oneArgCmd is a command on one thing named by its one argument (a
// what), with the connection flags and --json (jsonHelp): act does it.
func oneArgCmd(fs *pflag.FlagSet, what, jsonHelp string, act func(conn *connFlags, arg string, asJSON bool, stdout io.Writer) error) runFunc {
	conn := addConnFlags(fs)
	asJSON := fs.Bool("json", false, jsonHelp)
	return func(pos []string, stdout io.Writer) error {
		arg, err := oneArg(pos, what)
		if err != nil {
			return err
		}
		return act(conn, arg, *asJSON, stdout)
	}
}

// noArgs refuses positional arguments.
func noArgs(pos []string) error {
	if len(pos) > 0 {
		return usagef("takes no arguments, got %q", pos)
	}
	return nil
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }
func (l *listFlag) Type() string       { return "string" }

// argFlag collects repeated --arg k=v.
type argFlag map[string]string

func (a argFlag) String() string { return "" }
func (a argFlag) Type() string   { return "name=value" }
func (a argFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want name=value, got %q", s)
	}
	a[k] = v
	return nil
}

// submitCmd submits one job of the flags, or every job of a jobs file,
// and prints their IDs.
func submitCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	typ := fs.String("type", "", "job `type`")
	jargs := argFlag{}
	fs.Var(jargs, "arg", "job arg `name=value` (repeatable)")
	prio := fs.Int("priority", 0, "priority: higher runs first")
	retries := fs.Int("retries", 0, "retries after a failed attempt")
	timeout := fs.Duration("timeout", 0, "timeout of one attempt (e.g. 30s)")
	group := fs.String("group", "", "group (batch) `name`")
	key := fs.String("key", "", "idempotency `key`: a second submit with it returns the first job")
	var tags listFlag
	fs.Var(&tags, "tag", "a `tag` the worker must have (repeatable)")
	limitKey := fs.String("limit-key", "", "`key` the master's concurrency and rate limits count (e.g. a domain)")
	uniqueKey := fs.String("unique-key", "", "while a job with this `key` is live, return it instead")
	uniqueFor := fs.Duration("unique-for", 0, "keep the unique key after success for this long")
	delay := fs.Duration("delay", 0, "hold the job this long before it may run")
	runAt := fs.String("run-at", "", "hold the job until this `time` (RFC 3339)")
	broadcast := fs.Bool("broadcast", false, "run one copy on every live worker that has the type (and tags)")
	file := fs.String("file", "", "submit every job of a jobs `file` (TOML)")
	asJSON := fs.Bool("json", false, `print {"ids": [...]} instead of one ID a line`)
	return func(pos []string, stdout io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		var specs []jobs.Spec
		switch {
		case *file != "" && *typ != "":
			return usagef("--file and --type exclude each other")
		case *file != "":
			s, err := conf.LoadJobs(*file)
			if err != nil {
				return err
			}
			// The file's keys make the master's jobs_file idempotent; a
			// submit from the command line always makes new jobs.
			for i := range s {
				s[i].Key = ""
			}
			specs = s
		case *typ != "":
			s := jobs.Spec{Type: *typ, Args: jargs, Priority: *prio, Retries: *retries, Timeout: *timeout,
				Group: *group, Key: *key, Tags: tags, LimitKey: *limitKey, UniqueKey: *uniqueKey,
				UniqueFor: *uniqueFor, Delay: *delay, Broadcast: *broadcast}
			if *runAt != "" {
				t, err := time.Parse(time.RFC3339, *runAt)
				if err != nil {
					return usagef("--run-at: %v", err)
				}
				s.RunAt = t
			}
			specs = []jobs.Spec{s}
		default:
			return usagef("need --type or --file")
		}
		mc, c, done, err := conn.call()
		if err != nil {
			return err
		}
		defer done()
		r, err := mc.Submit(c, &rpcapi.SubmitArgs{Specs: specs})
		if err != nil {
			return err
		}
		if *asJSON {
			thens := r.ThenIDs
			if thens == nil {
				thens = []rpcapi.FollowUp{}
			}
			return printJSON(stdout, map[string]any{"ids": r.IDs, "existing": r.Existing, "then_ids": thens})
		}
		for _, id := range r.IDs {
			fmt.Fprintln(stdout, safeLine(id))
		}
		for _, f := range r.ThenIDs {
			fmt.Fprintf(stdout, "follow-up of group %s: %s\n", safeLine(f.Group), safeLine(f.ID))
		}
		return nil
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func fmtArgs(a map[string]string) string {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + a[k]
	}
	return strings.Join(parts, " ")
}

// listErrorWidth bounds the ERROR column of drover jobs (in runes, "…"
// marks a cut); drover job ID shows the whole error.
const listErrorWidth = 60

// listError is the first line of a job's latest error, cut to
// listErrorWidth.
func listError(e string) string {
	line, _, more := strings.Cut(e, "\n")
	if r := []rune(line); len(r) > listErrorWidth {
		line, more = string(r[:listErrorWidth-1]), true
	}
	if more {
		line += "…"
	}
	return line
}

// jobsCmd lists jobs, newest first, a page or every page.
func jobsCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	state := fs.String("state", "", "only jobs in `state` (pending, running, succeeded, failed, cancelled)")
	typ := fs.String("type", "", "only jobs of `type`")
	group := fs.String("group", "", "only jobs of `group`")
	pf := addPageFlags(fs, "jobs")
	return func(pos []string, stdout io.Writer) error {
		out := &pagePrinter[rpcapi.JobView]{w: stdout, header: "ID\tTYPE\tSTATE\tATTEMPTS\tWORKER\tGROUP\tARGS\tERROR",
			row: func(w io.Writer, v *rpcapi.JobView) {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", safeLine(v.ID), safeLine(v.Type), safeLine(string(v.State)),
					v.Attempts, safeLine(dash(v.Worker)), safeLine(dash(v.Group)), safeLine(fmtArgs(v.Args)), safeLine(dash(listError(v.Error))))
			}}
		return listing(pos, conn, pf, "jobs", out, func(c context.Context, mc rpcapi.MasterClient, limit int, order, cursor string) ([]rpcapi.JobView, string, error) {
			r, err := mc.ListJobs(c, &rpcapi.ListJobsArgs{State: jobs.State(*state), Type: *typ, Group: *group, Limit: limit, Order: order, Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			views := make([]rpcapi.JobView, len(r.Jobs))
			for i := range r.Jobs {
				views[i] = rpcapi.ViewJob(&r.Jobs[i])
			}
			return views, r.NextCursor, nil
		})
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// jobCmd shows one job: its attempts, why it waits, its timeline.
func jobCmd(fs *pflag.FlagSet) runFunc {
	return oneArgCmd(fs, "job ID", "print JSON", showJob)
}

// showJob prints job id, as text or JSON.
func showJob(conn *connFlags, id string, asJSON bool, stdout io.Writer) error {
	info, err := fetchArg(conn, rpcapi.MasterClient.GetJob, id)
	if err != nil {
		return err
	}
	j, d := &info.Job, info.View()
	if asJSON {
		return printJSON(stdout, d)
	}
	fmt.Fprintf(stdout, "job %s  type %s  state %s\n", safeLine(j.ID), safeLine(j.Spec.Type), safeLine(string(j.State)))
	fmt.Fprintf(stdout, "args: %s\n", safeLine(dash(fmtArgs(j.Spec.Args))))
	fmt.Fprintf(stdout, "priority %d  retries %d  timeout %s  group %s\n", j.Spec.Priority, j.Spec.Retries, safeLine(dash(d.Timeout)),
		safeLine(dash(j.Spec.Group)))
	fmt.Fprintf(stdout, "submitted by %s\n", safeLine(dash(j.Submitter)))
	if info.Waiting != "" {
		fmt.Fprintf(stdout, "waiting: %s\n", safeLine(info.Waiting))
	}
	if len(j.Attempts) > 0 {
		fmt.Fprintln(stdout, "\nattempts:")
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  #\tWORKER\tSTARTED\tTOOK\tOUTCOME\tEXIT\tERROR")
		for _, a := range j.Attempts {
			took := "-"
			if !a.Ended.IsZero() {
				took = a.Ended.Sub(a.Started).Round(time.Millisecond).String()
			}
			exit := "-"
			if a.Exited() {
				exit = strconv.Itoa(a.ExitCode)
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.N, safeLine(a.Worker), a.Started.Format("15:04:05.000"), took,
				safeLine(dash(string(a.Outcome))), exit, safeLine(dash(a.Error)))
		}
		tw.Flush()
		printRunFacts(stdout, &d)
		if last := j.Attempts[len(j.Attempts)-1]; last.Output != "" {
			fmt.Fprintf(stdout, "\noutput of attempt %d (tail):\n%s\n", last.N, safeLines(strings.TrimRight(last.Output, "\n")))
		}
	}
	fmt.Fprintln(stdout, "\ntimeline:")
	for _, e := range j.Events {
		fmt.Fprintf(stdout, "  %s  %s\n", e.At.Format("15:04:05.000"), safeLine(e.Text))
	}
	return nil
}

// viewWorkers is ws as the CLI prints them: the master's view
// (rpcapi.WorkerInfo, also the JSON API's), with no nil lists.
func viewWorkers(ws []rpcapi.WorkerInfo) []rpcapi.WorkerInfo {
	if ws == nil {
		ws = []rpcapi.WorkerInfo{}
	}
	for i := range ws {
		w := &ws[i]
		if w.Types == nil {
			w.Types = []string{}
		}
		if w.Tags == nil {
			w.Tags = []string{}
		}
		if w.Jobs == nil {
			w.Jobs = []rpcapi.WorkerJob{}
		}
	}
	return ws
}

// newestWorkersFirst is ws (the master's status: the live workers first)
// as drover status and top show them: the live first, each part the
// latest registered first; as viewWorkers, with no nil lists.
func newestWorkersFirst(ws []rpcapi.WorkerInfo) []rpcapi.WorkerInfo {
	ws = viewWorkers(ws)
	slices.SortStableFunc(ws, func(a, b rpcapi.WorkerInfo) int {
		if da, db := a.State == rpcapi.WorkerDead, b.State == rpcapi.WorkerDead; da != db {
			if da {
				return 1
			}
			return -1
		}
		return b.Registered.Compare(a.Registered)
	})
	return ws
}

const workerHeader = "ID\tNAME\tADDR\tSTATE\tRUNNING/SLOTS\tLAST HEARTBEAT\tTYPES\tJOBS"

func workerRow(w io.Writer, v *rpcapi.WorkerInfo) {
	ago := time.Since(v.LastHeartbeat).Round(100 * time.Millisecond)
	var ids []string
	for _, j := range v.Jobs[:min(len(v.Jobs), 8)] {
		ids = append(ids, j.JobID)
	}
	more := ""
	if len(v.Jobs) > 8 {
		more = fmt.Sprintf(" +%d", len(v.Jobs)-8)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d/%d\t%s ago\t%s\t%s\n", safeLine(v.ID), safeLine(v.Name), safeLine(dash(v.Addr)),
		safeLine(v.State), v.Running, v.Slots, ago, safeLine(strings.Join(v.Types, ",")), safeLine(dash(strings.Join(ids, " ")+more)))
}

// aliveWorkers counts the alive workers of ws, and their slots, and how
// many of those run a job.
func aliveWorkers(ws []rpcapi.WorkerInfo) (alive, slots, busy int) {
	for _, w := range ws {
		if w.State == rpcapi.WorkerAlive {
			alive++
			slots += w.Slots
			busy += w.Running
		}
	}
	return alive, slots, busy
}

func printWorkers(w io.Writer, views []rpcapi.WorkerInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, workerHeader)
	for i := range views {
		workerRow(tw, &views[i])
	}
	return tw.Flush()
}

// workersCmd lists workers, the latest registered first.
func workersCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	state := fs.String("state", "", "only workers in `state` (alive, draining, dead)")
	pf := addPageFlags(fs, "workers")
	return func(pos []string, stdout io.Writer) error {
		out := &pagePrinter[rpcapi.WorkerInfo]{w: stdout, header: workerHeader, row: workerRow}
		return listing(pos, conn, pf, "workers", out, func(c context.Context, mc rpcapi.MasterClient, limit int, order, cursor string) ([]rpcapi.WorkerInfo, string, error) {
			r, err := mc.ListWorkersPage(c, &rpcapi.ListWorkersArgs{State: *state, Limit: limit, Order: order, Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return viewWorkers(r.Workers), r.NextCursor, nil
		})
	}
}

// statusCmd shows the master at a glance: counts, workers, version.
func statusCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	return func(pos []string, stdout io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		r, err := fetch(conn, rpcapi.MasterClient.Status)
		if err != nil {
			return err
		}
		att := viewAttention(r.Attention)
		r.Workers = newestWorkersFirst(r.Workers)
		alive, _, _ := aliveWorkers(r.Workers)
		if r.WorkersMore > 0 {
			alive = r.Alive // the master's count: not every worker is listed
		}
		if *asJSON {
			return printJSON(stdout, map[string]any{
				"counts": r.Counts, "workers": r.Workers, "workers_alive": alive,
				"workers_more": r.WorkersMore,
				"started":      r.Started, "stale_reports_dropped": r.Dropped, "workers_reaped": r.Reaped,
				"version": r.Version, "attention": att,
			})
		}
		printAttention(stdout, att, r.AttentionMore)
		fmt.Fprintf(stdout, "master up %s; %s alive; %d reaped; %s dropped\n",
			time.Since(r.Started).Round(time.Second), plural(alive, "worker"), r.Reaped, plural(int(r.Dropped), "stale report"))
		fmt.Fprintf(stdout, "master %s\n", safeLine(versionLine(r.Version)))
		for _, s := range jobs.States {
			fmt.Fprintf(stdout, "  %-10s %d\n", s, r.Counts[s])
		}
		if len(r.Workers) > 0 {
			fmt.Fprintln(stdout)
			if err := printWorkers(stdout, r.Workers); err != nil {
				return err
			}
		}
		if r.WorkersMore > 0 {
			fmt.Fprintf(stdout, "and %d more workers (drover workers --all lists them all)\n", r.WorkersMore)
		}
		return nil
	}
}

// cancelCmd cancels jobs by ID, or every live job of a group.
func cancelCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	asJSON := fs.Bool("json", false, "print {cancelled, errors} as JSON")
	group := fs.String("group", "", "cancel every live job of `group`")
	bf := addBulkFlags(fs, "pending or running", group)
	return func(ids []string, stdout io.Writer) error {
		if bf.filtered() || *bf.dryRun {
			if len(ids) > 0 {
				return usagef("give job IDs or a filter, not both")
			}
			return bf.run(conn, "cancel", "cancelled", *asJSON, stdout)
		}
		if len(ids) == 0 && *group == "" {
			return usagef("want job IDs or --group, or a filter (--state, --type, --worker, --error, --q, --older-than, --all)")
		}
		r, err := fetchArg(conn, rpcapi.MasterClient.Cancel, &rpcapi.CancelArgs{IDs: ids, Group: *group})
		if err != nil {
			return err
		}
		if *asJSON {
			if r.Cancelled == nil {
				r.Cancelled = []string{}
			}
			if r.Errors == nil {
				r.Errors = []string{}
			}
			printJSON(stdout, map[string]any{"cancelled": r.Cancelled, "errors": r.Errors,
				"cancelled_more": r.CancelledMore, "errors_more": r.ErrorsMore, "skipped": r.Skipped})
			if len(r.Errors)+r.ErrorsMore > 0 {
				return &exitError{code: 1}
			}
			return nil
		}
		for _, id := range r.Cancelled {
			fmt.Fprintf(stdout, "%s cancelled\n", safeLine(id))
		}
		if r.CancelledMore > 0 {
			fmt.Fprintf(stdout, "and %d more cancelled\n", r.CancelledMore)
		}
		if r.Skipped > 0 {
			fmt.Fprintf(stdout, "%d live jobs of group %s skipped: submitted by other tokens (client_cancel = \"own\")\n", r.Skipped, safeLine(*group))
		}
		if len(r.Errors)+r.ErrorsMore > 0 {
			msg := strings.Join(r.Errors, "; ")
			if r.ErrorsMore > 0 {
				msg += fmt.Sprintf("; and %d more", r.ErrorsMore)
			}
			return &exitError{code: cancelExit(r), err: errors.New(msg)}
		}
		return nil
	}
}

// cancelExit is the exit code of a cancel that did not cancel all it was
// asked to: 5 (not found) when it cancelled nothing and every error is an
// unknown ID, else 1.
func cancelExit(r *rpcapi.CancelReply) int {
	if len(r.Cancelled)+r.CancelledMore > 0 || r.ErrorsMore > 0 {
		return 1
	}
	for _, e := range r.Errors {
		if !strings.HasSuffix(e, ": no such job") {
			return 1
		}
	}
	return exitNotFound
}

func countsLine(c map[jobs.State]int) string {
	parts := make([]string, 0, len(jobs.States))
	for _, s := range jobs.States {
		parts = append(parts, fmt.Sprintf("%s %d", s, c[s]))
	}
	return strings.Join(parts, ", ")
}

// plural is n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
