package chaos

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
)

// retries is every chaos job's retry budget: enough that the lost
// attempts a scenario causes never use it up.
const retries = 10

// scaled returns n, or n/div under the race detector (for the in-process
// scenarios, whose code all runs under it).
func scaled(n, div int) int {
	if testproc.Race {
		return n / div
	}
	return n
}

// tally is the result of one scenario.
type tally struct {
	submitted  int
	executed   int // lines in the run log
	duplicates int // executions beyond the first of a job
	recorded   int // succeeded with exactly one ok attempt
	lost       int // submitted but not recorded
}

// verify checks a scenario's batch: every acknowledged job (ids) ran at
// least once (per the run log at ranLog) and is recorded succeeded with
// exactly one ok attempt (per all, the master's jobs), and the master has
// no job it did not acknowledge. It logs and prints the summary line.
func verify(t *testing.T, scenario string, ids []string, all []jobs.Job, ranLog string) tally {
	t.Helper()
	ran := map[string]int{}
	var x tally
	f, err := os.Open(ranLog)
	if err != nil {
		t.Fatalf("run log: %v", err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, _, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			t.Errorf("run log: bad line %q", sc.Text())
			continue
		}
		ran[id]++
		x.executed++
	}
	f.Close()
	if err := sc.Err(); err != nil {
		t.Fatalf("run log: %v", err)
	}
	x.duplicates = x.executed - len(ran)

	byID := make(map[string]*jobs.Job, len(all))
	for i := range all {
		byID[all[i].ID] = &all[i]
	}
	acked := make(map[string]bool, len(ids))
	x.submitted = len(ids)
	var bad []string
	for _, id := range ids {
		acked[id] = true
		j := byID[id]
		oks := 0
		if j != nil {
			for _, a := range j.Attempts {
				if a.Outcome == jobs.OK {
					oks++
				}
			}
		}
		switch {
		case j == nil:
			bad = append(bad, id+": missing (acknowledged, then lost)")
		case j.State != jobs.Succeeded || oks != 1:
			bad = append(bad, fmt.Sprintf("%s: %s with %d ok attempts: %s", id, j.State, oks, attempts(j)))
		default:
			x.recorded++
		}
		if ran[id] == 0 {
			t.Errorf("job %s never ran", id)
		}
	}
	x.lost = x.submitted - x.recorded
	var phantoms []string
	for _, j := range all {
		if !acked[j.ID] {
			phantoms = append(phantoms, fmt.Sprintf("%s (%s, %d attempts)", j.ID, j.State, len(j.Attempts)))
		}
	}
	if len(phantoms) > 0 {
		t.Errorf("%d jobs exist that no submit acknowledged: %s", len(phantoms), strings.Join(phantoms[:min(len(phantoms), 10)], ", "))
	}
	for id := range ran {
		if !acked[id] {
			t.Errorf("job %s ran but no submit acknowledged it", id)
		}
	}
	for i, b := range bad {
		if i == 20 {
			t.Errorf("... and %d more", len(bad)-20)
			break
		}
		t.Errorf("lost outcome: %s", b)
	}
	line := fmt.Sprintf("scenario=%s submitted=%d executed=%d (duplicates %d) recorded=%d lost_outcomes=%d",
		scenario, x.submitted, x.executed, x.duplicates, x.recorded, x.lost)
	t.Log(line)
	fmt.Println(line)
	if x.recorded != x.submitted || x.lost != 0 {
		t.Errorf("recorded %d of %d jobs; lost outcomes %d, want 0", x.recorded, x.submitted, x.lost)
	}
	return x
}

func attempts(j *jobs.Job) string {
	var b strings.Builder
	for _, a := range j.Attempts {
		fmt.Fprintf(&b, "[%d %s on %s: %s] ", a.N, a.Outcome, a.Worker, a.Error)
	}
	return b.String()
}

// runLog is the file Go handler jobs append "ID ATTEMPT" lines to.
type runLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func newRunLog(t *testing.T, path string) *runLog {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &runLog{path: path, f: f}
}

func (l *runLog) append(j *jobs.Job) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := fmt.Fprintf(l.f, "%s %d\n", j.ID, j.Attempt)
	return err
}

// appendHandler returns a Go handler that appends to l, then takes d.
func appendHandler(l *runLog, d time.Duration) func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	return func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		if err := l.append(j); err != nil {
			return jobs.Result{}, err
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return jobs.Result{}, ctx.Err()
		}
		return jobs.Result{}, nil
	}
}
