package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/drover/drover/rpcapi"
)

// The commands that act on many jobs (retry, cancel by filter), on a
// schedule (run, delete) and on a worker (drain, undrain) call the
// master's JSON API (docs/api.md), with the token and TLS of the
// command's flags.

// bulkTimeout bounds a bulk action's call: the master acts on a page of
// jobs at a time, and a large filter takes a while.
const bulkTimeout = 10 * time.Minute

// post sends body (nil: none) as JSON to the API path and decodes the
// 200 reply (16 MiB at most) into reply.
func (lc *logClient) post(ctx context.Context, path string, body, reply any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	return lc.exchange(ctx, http.MethodPost, path, rd, 16<<20, reply)
}

// exchange sends a request of method to the API path and decodes the
// 200 reply, read up to limit bytes, into reply. An error reply comes
// back as an error whose sentinel is that of its status (so its exit
// code follows).
func (lc *logClient) exchange(ctx context.Context, method, path string, body io.Reader, limit int64, reply any) error {
	res, err := lc.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, limit))
	if err != nil {
		return lc.conn.annotate(&httpError{sentinel: rpcapi.ErrUnavailable, msg: err.Error()})
	}
	if res.StatusCode != http.StatusOK {
		return lc.refusal(res, b, "")
	}
	return json.Unmarshal(b, reply)
}

// callAPI makes one call of the JSON API with conn's token and TLS: a
// POST of path with no body, whose reply it decodes into reply (see
// post).
func callAPI(conn *connFlags, path string, reply any) error {
	lc, err := newLogClient(conn)
	if err != nil {
		return err
	}
	c, cancel := ctx()
	defer cancel()
	return lc.post(c, path, nil, reply)
}

// bulkFlags are the filter of a bulk action (the jobs listing's), and
// how to confirm it.
type bulkFlags struct {
	state, typ, group, worker, errText, text *string
	olderThan                                *time.Duration
	all, dryRun, yes                         *bool
}

// addBulkFlags adds the filter flags to fs; states are the states the
// action applies to, for --state's help. The caller adds --group when
// the command has its own.
func addBulkFlags(fs *pflag.FlagSet, states string, group *string) *bulkFlags {
	if group == nil {
		group = fs.String("group", "", "only jobs of this `group`")
	}
	return &bulkFlags{
		state:     fs.String("state", "", "only jobs in this `state`: "+states),
		typ:       fs.String("type", "", "only jobs of this `type`"),
		group:     group,
		worker:    fs.String("worker", "", "only jobs that ran on this worker `ID`, in any attempt"),
		errText:   fs.String("error", "", "only jobs whose latest error holds this `text` (any case)"),
		text:      fs.String("q", "", "only jobs with this `text` in some key=value of their args (any case)"),
		olderThan: fs.Duration("older-than", 0, "only jobs last changed more than this long ago (e.g. 24h)"),
		all:       fs.Bool("all", false, "every job the action applies to (no other filter)"),
		dryRun:    fs.Bool("dry-run", false, "print how many jobs it would act on, and do nothing"),
		yes:       fs.Bool("yes", false, "do not ask on a terminal before acting"),
	}
}

// filtered reports whether a filter flag other than --group is set.
func (b *bulkFlags) filtered() bool {
	return *b.state != "" || *b.typ != "" || *b.worker != "" || *b.errText != "" || *b.text != "" || *b.olderThan != 0 || *b.all
}

// body returns the API body of the filter, checking what the master
// would refuse anyway, with the flags' names.
func (b *bulkFlags) body(dry bool) (map[string]any, error) {
	f := map[string]any{}
	for k, v := range map[string]string{"state": *b.state, "type": *b.typ, "group": *b.group, "worker": *b.worker,
		"error": *b.errText, "q": *b.text} {
		if v != "" {
			f[k] = v
		}
	}
	switch d := *b.olderThan; {
	case d < 0:
		return nil, usagef("--older-than %s: want more than 0", d)
	case d > 0:
		f["older_than"] = d.String()
	}
	switch {
	case *b.all && len(f) > 0:
		return nil, usagef("--all takes no other filter")
	case !*b.all && len(f) == 0:
		return nil, usagef("needs a filter: --state, --type, --group, --worker, --error, --q or --older-than (or --all)")
	case *b.all:
		f["all"] = true
	}
	if dry {
		f["dry_run"] = true
	}
	return f, nil
}

// bulkReply is the reply of a bulk action (docs/api.md).
type bulkReply struct {
	Count   int  `json:"count"`
	DryRun  bool `json:"dry_run"`
	Skipped int  `json:"skipped,omitempty"`
}

