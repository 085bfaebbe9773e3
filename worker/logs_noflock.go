//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package worker

import "os"

// holdLog does nothing here: without flock, workers that share a log_dir
// may remove each other's running attempts' logs.
func holdLog(*os.File) {}

// logHeld reports false: see holdLog.
func logHeld(string) bool { return false }
