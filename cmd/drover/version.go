package main

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/drover/drover/internal/buildinfo"
	"github.com/drover/drover/rpcapi"
)

// versionLine shows b in one line: "version v1.2.0, commit
// 1d2c6f0+dirty, go1.26.8"; of a master too old to say, "version
// unknown".
func versionLine(b rpcapi.BuildInfo) string {
	if b == (rpcapi.BuildInfo{}) {
		return "version unknown"
	}
	return fmt.Sprintf("version %s, commit %s, %s", b.Version, b.Commit, b.GoVersion)
}

// versionCmd prints what drover was built from.
func versionCmd(fs *pflag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, `print {"version", "commit", "go_version"}`)
	return func(pos []string, stdout io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, buildinfo.Get())
		}
		_, err := fmt.Fprintf(stdout, "drover %s\n", versionLine(buildinfo.Get()))
		return err
	}
}
