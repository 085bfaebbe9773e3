//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package worker

import "os"

// holdDir holds nothing here: without flock, a result directory a killed
// worker left stays (see sweepResultDirs).
func holdDir(string) (*os.File, error) { return nil, nil }

// removeUnheld removes nothing: without flock, a directory in use cannot
// be told from one left behind.
func removeUnheld(string) bool { return false }

// holdLog does nothing here: without flock, workers that share a log_dir
// may remove each other's running attempts' logs.
func holdLog(*os.File) {}

// logHeld reports false: see holdLog.
func logHeld(string) bool { return false }
