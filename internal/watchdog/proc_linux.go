//go:build linux

package watchdog

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// StartTime returns the start time of process pid in clock ticks since
// boot (/proc/PID/stat, field 22), and false when there is no such process
// (or it is a zombie: it has ended).
func StartTime(pid int) (uint64, bool) {
	f, ok := statFields(pid)
	if !ok || len(f) < 20 || f[0][0] == 'Z' {
		return 0, false
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	return start, err == nil
}

// statFields returns the fields of /proc/PID/stat after the command
// (state, ppid, pgrp, ...), or false when it cannot be read.
func statFields(pid int) ([][]byte, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	f := bytes.Fields(b[i+1:])
	return f, len(f) > 0
}

// scanner reads the marks of processes from /proc, reusing one buffer.
type scanner struct{ buf []byte }

// marked calls fn with the pid and the mark of every process whose mark
// starts with prefix (of this user's processes: others' environments
// cannot be read), the process's own aside.
func (s *scanner) marked(prefix string, fn func(pid int, mark string)) {
	d, err := os.Open("/proc")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	self := os.Getpid()
	key := []byte(MarkEnv + "=" + prefix)
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == self {
			continue
		}
		env := s.read("/proc/" + name + "/environ")
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if bytes.HasPrefix(kv, key) {
				fn(pid, string(kv[len(MarkEnv)+1:]))
				break
			}
		}
	}
}

// read returns the content of file, in s's buffer (valid until the next
// read); nil when it cannot be read.
func (s *scanner) read(file string) []byte {
	fd, err := syscall.Open(file, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	if s.buf == nil {
		s.buf = make([]byte, 64<<10)
	}
	n := 0
	for {
		if n == len(s.buf) {
			s.buf = append(s.buf, make([]byte, len(s.buf))...)
		}
		k, err := syscall.Read(fd, s.buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || k <= 0 {
			return s.buf[:n]
		}
		n += k
	}
}

// BootNow reads CLOCK_BOOTTIME in nanoseconds, which, unlike the monotonic
// clock Go's timers use, goes on while the machine is suspended.
func BootNow() int64 {
	const clockBoottime = 7
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockBoottime, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return time.Now().UnixNano() // not reached on Linux >= 2.6.39
	}
	return ts.Nano()
}

// bootDeadline converts deadline to CLOCK_BOOTTIME nanoseconds; the zero
// time is 0, no deadline.
func bootDeadline(deadline time.Time) int64 {
	if deadline.IsZero() {
		return 0
	}
	return max(BootNow()+int64(time.Until(deadline)), 1)
}

// lifeOf splits a mark KEY.PID.START.INST.SEQ into its life's prefix
// (KEY.PID.START.INST.), pid and start time, and its job number.
func lifeOf(mark string) (life string, pid int, start, seq uint64, ok bool) {
	f := bytes.Split([]byte(mark), []byte{'.'})
	if len(f) != 5 {
		return "", 0, 0, 0, false
	}
	pid, err1 := strconv.Atoi(string(f[1]))
	start, err2 := strconv.ParseUint(string(f[2]), 10, 64)
	seq, err3 := strconv.ParseUint(string(f[4]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || pid <= 0 {
		return "", 0, 0, 0, false
	}
	return mark[:len(mark)-len(f[4])], pid, start, seq, true
}

// KillDead SIGKILLs every process marked with identity's key whose
// worker life is over (no process has its pid, or one that started at
// another time), and the process groups they are in (so a process of the
// job that dropped the mark but stayed in its group goes too; never the
// caller's own group), and returns how many marked processes it killed.
// The processes of the identity's live workers, and of other identities,
// are left alone.
func KillDead(identity string) int {
	var s scanner
	alive := map[string]bool{}
	groups := map[int]bool{}
	n := 0
	s.marked(IdentityKey(identity)+".", func(pid int, mark string) {
		life, wpid, start, _, ok := lifeOf(mark)
		if !ok {
			return
		}
		live, seen := alive[life]
		if !seen {
			now, ok := StartTime(wpid)
			live = ok && now == start
			alive[life] = live
		}
		if live {
			return
		}
		if g, ok := pgidOf(pid); ok {
			groups[g] = true
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	})
	own := syscall.Getpgrp()
	for g := range groups {
		if g > 1 && g != own {
			_ = syscall.Kill(-g, syscall.SIGKILL)
		}
	}
	return n
}

// pgidOf returns the process group of process pid (/proc/PID/stat,
// field 5).
func pgidOf(pid int) (int, bool) {
	f, ok := statFields(pid)
	if !ok || len(f) < 3 {
		return 0, false
	}
	g, err := strconv.Atoi(string(f[2]))
	return g, err == nil
}
