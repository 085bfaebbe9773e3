package main

import (
	"strings"
	"testing"
)

// TestBenchUsageErrors: a bench setting the bench refuses is a usage
// error (exit 2) saying why, before any process starts; --masters above 1
// applies to the e2e scenario and its bolt store only.
//
// Every case also passes --jobs -1, which the bench refuses after the
// settings under test: should one of them pass, the run still stops
// before it starts processes (this test binary cannot play the bench's
// child processes), and the message tells.
func TestBenchUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--masters", "3", "--scenario", "soak"}, "--masters applies to e2e only, not to soak"},
		{[]string{"--masters", "5", "--scenario", "queue"}, "--masters applies to e2e only, not to queue"},
		{[]string{"--masters", "3", "--store", "memory"}, "want bolt"},
		{[]string{"--masters", "2"}, "masters 2: want 1, 3 or 5"},
		{[]string{"--masters", "-1"}, "masters -1: want 1, 3 or 5"},
		{[]string{"--store", "sql"}, `store "sql"`},
		{nil, "negative count"},
	} {
		args := append([]string{"bench", "--jobs", "-1"}, tc.args...)
		var out, errb strings.Builder
		code := run(args, &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), tc.want) || out.Len() > 0 {
			t.Errorf("drover %s: exit %d, stderr %q, stdout %q; want exit %d saying %q and no report",
				strings.Join(args, " "), code, errb.String(), out.String(), exitUsage, tc.want)
		}
	}
}
