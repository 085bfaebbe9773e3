//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package worker

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSweepAgainstAttempts: sweeps running beside attempts that make,
// write and collect their result files never take a file from an attempt
// (it reads back what it wrote), and remove every directory no attempt
// holds: one left as a killed worker leaves it, and, at the end, none of
// the attempts'.
func TestSweepAgainstAttempts(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	left, err := os.MkdirTemp(tmp, resultDirPrefix) // a killed worker's
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(left, "result"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var swept atomic.Int64
	var sweeps sync.WaitGroup
	for range 2 {
		sweeps.Go(func() {
			for !stop.Load() {
				n, err := sweepResultDirs(tmp)
				if err != nil {
					t.Error(err)
					return
				}
				swept.Add(int64(n))
			}
		})
	}
	var attempts sync.WaitGroup
	for a := range 4 {
		attempts.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(a), 7))
			for i := range 300 {
				rf, err := newResultFile()
				if err != nil {
					t.Errorf("attempt %d.%d: %v", a, i, err)
					return
				}
				want := string(rune('a' + rng.IntN(26)))
				if err := os.WriteFile(rf.path, []byte(want), 0o600); err != nil {
					t.Errorf("attempt %d.%d: its result file went: %v", a, i, err)
					rf.remove()
					return
				}
				got, err := rf.collect(16)
				if err != nil || got != want {
					t.Errorf("attempt %d.%d: collected %q, %v; want %q", a, i, got, err, want)
					return
				}
			}
		})
	}
	attempts.Wait()
	stop.Store(true)
	sweeps.Wait()
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("the left directory %s: %v; want it swept", left, err)
	}
	if swept.Load() < 1 {
		t.Errorf("sweeps removed %d directories; want the left one at least", swept.Load())
	}
	rest, _ := filepath.Glob(filepath.Join(tmp, resultDirPrefix+"*"))
	if len(rest) > 0 {
		t.Errorf("left after every attempt was collected: %v", rest)
	}
}
