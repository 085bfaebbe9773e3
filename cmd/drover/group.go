package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// groupReport is a group as `drover group --json` prints it: the group as
// every view shows it (GET /api/v1/groups/{name}), its state and each
// job's result, as a follow-up job's input has them.
type groupReport struct {
	rpcapi.GroupInfo
	// State is running until every job is final, then succeeded if all
	// succeeded, else failed.
	State   jobs.State          `json:"state"`
	Results []master.ThenResult `json:"results"`
}

// groupState is the state of group g: running until every job is final,
// then succeeded if all succeeded, else failed.
func groupState(g *rpcapi.GroupInfo) jobs.State {
	switch {
	case !g.Final:
		return jobs.Running
	case g.Counts[jobs.Succeeded] == g.Total:
		return jobs.Succeeded
	}
	return jobs.Failed
}

// jobResult is j's result: its state and its latest attempt's, with the
// error its view shows (a job cancelled while pending has one).
func jobResult(j *jobs.Job) master.ThenResult {
	r := master.ThenResult{ID: j.ID, State: j.State}
	if n := len(j.Attempts); n > 0 {
		a := &j.Attempts[n-1]
		r.ExitCode, r.Output, r.Data = a.ExitCode, a.Output, a.Data
	}
	r.Error = rpcapi.JobError(j)
	return r
}

// groupCmd shows one group: its state, counts by state and each member's
// result.
func groupCmd(fs *pflag.FlagSet) runFunc {
	return oneArgCmd(fs, "group name", "print JSON", showGroup)
}

// showGroup prints group name, as text or JSON.
func showGroup(conn *connFlags, name string, asJSON bool, stdout io.Writer) error {
	mc, c, done, err := conn.call()
	if err != nil {
		return err
	}
	defer done()
	g, err := mc.GetGroup(c, name)
	if errors.Is(err, rpcapi.ErrNotFound) {
		return &exitError{code: exitNotFound, err: fmt.Errorf("group %q has no jobs", name)}
	}
	if err != nil {
		return err
	}
	all, err := mc.ListAllJobs(c, rpcapi.ListJobsArgs{Group: name, Order: rpcapi.OrderAsc, Limit: rpcapi.MaxPageSize})
	if err != nil {
		return err
	}
	rep := groupReport{GroupInfo: *g, State: groupState(g), Results: make([]master.ThenResult, 0, len(all))}
	for i := range all {
		rep.Results = append(rep.Results, jobResult(&all[i]))
	}
	if asJSON {
		return printJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "group %s: %s, %d of %d jobs final (%d%%)\n%s\n", safeLine(g.Name), rep.State, g.Done, g.Total,
		100*g.Done/max(g.Total, 1), countsLine(g.Counts))
	if od := g.OnDone; od != nil && od.Then != "" {
		fmt.Fprintf(stdout, "follow-up job %s %s\n", safeLine(od.Then), safeLine(dash(string(od.ThenState))))
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATE\tRESULT")
	for _, res := range rep.Results {
		out := strings.TrimSpace(res.Output)
		if res.Error != "" {
			out = res.Error
		}
		more := ""
		if i := strings.IndexByte(out, '\n'); i >= 0 {
			out, more = out[:i], " ..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", safeLine(res.ID), safeLine(string(res.State)), safeLine(dash(out))+more)
	}
	return tw.Flush()
}

// groupsCmd lists the groups, the group started last first.
func groupsCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	pf := addPageFlags(fs, "groups")
	return func(pos []string, stdout io.Writer) error {
		out := &pagePrinter[rpcapi.GroupInfo]{w: stdout, header: "GROUP\tSTATE\tFINAL\tSUBMITTED\tUPDATED\tCOUNTS",
			row: func(w io.Writer, g *rpcapi.GroupInfo) {
				fmt.Fprintf(w, "%s\t%s\t%d/%d\t%s\t%s\t%s\n", safeLine(g.Name), groupState(g), g.Done, g.Total,
					g.Submitted.Local().Format(time.DateTime), g.Updated.Local().Format(time.DateTime), shortCounts(g.Counts))
			}}
		return listing(pos, conn, pf, "groups", out, func(c context.Context, mc rpcapi.MasterClient, limit int, order, cursor string) ([]rpcapi.GroupInfo, string, error) {
			r, err := mc.ListGroups(c, &rpcapi.ListGroupsArgs{Limit: limit, Order: order, Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return r.Groups, r.NextCursor, nil
		})
	}
}
