package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/drover/drover/rpcapi"
)

// TestFromBuild: the module's version (the main module's, or the
// dependency's in a program that imports drover), the commit with +dirty
// for a modified tree, and "unknown" for what the build did not record.
func TestFromBuild(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want rpcapi.BuildInfo
	}{
		{"main module, dirty tree", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Path: Module, Version: "v1.2.3"}, Settings: vcs},
			rpcapi.BuildInfo{Version: "v1.2.3", Commit: "abc123+dirty", GoVersion: "go1.99"}},
		{"clean tree", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Path: Module, Version: "(devel)"}, Settings: vcs[:2]},
			rpcapi.BuildInfo{Version: "(devel)", Commit: "abc123", GoVersion: "go1.99"}},
		{"a dependency", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Path: "example.com/app", Version: "v9.0.0"},
			Deps: []*debug.Module{{Path: "example.com/other", Version: "v1.0.0"}, {Path: Module, Version: "v0.4.0"}}},
			rpcapi.BuildInfo{Version: "v0.4.0", Commit: "unknown", GoVersion: "go1.99"}},
	} {
		if got := fromBuild(tc.bi, true); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if got := fromBuild(nil, false); got != (rpcapi.BuildInfo{Version: "unknown", Commit: "unknown", GoVersion: runtime.Version()}) {
		t.Errorf("no build information: %+v", got)
	}
}
