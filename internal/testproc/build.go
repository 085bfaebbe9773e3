package testproc

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// DroverPkg is the import path of the drover command.
const DroverPkg = "github.com/drover/drover/cmd/drover"

// builds holds the binaries of this test binary run.
var builds struct {
	mu   sync.Mutex
	main bool               // Main is running the tests
	dir  string             // where the binaries go; removed by Main
	bins map[string]*binary // by package
}

type binary struct {
	once sync.Once
	path string
	err  error
}

// Main runs the tests of m (a *testing.M) and removes the binaries Build
// made, then returns m.Run's exit code. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }
func Main(m interface{ Run() int }) int {
	builds.mu.Lock()
	builds.main = true
	builds.mu.Unlock()
	code := m.Run()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
		builds.dir, builds.bins = "", nil
	}
	return code
}

// Drover returns the path of the drover binary, built by the first call in
// this test binary run (see Build).
func Drover(tb TB) string {
	tb.Helper()
	return Build(tb, DroverPkg)
}

// Build builds the main package pkg (an import path, or a path relative to
// the test's package directory) with go build, with -race when the test
// binary has it (Race), and returns the binary's path. The first call for
// pkg builds it; later calls, from any test, return the same binary, or
// fail the same way. The test fails if the build does, or if the test
// binary's TestMain does not run through Main, which removes the binaries.
func Build(tb TB, pkg string) string {
	tb.Helper()
	builds.mu.Lock()
	if !builds.main {
		builds.mu.Unlock()
		tb.Fatalf("testproc: Build(%q) needs TestMain to call testproc.Main, which removes the binaries", pkg)
		return ""
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "drover-testproc-")
		if err != nil {
			builds.mu.Unlock()
			tb.Fatalf("testproc: %v", err)
			return ""
		}
		builds.dir, builds.bins = dir, map[string]*binary{}
	}
	b := builds.bins[pkg]
	if b == nil {
		// A directory per package: two packages may share a base name.
		b = &binary{path: filepath.Join(builds.dir, fmt.Sprint(len(builds.bins)), path.Base(filepath.ToSlash(pkg)))}
		builds.bins[pkg] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() { b.err = goBuild(b.path, pkg) })
	if b.err != nil {
		tb.Fatalf("testproc: %v", b.err)
	}
	return b.path
}

func goBuild(bin, pkg string) error {
	args := []string{"build", "-o", bin}
	if Race {
		args = append(args, "-race")
	}
	args = append(args, pkg)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
