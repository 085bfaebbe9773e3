package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// runGroup shows one group: its state (running until every member is
// final, then succeeded if all succeeded, else failed), counts by state
// and each member's result.
func runGroup(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("group", flag.ContinueOnError)
	dial := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("want one group name")
	}
	mc := dial()
	defer mc.C.Close()
	c, cancel := ctx()
	defer cancel()
	all, err := mc.ListAllJobs(c, rpcapi.ListJobsArgs{Group: pos[0], Order: rpcapi.OrderAsc, Limit: rpcapi.MaxPageSize})
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return &exitError{code: 1, err: fmt.Errorf("group %q has no jobs", pos[0])}
	}
	counts := map[jobs.State]int{}
	type result struct {
		ID     string     `json:"id"`
		State  jobs.State `json:"state"`
		Output string     `json:"output"`
		Data   string     `json:"data,omitempty"`
		Error  string     `json:"error,omitempty"`
	}
	results := make([]result, 0, len(all))
	for _, j := range all {
		counts[j.State]++
		res := result{ID: j.ID, State: j.State}
		if n := len(j.Attempts); n > 0 {
			a := j.Attempts[n-1]
			res.Output, res.Data, res.Error = a.Output, a.Data, a.Error
		}
		results = append(results, res)
	}
	final := finalCount(counts)
	state := "running"
	if final == len(all) {
		state = "succeeded"
		if counts[jobs.Succeeded] != final {
			state = "failed"
		}
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"group": pos[0], "state": state, "counts": counts,
			"jobs": len(all), "final": final, "results": results})
	}
	fmt.Fprintf(stdout, "group %s: %s, %d of %d jobs final (%d%%)\n%s\n\n", pos[0], state, final, len(all),
		100*final/len(all), countsLine(counts))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATE\tRESULT")
	for _, res := range results {
		out := strings.TrimSpace(res.Output)
		if res.Error != "" {
			out = res.Error
		}
		if i := strings.IndexByte(out, '\n'); i >= 0 {
			out = out[:i] + " ..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", res.ID, res.State, dash(out))
	}
	return tw.Flush()
}
