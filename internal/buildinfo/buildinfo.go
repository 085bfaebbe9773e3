// Package buildinfo reads what the running binary was built from: the
// drover module's version, the VCS commit and the Go version, as "drover
// version", the master's status and its drover_build_info metric show them.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/drover/drover/rpcapi"
)

// Module is the drover module's path.
const Module = "github.com/drover/drover"

// Get returns the build of the running binary. Version is the drover
// module's version ("(devel)" for a build inside its own source tree
// without a tag; "unknown" without build information); Commit is the VCS
// revision, with "+dirty" when the tree had changes, or "unknown" when the
// build did not record it (go build -buildvcs=false, go run of a package
// outside a repository).
func Get() rpcapi.BuildInfo { return get() }

var get = sync.OnceValue(func() rpcapi.BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	return fromBuild(bi, ok)
})

// fromBuild is Get for the build information bi (ok false: none).
func fromBuild(bi *debug.BuildInfo, ok bool) rpcapi.BuildInfo {
	b := rpcapi.BuildInfo{Version: "unknown", Commit: "unknown", GoVersion: runtime.Version()}
	if !ok {
		return b
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	mod := &bi.Main
	if mod.Path != Module {
		// A program that imports drover (an embedding, a test binary):
		// drover's version is that of the dependency.
		for _, d := range bi.Deps {
			if d.Path == Module {
				mod = d
				break
			}
		}
	}
	if mod.Path == Module && mod.Version != "" {
		b.Version = mod.Version
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		b.Commit = rev
		if dirty {
			b.Commit += "+dirty"
		}
	}
	return b
}
