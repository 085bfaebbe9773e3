//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package worker

import (
	"errors"
	"os"
	"syscall"
)

// holdLog takes a shared lock on f, a running attempt's stdout file: a
// worker pruning a log directory it shares leaves that attempt's log.
// The lock goes with the file's close (or the process's end).
func holdLog(f *os.File) {
	if f != nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	}
}

// logHeld reports whether a running attempt, of any worker, holds the log
// file at path.
func logHeld(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	return errors.Is(err, syscall.EWOULDBLOCK)
}
