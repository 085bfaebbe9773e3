//go:build unix && !linux

package worker

import (
	"errors"
	"syscall"
)

// sysProcAttr puts a job's process in its own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// waitExited is not available here: runCommand SIGKILLs the group after
// Wait instead, which is racy only if the pgid is reused at once.
func waitExited(pid int) error {
	return errors.New("worker: waitid with WNOWAIT is not supported")
}
