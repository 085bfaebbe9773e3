package master

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// modelJob is what TestApplyModel expects of a job: the state machine of
// docs/protocol.md ("Leases, attempts and fencing") in a few fields.
type modelJob struct {
	state    jobs.State
	attempt  int
	failures int // attempts that ended error, timeout or lost
}

// step applies c to the model and reports whether the master must take it.
func (mj *modelJob) step(c jobChange, retries int) bool {
	live := mj.state == jobs.Running && c.attempt == mj.attempt
	switch c.kind {
	case changeLease:
		if mj.state != jobs.Pending {
			return false
		}
		mj.state, mj.attempt = jobs.Running, mj.attempt+1
	case changeRevoke:
		if !live {
			return false
		}
		mj.state = jobs.Pending
	case changeFinish:
		if !live || !c.report.Outcome.Valid() {
			return false
		}
		switch o := c.report.Outcome; {
		case o == jobs.OK:
			mj.state = jobs.Succeeded
		case o == jobs.OutcomeCanceled:
			mj.state = jobs.Cancelled
		default:
			mj.failures++
			mj.state = jobs.Pending
			if c.report.Permanent || mj.failures > retries {
				mj.state = jobs.Failed
			}
		}
	case changeCancel:
		if mj.state.Final() {
			return false
		}
		mj.state = jobs.Cancelled
	case changeAbandon:
		if mj.state != jobs.Pending {
			return false
		}
		mj.state = jobs.Failed
	case changeAdopt:
		return live
	case changeRetry:
		if mj.state != jobs.Failed && mj.state != jobs.Cancelled {
			return false
		}
		mj.state = jobs.Pending
	case changeSettle:
		if mj.state != jobs.Running {
			return false
		}
		mj.state = jobs.Succeeded
		if c.ok < c.n {
			mj.state = jobs.Failed
		}
	}
	return true
}

// TestApplyModel: seeded random changes, valid and not, applied to a few
// jobs of a master with no workers, against a model of the job's state
// machine. After each: a change the model refuses is refused and changes
// nothing (the job's record and the counts are as before); one it takes
// leaves the job in the model's state and attempt; and the books agree
// with the jobs: counts by state, and a job is queued for dispatch exactly
// when it is pending.
func TestApplyModel(t *testing.T) {
	const njobs, steps, retries = 6, 3000, 1
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	m := startT(t, Config{Store: StoreMemory, Listen: "127.0.0.1:0", Logger: quietLog(),
		RetryBackoff: time.Hour, MaxBackoff: time.Hour})
	specs := make([]jobs.Spec, njobs)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "t", Retries: retries}
	}
	ids, err := m.Submit(context.Background(), specs...)
	if err != nil {
		t.Fatal(err)
	}
	model := make(map[string]*modelJob)
	for _, id := range ids {
		model[id] = &modelJob{state: jobs.Pending}
	}
	outcomes := []jobs.Outcome{jobs.OK, jobs.Error, jobs.Timeout, jobs.Lost, jobs.OutcomeCanceled, "success"}
	now := time.Now()
	for i := range steps {
		id := ids[rng.IntN(njobs)]
		mj := model[id]
		c := jobChange{kind: changeKind(1 + rng.IntN(int(changeSettle))), job: id, at: now.Add(time.Duration(i) * time.Millisecond),
			worker: "w" + string(rune('1'+rng.IntN(3))), attempt: mj.attempt + rng.IntN(3) - 1, why: "test",
			report: jobs.Report{Outcome: outcomes[rng.IntN(len(outcomes))], Permanent: rng.IntN(4) == 0, Error: "e"},
			ok:     rng.IntN(3), n: 2}
		m.core.mu.Lock()
		bad := applyStep(m, c, mj, ids, retries)
		m.core.mu.Unlock()
		if bad != "" {
			t.Fatalf("step %d: %s", i, bad)
		}
	}
	m.core.mu.Lock()
	_, _, err = m.core.apply(jobChange{kind: changeCancel, job: "no-such-job", at: now})
	m.core.mu.Unlock()
	if !errors.Is(err, rpcapi.ErrNotFound) {
		t.Errorf("a change of a job not in memory: %v, want not found", err)
	}
}

// applyStep applies c to m and to the model mj, and says what is wrong
// ("" if nothing). The caller holds m.mu.
func applyStep(m *Master, c jobChange, mj *modelJob, ids []string, retries int) string {
	j := m.core.job(c.job)
	rec, counts := j.AppendRecord(nil), m.core.counts
	want := *mj
	takes := want.step(c, retries)
	_, b, err := m.core.apply(c)
	switch {
	case takes && err != nil:
		return fmt.Sprintf("%s %+v of a job %s attempt %d: refused (%v); the model takes it", c.kind, c, mj.state, mj.attempt, err)
	case !takes && err == nil:
		return fmt.Sprintf("%s %+v of a job %s attempt %d: taken; the model refuses it", c.kind, c, mj.state, mj.attempt)
	case !takes && (b != nil || !bytes.Equal(rec, j.AppendRecord(nil)) || counts != m.core.counts):
		return fmt.Sprintf("refused %s changed something: batch %v, counts %v -> %v", c.kind, b != nil, counts, m.core.counts)
	case takes && (j.State != want.state || j.Attempt != want.attempt || j.Failures() != want.failures):
		return fmt.Sprintf("%s: job %s attempt %d failures %d; the model says %s %d %d",
			c.kind, j.State, j.Attempt, j.Failures(), want.state, want.attempt, want.failures)
	}
	*mj = want
	var tally stateCounts
	for _, id := range ids {
		k := m.core.job(id)
		tally.add(k.State, 1)
		if q := m.core.queue.Contains(id); q != (k.State == jobs.Pending) {
			return fmt.Sprintf("%s: job %s is %s and queued=%v", c.kind, id, k.State, q)
		}
	}
	if tally != m.core.counts {
		return fmt.Sprintf("%s: counts %v, the jobs say %v", c.kind, m.core.counts, tally)
	}
	return ""
}
