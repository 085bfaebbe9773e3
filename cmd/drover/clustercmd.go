package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	drovercluster "github.com/drover/drover/cluster"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// memberStatus is one master's answer to GET /api/v1/cluster, or why it
// gave none.
type memberStatus struct {
	Addr   string                `json:"addr"`
	Status *drovercluster.Status `json:"status,omitempty"`
	Error  string                `json:"error,omitempty"`
}

// clusterStatusCmd asks every master of --master (a comma list) what it
// knows of the group.
func clusterStatusCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON: one object per master")
	return func(pos []string, stdout io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		// Every master at once, each for memberWait at most: a member
		// stopped (SIGSTOP, cut off) takes the call and never answers,
		// and that is when an operator asks.
		addrs := strings.Split(*conn.addr, ",")
		out := make([]memberStatus, len(addrs))
		var wg sync.WaitGroup
		for i, addr := range addrs {
			out[i].Addr = strings.TrimSpace(addr)
			wg.Go(func() {
				st, err := askMember(conn, out[i].Addr)
				if err != nil {
					out[i].Error = err.Error()
				} else {
					out[i].Status = &st
				}
			})
		}
		wg.Wait()
		ok := 0
		for _, m := range out {
			if m.Status != nil {
				ok++
			}
		}
		if *asJSON {
			if err := printJSON(stdout, out); err != nil {
				return err
			}
		} else {
			printMembers(stdout, out)
		}
		if ok == 0 {
			return errors.New("no master answered")
		}
		return nil
	}
}

// askMember reads GET /api/v1/cluster of the master at addr.
func askMember(conn *connFlags, addr string) (drovercluster.Status, error) {
	lc, err := memberClient(conn, addr)
	if err != nil {
		return drovercluster.Status{}, err
	}
	c, cancel := context.WithTimeout(context.Background(), memberWait)
	defer cancel()
	var st drovercluster.Status
	err = lc.exchange(c, http.MethodGet, master.APIPrefix+"cluster", nil, 1<<20, &st)
	return st, err
}

// memberWait bounds how long drover cluster status waits for one master.
const memberWait = 5 * time.Second

// printMembers prints one line per master asked, then the group as the
// leader knows it (or, when no leader answered, the first that did: a
// member removed from the group keeps its last view).
func printMembers(w io.Writer, out []memberStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDR\tID\tSTATE\tLEADER\tTERM\tAPPLIED\tCOMMIT\tLAST_LOG")
	var group []drovercluster.Member
	for _, m := range out {
		if m.Status == nil {
			fmt.Fprintf(tw, "%s\t-\tunreachable\t-\t-\t-\t-\t-\t(%s)\n", safeLine(m.Addr), safeLine(m.Error))
			continue
		}
		s := m.Status
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", safeLine(m.Addr), safeLine(s.ID), safeLine(s.State), safeLine(dash(s.Leader)),
			s.Term, s.Applied, s.Commit, s.LastLog)
		if group == nil || s.State == "Leader" {
			group = s.Members
		}
	}
	tw.Flush()
	if group != nil {
		fmt.Fprintln(w, "\nmembers:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRAFT\tRPC")
		for _, m := range group {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", safeLine(m.ID), safeLine(m.Raft), safeLine(dash(m.RPC)))
		}
		tw.Flush()
	}
}

// clusterAddCmd adds a member that started with join = true.
func clusterAddCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	id := fs.String("id", "", "the new member's `id`")
	raftAddr := fs.String("raft", "", "its raft `host:port`")
	rpc := fs.String("rpc", "", "its RPC `host:port` (its listen address as workers reach it)")
	asJSON := fs.Bool("json", false, "print the group's status as JSON")
	return func(pos []string, stdout io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		body := map[string]string{"id": *id, "raft": *raftAddr, "rpc": *rpc}
		return changeMembers(conn, master.APIPrefix+"cluster/members", body, *asJSON, stdout)
	}
}

// clusterRemoveCmd removes a member.
func clusterRemoveCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	id := fs.String("id", "", "the `id` of the member to remove")
	asJSON := fs.Bool("json", false, "print the group's status as JSON")
	return func(pos []string, stdout io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		if *id == "" {
			return usageError(errors.New("--id is required"))
		}
		return changeMembers(conn, master.APIPrefix+"cluster/members/"+url.PathEscape(*id)+"/remove", nil, *asJSON, stdout)
	}
}

// changeMembers posts a membership change to the leader: to each master
// of --master in turn while they answer that they do not lead (a
// standby's 503), and prints the group as the leader has it after.
func changeMembers(conn *connFlags, path string, body any, asJSON bool, stdout io.Writer) error {
	var err error
	for _, addr := range strings.Split(*conn.addr, ",") {
		a := strings.TrimSpace(addr)
		var lc *logClient
		if lc, err = memberClient(conn, a); err != nil {
			return err
		}
		c, cancel := ctx()
		var st drovercluster.Status
		err = lc.post(c, path, body, &st)
		cancel()
		if err == nil {
			if asJSON {
				return printJSON(stdout, st)
			}
			printMembers(stdout, []memberStatus{{Addr: a, Status: &st}})
			return nil
		}
		if !errors.Is(err, rpcapi.ErrUnavailable) {
			return err // the leader refused it
		}
	}
	return err
}

// memberClient is a JSON API client of the one master at addr, with
// conn's token and TLS (a --master list names several).
func memberClient(conn *connFlags, addr string) (*logClient, error) {
	one := *conn
	one.addr = &addr
	return newLogClient(&one)
}
