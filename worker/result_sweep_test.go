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

// TestSweepLeavesLinksAndOthers: a sweep removes only real directories of
// the worker's own user: a link named like a result directory, and the
// directory it points to, stay; so does another user's directory.
func TestSweepLeavesLinksAndOthers(t *testing.T) {
	tmp := t.TempDir()
	target := t.TempDir()
	link := filepath.Join(tmp, resultDirPrefix+"link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	keep := []string{link, target}
	if os.Getuid() == 0 {
		theirs := filepath.Join(tmp, resultDirPrefix+"theirs")
		if err := os.Mkdir(theirs, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(theirs, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		keep = append(keep, theirs)
	} else {
		t.Log("not root: another user's directory is not tried")
	}
	mine := filepath.Join(tmp, resultDirPrefix+"mine")
	if err := os.Mkdir(mine, 0o700); err != nil {
		t.Fatal(err)
	}
	n, err := sweepResultDirs(tmp)
	if err != nil || n != 1 {
		t.Errorf("sweep: %d removed, %v; want 1 (the worker's own)", n, err)
	}
	if _, err := os.Lstat(mine); !os.IsNotExist(err) {
		t.Errorf("%s: %v; want it removed", mine, err)
	}
	for _, p := range keep {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v; want it left", p, err)
		}
	}
}
