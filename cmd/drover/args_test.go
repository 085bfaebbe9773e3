package main

import (
	"io"
	"strings"
	"testing"
)

// TestClientCommandArgs: a client command given the wrong arguments says
// what it wants and does not dial the master (DROVER_MASTER points at a
// port where nothing listens: a dial would fail with another error).
func TestClientCommandArgs(t *testing.T) {
	t.Setenv("DROVER_MASTER", "127.0.0.1:1")
	for _, tc := range []struct {
		run  func([]string, io.Writer) error
		args []string
		want string
	}{
		{runJob, nil, "want one job ID"},
		{runJob, []string{"1", "2"}, "want one job ID"},
		{runGroup, nil, "want one group name"},
		{runGroup, []string{"a", "b", "--json"}, "want one group name"},
		{runCancel, nil, "want job IDs or --group"},
		{runCancel, []string{"--json"}, "want job IDs or --group"},
		{runWait, nil, "want job IDs or --group"},
		{runJobs, []string{"--limit", "1001"}, "--limit 1001: want 1 to"},
		{runWorkers, []string{"--limit", "-1"}, "--limit -1: want 1 to"},
	} {
		err := tc.run(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
}
