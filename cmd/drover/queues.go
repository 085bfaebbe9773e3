package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/drover/drover/rpcapi"
)

// "drover queues" and the attention lines of "drover status" read the
// master's JSON API (GET /api/v1/queues and GET /api/v1/status,
// docs/api.md), with the token and TLS of the command's flags.

// get fetches the API path and decodes its 200 reply (64 MiB at most)
// into reply.
func (lc *logClient) get(ctx context.Context, path string, reply any) error {
	return lc.exchange(ctx, http.MethodGet, path, nil, 64<<20, reply)
}

// queuesReply is the reply of GET /api/v1/queues.
type queuesReply struct {
	Queues            []rpcapi.QueueView `json:"queues"`
	More              int                `json:"more"`
	ThroughputMinutes int                `json:"throughput_minutes"`
}

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
		q := url.Values{}
		if *typ != "" {
			q.Set("type", *typ)
		}
		if *limit > 0 {
			q.Set("limit", fmt.Sprint(*limit))
		}
		if *reverse {
			q.Set("order", rpcapi.OrderAsc)
		}
		var r queuesReply
		if err := callAPI(conn, http.MethodGet, "/api/v1/queues?"+q.Encode(), &r); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, r.Queues)
		}
		return printQueues(stdout, r)
	}
}

// printQueues prints the lanes as a table, then how many more there are.
func printQueues(w io.Writer, r queuesReply) error {
	if len(r.Queues) == 0 {
		fmt.Fprintln(w, "no lane has pending or running jobs, or jobs finished in the last minutes")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TYPE\tTAGS\tLIMIT KEY\tPENDING\tDELAYED\tRUNNING\tOLDEST\tPER MIN\tWAITING\n")
	for _, v := range r.Queues {
		var why []string
		for _, wc := range v.Waiting {
			why = append(why, fmt.Sprintf("%d: %s", wc.Count, wc.Reason))
		}
		key := or(v.LimitKey, "-")
		if v.Pin != "" {
			key += " (copies for " + v.Pin + ")"
		}
		oldest := "-"
		if v.OldestPendingSeconds > 0 {
			oldest = (time.Duration(v.OldestPendingSeconds * float64(time.Second))).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%.1f\t%s\n", v.Type, or(strings.Join(v.Tags, ","), "-"), key,
			v.Pending, v.Delayed, v.Running, oldest, v.PerMinute, or(strings.Join(why, "; "), "-"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.More > 0 {
		fmt.Fprintf(w, "and %d more lanes (--limit)\n", r.More)
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

// statusAttention fetches what needs a person from GET /api/v1/status.
func statusAttention(conn *connFlags) ([]rpcapi.Attention, error) {
	var st struct {
		Attention []rpcapi.Attention `json:"attention"`
	}
	if err := callAPI(conn, http.MethodGet, "/api/v1/status", &st); err != nil {
		return nil, err
	}
	if st.Attention == nil {
		st.Attention = []rpcapi.Attention{}
	}
	return st.Attention, nil
}

// printAttention prints the attention lines at the top of "drover status".
func printAttention(w io.Writer, att []rpcapi.Attention) {
	if len(att) == 0 {
		return
	}
	fmt.Fprintf(w, "needs attention:\n")
	for _, a := range att {
		fmt.Fprintf(w, "  ! %s\n", a.Text)
	}
}
