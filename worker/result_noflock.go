//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package worker

import "os"

// holdDir holds nothing here: without flock, a result directory a killed
// worker left stays (see sweepResultDirs).
func holdDir(string) (*os.File, error) { return nil, nil }

// removeUnheld removes nothing: without flock, a directory in use cannot
// be told from one left behind.
func removeUnheld(string) bool { return false }
