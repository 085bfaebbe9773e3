package bench

import (
	"fmt"
	"os"
	"time"

	"github.com/drover/drover/jobs"
)

// commitSamples is how many commits commitP50 times.
const commitSamples = 200

// commitP50 returns the p50, in µs, of one commit of the bolt store on
// this machine: a single record of 300 bytes saved (appended to the log
// and synced) to a fresh store in a directory beside the master's, on the
// same file system. It is the "one fsync" of a lone job's latency with
// bolt.
func commitP50() (float64, error) {
	dir, err := os.MkdirTemp("", "drover-bench-commit-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	st, err := jobs.OpenBolt(dir)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	data := make([]byte, 300)
	took := make([]time.Duration, 0, commitSamples)
	for i := range commitSamples {
		t0 := time.Now()
		if err := st.Save([]jobs.Record{{Seq: uint64(i + 1), Data: data}}); err != nil {
			return 0, fmt.Errorf("bench: commit probe: %w", err)
		}
		took = append(took, time.Since(t0))
	}
	return micros(percentile(took, 0.50)), nil
}

// latencyTarget sets e's latency target: 3 x the round trip to another
// process, plus one commit with bolt (commitUS, 0 with the memory store),
// and the latency p50 over it.
func (e *E2E) latencyTarget(commitUS float64) {
	e.CommitP50us = commitUS
	e.LatencyTargetUS = 3*e.RPCProcP50us + commitUS
	if e.LatencyTargetUS > 0 {
		e.LatencyPerTarget = e.LatencyP50us / e.LatencyTargetUS
	}
}