// run does the bulk action (retry, cancel) of the filter: a dry run with
// --dry-run; on a terminal without --yes, a dry run, the question and
// then the action; else the action. It prints the count.
func (b *bulkFlags) run(conn *connFlags, action, done string, asJSON bool, stdout io.Writer) error {
	lc, err := newLogClient(conn)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), bulkTimeout)
	defer cancel()
	path := "/api/v1/jobs/" + action
	ask := !*b.dryRun && !*b.yes && term.IsTerminal(int(os.Stdin.Fd())) && !asJSON
	if *b.dryRun || ask {
		r, err := b.send(ctx, lc, path, true)
		if err != nil {
			return err
		}
		if *b.dryRun {
			return printBulk(stdout, r, asJSON, "would "+action)
		}
		if !confirm(fmt.Sprintf("%s %d jobs? [y/N] ", action, r.Count)) {
			return &exitError{code: exitFailed, err: fmt.Errorf("not confirmed: nothing was done")}
		}
	}
	r, err := b.send(ctx, lc, path, false)
	if err != nil {
		return err
	}
	return printBulk(stdout, r, asJSON, done)
}

// send posts the filter to the bulk action's path, as a dry run if dry.
func (b *bulkFlags) send(ctx context.Context, lc *logClient, path string, dry bool) (bulkReply, error) {
	var r bulkReply
	body, err := b.body(dry)
	if err != nil {
		return r, err
	}
	err = lc.post(ctx, path, body, &r)
	return r, err
}

// confirm asks question on the terminal and reports whether the answer
// is yes.
func confirm(question string) bool {
	fmt.Fprint(os.Stderr, question)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}

func printBulk(w io.Writer, r bulkReply, asJSON bool, what string) error {
	if asJSON {
		return printJSON(w, r)
	}
	fmt.Fprintf(w, "%s %d jobs\n", what, r.Count)
	if r.Skipped > 0 {
		fmt.Fprintf(w, "%d jobs skipped: submitted by other tokens (client_cancel = \"own\")\n", r.Skipped)
	}
	return nil
}

// retryCmd retries failed or cancelled jobs: by ID, or every one a
// filter selects.
func retryCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	bf := addBulkFlags(fs, "failed or cancelled", nil)
	asJSON := fs.Bool("json", false, `print the jobs retried by ID as JSON, or {"count": N, "dry_run": B}`)
	return func(ids []string, stdout io.Writer) error {
		if len(ids) == 0 {
			return bf.run(conn, "retry", "retried", *asJSON, stdout)
		}
		if bf.filtered() || *bf.group != "" || *bf.dryRun {
			return usagef("give job IDs or a filter, not both")
		}
		lc, err := newLogClient(conn)
		if err != nil {
			return err
		}
		c, cancel := ctx()
		defer cancel()
		var out []any
		for _, id := range ids {
			var j map[string]any
			if err := lc.post(c, "/api/v1/jobs/"+url.PathEscape(id)+"/retry", nil, &j); err != nil {
				return fmt.Errorf("job %s: %w", id, err)
			}
			out = append(out, j)
			if !*asJSON {
				fmt.Fprintf(stdout, "%s retried\n", safeLine(id))
			}
		}
		if *asJSON {
			return printJSON(stdout, out)
		}
		return nil
	}
}

// workerOpCmd drains or undrains one worker.
func workerOpCmd(op string) func(fs *pflag.FlagSet) runFunc {
	return func(fs *pflag.FlagSet) runFunc {
		return oneArgCmd(fs, "worker ID", "print the worker as JSON", func(conn *connFlags, id string, asJSON bool, stdout io.Writer) error {
			var w rpcapi.WorkerInfo
			if err := callAPI(conn, "/api/v1/workers/"+url.PathEscape(id)+"/"+op, &w); err != nil {
				return err
			}
			if asJSON {
				return printJSON(stdout, w)
			}
			_, err := fmt.Fprintf(stdout, "worker %s (%s) %s\n", safeLine(w.ID), safeLine(w.Name), safeLine(w.State))
			return err
		})
	}
}

// scheduleAPI runs or deletes schedule name over the JSON API and prints
// what it did.
func scheduleAPI(conn *connFlags, op, name string, asJSON bool, stdout io.Writer) error {
	var r struct {
		Schedule *rpcapi.ScheduleInfo `json:"schedule,omitempty"`
		Job      string               `json:"job,omitempty"`
		Queued   bool                 `json:"queued,omitempty"`
		Deleted  string               `json:"deleted,omitempty"`
	}
	if err := callAPI(conn, "/api/v1/schedules/"+url.PathEscape(name)+"/"+op, &r); err != nil {
		return err
	}
	var err error
	switch {
	case asJSON:
		return printJSON(stdout, r)
	case op == "delete":
		_, err = fmt.Fprintf(stdout, "schedule %s deleted\n", safeLine(name))
	case r.Queued:
		_, err = fmt.Fprintf(stdout, "schedule %s: fire queued behind its last run (overlap queue)\n", safeLine(name))
	default:
		_, err = fmt.Fprintf(stdout, "schedule %s fired: job %s\n", safeLine(name), safeLine(r.Job))
	}
	return err
}
