package bench

import (
	"fmt"
	"os"
	"time"

	"github.com/drover/drover/jobs"
)

// commitSamples is how many commits commitP50s times in each series.
const commitSamples = 200

// commitP50s returns the p50s, in µs, of one commit of the bolt store on
// this machine: a single record of 300 bytes saved (appended to the log
// and synced) to a fresh store in a directory beside the master's, on the
// same file system. hot times commits made one after another; idle times
// commits each made after the process slept (idlePause of latencyUS, the
// lone job's latency p50), as a lone job's commit comes after the rest of
// its path. On a virtual disk a sync after an idle pause can take much
// longer (BENCHMARKS.md: 150-210 µs against 95-130 µs hot): the idle one
// is the "one fsync" a lone job pays with bolt.
func commitP50s(latencyUS float64) (hot, idle float64, err error) {
	dir, err := os.MkdirTemp("", "drover-bench-commit-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	st, err := jobs.OpenBolt(dir)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	data := make([]byte, 300)
	seq := uint64(0)
	series := func(pause time.Duration) (float64, error) {
		took := make([]time.Duration, 0, commitSamples)
		for range commitSamples {
			if pause > 0 {
				time.Sleep(pause)
			}
			seq++
			t0 := time.Now()
			if err := st.Save([]jobs.Record{{Seq: seq, Data: data}}); err != nil {
				return 0, fmt.Errorf("bench: commit probe: %w", err)
			}
			took = append(took, time.Since(t0))
		}
		return micros(percentile(took, 0.50)), nil
	}
	if hot, err = series(0); err != nil {
		return 0, 0, err
	}
	idle, err = series(idlePause(latencyUS, hot))
	return hot, idle, err
}

// idlePause is how long the commit probe sleeps before each of its idle
// commits: the time between two lone jobs' commits, the latency p50 less
// a hot commit, and at least 100 µs.
func idlePause(latencyUS, hotUS float64) time.Duration {
	return max(time.Duration((latencyUS-hotUS)*float64(time.Microsecond)), 100*time.Microsecond)
}

// latencyTarget sets e's latency target: 3 x the round trip to another
// process, plus one commit after an idle pause with bolt (idleUS; hotUS is
// one made straight after another; both 0 with the memory store), and the
// latency p50 over it.
func (e *E2E) latencyTarget(hotUS, idleUS float64) {
	e.CommitP50us, e.CommitIdleP50us = hotUS, idleUS
	e.LatencyTargetUS = 3*e.RPCProcP50us + idleUS
	if e.LatencyTargetUS > 0 {
		e.LatencyPerTarget = e.LatencyP50us / e.LatencyTargetUS
	}
}
