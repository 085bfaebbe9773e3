//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package worker

import (
	"errors"
	"os"
	"syscall"
)

// holdDir takes a shared lock on the directory at path and returns it
// open; the lock goes with its close (or the process's end). It fails if
// the directory is gone, or is not the one at path any more, or a sweep
// holds it: a sweep may have taken it between its making and this lock.
func holdDir(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
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
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false // a running attempt's, or another sweep's
	}
	return os.RemoveAll(path) == nil
}
