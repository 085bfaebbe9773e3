package main

import (
	"strings"
	"testing"

	"github.com/drover/drover/jobs"
)

// TestPrintStoreLost: `drover store check` lists the lost jobs, the stale
// ones and the ranges the damage may have held, runs of consecutive IDs
// as ranges, and leaves out what is empty.
func TestPrintStoreLost(t *testing.T) {
	var b strings.Builder
	printStoreLost(&b, jobs.LostJobs{IDs: []uint64{1, 2, 3, 7}, Stale: []uint64{9},
		Ranges: []jobs.IDRange{{From: 20, To: 29}, {From: 31, To: 31}}})
	want := "jobs lost (no version reads): 1..3, 7\n" +
		"jobs kept as they were before a lost update: 9\n" +
		"IDs the damaged parts may have held (none of them kept): 20..29, 31\n"
	if b.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	printStoreLost(&b, jobs.LostJobs{MaybeOlder: []uint64{4}})
	if b.String() != "" {
		t.Errorf("nothing lost, stale or in a range printed %q", b.String())
	}
}
