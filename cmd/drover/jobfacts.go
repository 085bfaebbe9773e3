package main

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/drover/drover/rpcapi"
)

// printRunFacts prints what the worker said about the job's latest runs:
// the timeout it applied and where it came from, and the latest stats (a
// Scrapy crawl's closing stats), one per line, sorted.
func printRunFacts(w io.Writer, d *rpcapi.JobDetail) {
	if d.TimeoutApplied != "" {
		from := "the job's"
		if d.TimeoutFrom == "template" {
			from = "the command template's"
		}
		fmt.Fprintf(w, "\ntimeout applied: %s (%s)\n", safeLine(d.TimeoutApplied), from)
	}
	if len(d.Stats) > 0 {
		fmt.Fprintf(w, "\nstats of attempt %d:\n", d.StatsAttempt)
		for _, k := range slices.Sorted(maps.Keys(d.Stats)) {
			fmt.Fprintf(w, "  %s: %s\n", safeLine(k), safeLine(d.Stats[k]))
		}
	}
}
