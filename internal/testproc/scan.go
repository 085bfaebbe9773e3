package testproc

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// JobProcs returns the PIDs of the processes whose environment names the
// master at addr (DROVER_MASTER=addr): the subprocesses of its jobs, which
// a worker starts with that variable. A test that ran jobs polls until it
// is empty, so that no job process outlives it.
func JobProcs(addr string) []int {
	return WithEnv("DROVER_MASTER=" + addr)
}

// WithEnv returns the PIDs of the processes (of this user: the others'
// environments cannot be read) whose environment holds kv, KEY=VALUE.
func WithEnv(kv string) []int {
	want := []byte(kv)
	return scan("environ", func(env []byte) bool {
		for v := range bytes.SplitSeq(env, []byte{0}) {
			if bytes.Equal(v, want) {
				return true
			}
		}
		return false
	})
}

// Group returns the PIDs of the processes in process group pgid.
func Group(pgid int) []int {
	want := strconv.Itoa(pgid)
	return scan("stat", func(stat []byte) bool {
		// Fields after the command (which is in parentheses): state ppid pgrp.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 > len(stat) {
			return false
		}
		f := strings.Fields(string(stat[i+2:]))
		return len(f) > 2 && f[2] == want
	})
}

// scan returns the PIDs whose /proc/PID/file match accepts.
func scan(file string, match func([]byte) bool) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), file))
		if err == nil && match(data) {
			pids = append(pids, pid)
		}
	}
	return pids
}
