package bench

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// hostBusy returns the machine's busy CPU time so far (all CPUs, everything
// but idle and iowait), from /proc/stat.
func hostBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 || i >= 7 { // idle, iowait; guest time is already in user
			continue
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clkTck
}

// procStats is what /proc says about a process.
type procStats struct {
	CPU     time.Duration // utime + stime
	RSS     int64         // VmRSS, bytes
	HWM     int64         // VmHWM (peak RSS), bytes
	RSSAnon int64         // RssAnon: heap and stacks
	RSSFile int64         // RssFile: mapped files (bbolt's mmap), binary
}

// clkTck is USER_HZ, the unit of utime and stime in /proc/PID/stat; it is
// 100 on every Linux ABI Go supports.
const clkTck = 100

// readProc reads a process's CPU time and memory from /proc.
func readProc(pid int) (procStats, error) {
	var s procStats
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, err
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return s, errors.New("bench: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return s, errors.New("bench: short /proc stat")
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return s, err
	}
	s.CPU = time.Duration(ut+st) * time.Second / clkTck
	err = readProcInts(pid, "status", 1<<10, map[string]*int64{
		"VmRSS": &s.RSS, "VmHWM": &s.HWM, "RssAnon": &s.RSSAnon, "RssFile": &s.RSSFile,
	})
	return s, err
}

// procIO is what /proc/PID/io says a process wrote.
type procIO struct {
	Written int64 // wchar: bytes passed to write calls (files and sockets)
	Disk    int64 // write_bytes: bytes it caused to be sent to storage
}

// readIO reads a process's write counters from /proc.
func readIO(pid int) (procIO, error) {
	var s procIO
	err := readProcInts(pid, "io", 1, map[string]*int64{"wchar": &s.Written, "write_bytes": &s.Disk})
	return s, err
}

// readProcInts reads /proc/PID/name, a file of "key: value" lines, and
// sets *dst[key] to the value of each key of dst it holds times unit (a
// value's " kB" is dropped: unit says what it counts).
func readProcInts(pid int, name string, unit int64, dst map[string]*int64) error {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + name)
	if err != nil {
		return err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		p := dst[k]
		if !ok || p == nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return fmt.Errorf("bench: /proc %s %s: %w", name, k, err)
		}
		*p = n * unit
	}
	return nil
}
