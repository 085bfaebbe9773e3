package main

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// purgeCmd deletes finished jobs now (purge_jobs): those that match every
// filter given, or every finished one with --all.
func purgeCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	state := fs.String("state", "", "only jobs in this `state`: succeeded, failed or cancelled")
	typ := fs.String("type", "", "only jobs of this `type`")
	group := fs.String("group", "", "only jobs of this `group`")
	olderThan := fs.Duration("older-than", 0, "only jobs that finished more than this long ago (e.g. 24h)")
	all := fs.Bool("all", false, "every finished job (no other filter)")
	asJSON := fs.Bool("json", false, `print {"purged": N}`)
	return func(pos []string, stdout io.Writer) error {
		filtered := *state != "" || *typ != "" || *group != "" || *olderThan != 0
		switch {
		case len(pos) > 0:
			return usagef("takes no arguments, got %q (filter with --state, --type, --group, --older-than)", pos)
		case *olderThan < 0:
			return usagef("--older-than %s: want 0 or more", *olderThan)
		case *all && filtered:
			return usagef("--all takes no --state, --type, --group or --older-than")
		case !*all && !filtered:
			return usagef("needs a filter: --state, --type, --group or --older-than (or --all for every finished job)")
		}
		r, err := fetchArg(conn, rpcapi.MasterClient.Purge, &rpcapi.PurgeArgs{State: jobs.State(*state), Type: *typ, Group: *group, OlderThan: *olderThan, All: *all})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, map[string]int{"purged": r.Purged})
		}
		fmt.Fprintf(stdout, "purged %d jobs\n", r.Purged)
		return nil
	}
}
