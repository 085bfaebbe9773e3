//go:build linux

package worker

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/drover/drover/internal/watchdog"
)

// BenchmarkCommandJob measures one command job of a program that does
// nothing (true), with its processes watched (a mark, and End to the
// watchdog, which scans /proc for what the job left) and without: the
// cost of the watchdog per job. wd-cpu-ms/op is the watchdog's own CPU
// time per job (its batched scans), which the job does not wait for.
func BenchmarkCommandJob(b *testing.B) {
	for _, watched := range []bool{false, true} {
		name := map[bool]string{false: "group-only", true: "watched"}[watched]
		b.Run(name, func(b *testing.B) {
			w := &Worker{cfg: Config{}}
			if watched {
				wd, err := watchdog.Start("bench", time.Second)
				if err != nil {
					b.Fatal(err)
				}
				defer wd.Close()
				w.wd = wd
			}
			for b.Loop() {
				var procs jobProcs
				env := []string{}
				if w.wd != nil {
					mark, seq := w.wd.Mark()
					env = append(env, watchdog.MarkEnv+"="+mark)
					procs = watchedJob{w, seq}
				}
				if _, err := runCommandTo(b.Context(), Command{Argv: []string{"true"}}, nil, env, "", 0, time.Second, nil, nil, nil, procs); err != nil {
					b.Fatal(err)
				}
			}
			if w.wd != nil {
				time.Sleep(2 * watchdog.ScanGap) // the last batch
				b.ReportMetric(cpuMillis(w.wd.Pid())/float64(b.N), "wd-cpu-ms/op")
			}
		})
	}
}

// cpuMillis returns the CPU time process pid has used, in milliseconds.
func cpuMillis(pid int) float64 {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
	utime, _ := strconv.ParseFloat(string(f[11]), 64)
	stime, _ := strconv.ParseFloat(string(f[12]), 64)
	return (utime + stime) * 10 // clock ticks of 10 ms (USER_HZ 100)
}
