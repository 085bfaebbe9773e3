// Package testproc is the one way drover's tests start real processes:
// it builds the drover binary once per test binary run, starts processes
// with their output captured, reads the master's "master listening" line,
// stops or kills them with signals, kills whatever a test left running at
// its cleanup, scans /proc for leftover job processes, and polls with a
// deadline.
//
// A test package that builds binaries calls Main from its TestMain, so the
// binaries are removed at the end:
//
//	func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }
//
//	func TestMaster(t *testing.T) {
//		m := testproc.Options{Name: "master"}.Start(t, testproc.Drover(t),
//			"master", "--listen", "127.0.0.1:0", "--log-format", "json")
//		addr := m.Addr() // from the "master listening" log line
//		testproc.Poll(t, 10*time.Second, "the master to answer", func() bool { ... })
//		m.Signal(syscall.SIGSTOP) // anything the test does; Kill, Stop, WaitExit
//		testproc.Poll(t, 10*time.Second, "no job process left", func() bool {
//			return len(testproc.JobProcs(addr)) == 0
//		})
//	} // the cleanup kills the master (or, with Options.Grace, stops it)
//
// StartCluster starts a whole drover cluster of processes (a master and
// workers from TOML confs) the same way, for the end-to-end suites.
// Submit, Job, WaitAll, WorkerInfo, Alive and Counts are the calls to a
// master that the suites share, whichever way they run it (drovertest's
// in-process cluster uses them too). HTTPDo sends one HTTP request and
// reads its whole reply, for the tests of a master's HTTP endpoints.
//
// The package does not import package testing: the test-side functions
// take a TB, which *testing.T and *testing.B satisfy, so the drover binary
// itself (bench, behind "drover bench") starts its child processes with
// Launch without linking the testing package in.
package testproc

import "time"

// TB is the part of testing.TB that testproc uses.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Failed() bool
	TempDir() string
}

// StartTimeout is how long Addr waits for the master's listening line.
const StartTimeout = 20 * time.Second
