package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/drover/drover/rpcapi"
)

// "drover queues" and the attention lines of "drover status" call the
// master's list_queues and get_master_status (docs/protocol.md) over the
// command's --transport, and print the views GET /api/v1/queues and GET
// /api/v1/status show (docs/api.md).

// queuesCmd prints the queues view: a line per lane (type, tags, limit
// key), the biggest first, with why its jobs wait.
func queuesCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	typ := fs.String("type", "", "only the lanes of this `type`")
	limit := fs.Int("limit", 0, fmt.Sprintf("at most `N` lanes, 1 to %d (default %d)", rpcapi.MaxPageSize, rpcapi.DefaultPageSize))
	reverse := fs.Bool("reverse", false, "smallest first (the default is biggest first: most pending, then running, then the oldest wait)")
	asJSON := fs.Bool("json", false, "print a JSON array of the lanes")
	return func(pos []string, stdout io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		if *limit < 0 || *limit > rpcapi.MaxPageSize {
			return usagef("--limit %d: want 1 to %d", *limit, rpcapi.MaxPageSize)
		}
		a := &rpcapi.ListQueuesArgs{Type: *typ, Limit: *limit}
		if *reverse {
			a.Order = rpcapi.OrderAsc
		}
		r, err := fetchArg(conn, rpcapi.MasterClient.ListQueues, a)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, r.Queues)
		}
		return printQueues(stdout, r)
	}
}

// printQueues prints the lanes as a table, then how many more there are.
func printQueues(w io.Writer, r *rpcapi.ListQueuesReply) error {
	if len(r.Queues) == 0 {
		fmt.Fprintln(w, "no lane has pending or running jobs, or jobs finished in the last minutes")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TYPE\tTAGS\tLIMIT KEY\tPENDING\tDELAYED\tRUNNING\tOLDEST\tPER MIN\tWAITING\n")
	for _, v := range r.Queues {
		var why []string
		for _, wc := range v.Waiting {
			why = append(why, fmt.Sprintf("%d: %s", wc.Count, safeLine(wc.Reason)))
		}
		key := safeLine(or(v.LimitKey, "-"))
		if v.Pin != "" {
			key += " (copies for " + safeLine(v.Pin) + ")"
		}
		oldest := "-"
		if v.OldestPendingSeconds > 0 {
			oldest = (time.Duration(v.OldestPendingSeconds * float64(time.Second))).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%.1f\t%s\n", safeLine(v.Type), safeLine(or(strings.Join(v.Tags, ","), "-")), key,
			v.Pending, v.Delayed, v.Running, oldest, v.PerMinute, or(strings.Join(why, "; "), "-"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.More > 0 {
		fmt.Fprintf(w, "and %d more lanes (past --limit, or past the master's max_reply_bytes: narrow with --type)\n", r.More)
	}
	return nil
}

// or returns s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// viewAttention is att, from get_master_status, as the status shows it:
// a list, empty when nothing needs a person (gob sends it as none).
func viewAttention(att []rpcapi.Attention) []rpcapi.Attention {
	if att == nil {
		return []rpcapi.Attention{}
	}
	return att
}

// printAttention prints the attention lines at the top of "drover
// status", and how many more the master left out of its reply.
func printAttention(w io.Writer, att []rpcapi.Attention, more int) {
	if len(att) == 0 {
		return
	}
	fmt.Fprintf(w, "needs attention:\n")
	for _, a := range att {
		fmt.Fprintf(w, "  ! %s\n", safeLine(a.Text))
	}
	if more > 0 {
		fmt.Fprintf(w, "  ! and %d more (the dashboard's overview lists them all)\n", more)
	}
}
