package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestListingsNewestFirst: drover jobs, workers and groups list the newest
// first, --reverse the oldest first (so jobs --limit 3 is the newest
// three); a long flag written with one dash, as Go's flag package took
// it, still works; drover top --json prints one JSON object a refresh, one
// a line; status and top list the latest registered worker first. The
// master runs in process, on loopback.
func TestListingsNewestFirst(t *testing.T) {
	c := drovertest.Start(t, drovertest.Options{Workers: -1,
		HeartbeatInterval: 100 * time.Millisecond, DeadAfter: 30 * time.Second})
	addr, mc := c.Addr(), c.Client()
	for i := range 5 {
		c.Submit(jobs.Spec{Type: "t", Group: fmt.Sprint("g", i%3+1)}) // g1 g2 g3 g1 g2
	}
	var wids []string
	for i := range 3 {
		r, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: fmt.Sprint("p", i), Types: []string{"t"}, Slots: 1, Mode: rpcapi.ModePull})
		if err != nil {
			t.Fatal(err)
		}
		wids = append(wids, r.WorkerID)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"jobs", "--limit", "3"}, pgCount(5, 3)},
		{[]string{"jobs", "--limit", "3", "--reverse", "--json"}, pgCount(1, 3)},
		{[]string{"jobs", "-limit", "3", "-json"}, pgCount(5, 3)},
		{[]string{"jobs", "-limit=2", "-reverse"}, pgCount(1, 2)},
		{[]string{"workers", "--json"}, []string{wids[2], wids[1], wids[0]}},
		{[]string{"workers", "--reverse"}, wids},
	} {
		out, errOut, code := pgRun(t, addr, tc.args...)
		if got := pgIDs(t, out, slices.Contains(tc.args, "--json") || slices.Contains(tc.args, "-json")); code != 0 || !slices.Equal(got, tc.want) {
			t.Errorf("drover %v: exit %d, %v, stderr %q; want %v", tc.args, code, got, errOut, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"groups", "--json"}, []string{"g3", "g2", "g1"}}, // by each group's first job
		{[]string{"groups", "--json", "--reverse"}, []string{"g1", "g2", "g3"}},
	} {
		out, errOut, code := pgRun(t, addr, tc.args...)
		var gs []rpcapi.GroupInfo
		if err := json.Unmarshal([]byte(out), &gs); err != nil || code != 0 {
			t.Fatalf("drover %v: exit %d, %v: %q %q", tc.args, code, err, out, errOut)
		}
		var names []string
		for _, g := range gs {
			names = append(names, g.Name)
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("drover %v: %v, want %v", tc.args, names, tc.want)
		}
	}
	if out, _, _ := pgRun(t, addr, "groups"); !strings.HasPrefix(out, "GROUP ") || !strings.Contains(out, "g1 ") {
		t.Errorf("drover groups:\n%s", out)
	}

	out, errOut, code := pgRun(t, addr, "top", "--json", "--count", "2", "--interval", "100ms")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("drover top --json --count 2: exit %d, %d lines: %q %q", code, len(lines), out, errOut)
	}
	for _, l := range lines {
		var v struct {
			Counts  map[jobs.State]int  `json:"counts"`
			Alive   *int                `json:"workers_alive"`
			Workers []rpcapi.WorkerInfo `json:"workers"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil || totalCount(v.Counts) != 5 || v.Alive == nil || *v.Alive != 3 ||
			!slices.Equal(workerIDs(v.Workers), []string{wids[2], wids[1], wids[0]}) {
			t.Errorf("a line of drover top --json: %v: %s", err, l)
		}
	}
	var st struct{ Workers []rpcapi.WorkerInfo }
	out, _, _ = pgRun(t, addr, "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || !slices.Equal(workerIDs(st.Workers), []string{wids[2], wids[1], wids[0]}) {
		t.Errorf("drover status --json: workers %v (%v), want the latest registered first", workerIDs(st.Workers), err)
	}
}

func workerIDs(ws []rpcapi.WorkerInfo) []string {
	var ids []string
	for _, w := range ws {
		ids = append(ids, w.ID)
	}
	return ids
}
