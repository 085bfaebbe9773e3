//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package worker

// Locks that tell a running attempt's files from those left behind: an
// attempt holds its result directory and its stdout log under a shared
// flock until it ends (or its process does, killed or not); a sweep or a
// prune takes a file only under an exclusive one, which it cannot get
// while an attempt holds it. flock_other.go: systems without flock.

import (
	"errors"
	"os"
	"syscall"
)

// lockShared and lockExclusive take a lock on f without waiting; the
// lock goes with f's close, or its process's end.
func lockShared(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) }
func lockExclusive(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// holdDir takes a shared lock on the directory at path and returns it
// open; the lock goes with its close (or the process's end). It fails if
// the directory is gone, or is not the one at path any more, or a sweep
// holds it: a sweep may have taken it between its making and this lock.
func holdDir(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := lockShared(f); err != nil {
		f.Close()
		return nil, err
	}
	held, err1 := f.Stat()
	now, err2 := os.Stat(path)
	if err := errors.Join(err1, err2); err != nil || !os.SameFile(held, now) {
		f.Close()
		return nil, errors.Join(errors.New("removed by a sweep"), err)
	}
	return f, nil
}

// removeUnheld removes the directory at path if it is one of this user's
// (not a link to one) and no process holds it (holdDir), and reports
// whether it did. It holds the directory under an exclusive lock while it
// removes it, so that no attempt takes it then.
func removeUnheld(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return false
	}
	if st, ok := info.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return false // another user's: theirs to remove
	}
	if lockExclusive(f) != nil {
		return false // a running attempt's, or another sweep's
	}
	return os.RemoveAll(path) == nil
}

// holdLog takes a shared lock on f, a running attempt's stdout file: a
// worker pruning a log directory it shares leaves that attempt's log.
// The lock goes with the file's close (or the process's end).
func holdLog(f *os.File) {
	if f != nil {
		lockShared(f)
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
	return errors.Is(lockExclusive(f), syscall.EWOULDBLOCK)
}
