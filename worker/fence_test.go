package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestFenceDeadline: the deadline passes unless renewed; a run that
// started before a deadline that passed was fenced, one that started
// after it was not; an answer to an older beat does not move the deadline
// back.
func TestFenceDeadline(t *testing.T) {
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	f := newFence()
	if f.expired(at(0)) || f.lapsedSince(at(-time.Hour), at(time.Hour)) {
		t.Fatal("a fence with no deadline has expired")
	}
	f.renew(at(time.Second), at(0))
	for _, c := range []struct {
		now          time.Duration
		expired      bool
		since        time.Duration
		lapsedForRun bool
		what         string
	}{
		{500 * time.Millisecond, false, 0, false, "before the deadline"},
		{time.Second, true, 0, true, "at the deadline"},
		{2 * time.Second, true, 1500 * time.Millisecond, false, "a run started after the deadline"},
	} {
		if got := f.expired(at(c.now)); got != c.expired {
			t.Errorf("%s: expired = %v, want %v", c.what, got, c.expired)
		}
		if got := f.lapsedSince(at(c.since), at(c.now)); got != c.lapsedForRun {
			t.Errorf("%s: lapsedSince = %v, want %v", c.what, got, c.lapsedForRun)
		}
	}
	if !f.renew(at(3*time.Second), at(2*time.Second)) {
		t.Fatal("renew refused a later deadline")
	}
	if f.expired(at(2 * time.Second)) {
		t.Error("expired after a renewal")
	}
	if !f.lapsedSince(at(500*time.Millisecond), at(2500*time.Millisecond)) {
		t.Error("a run across the lapsed deadline is not seen as fenced after the renewal")
	}
	if f.lapsedSince(at(1500*time.Millisecond), at(2500*time.Millisecond)) {
		t.Error("a run started after the lapse is seen as fenced")
	}
	if f.renew(at(2500*time.Millisecond), at(2500*time.Millisecond)) || !f.current().Equal(at(3*time.Second)) {
		t.Errorf("an earlier deadline moved the fence back to %v", f.current())
	}
}

func newFenceWorker(t *testing.T, noFence bool) *Worker {
	t.Helper()
	log := logrus.New()
	log.SetOutput(testWriter{t})
	w, err := New(Config{Name: "fence", NoFence: noFence, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("x", func(ctx context.Context, j *jobs.Job) (jobs.Result, error) { return jobs.Result{}, nil })
	return w
}

// TestFencedWorkerRefusesJobs: past its fence deadline a worker takes no
// job, saying why.
func TestFencedWorkerRefusesJobs(t *testing.T) {
	w := newFenceWorker(t, false)
	w.fence.renew(time.Now().Add(-time.Millisecond), time.Now().Add(-time.Second))
	var r rpcapi.AssignReply
	w.assign(&rpcapi.AssignArgs{Tasks: []rpcapi.Task{{JobID: "1", Attempt: 1, Type: "x"}}}, &r)
	if len(r.Accepted) != 0 || len(r.Rejected) != 1 || !strings.Contains(r.Rejected[0].Reason, "fenced") {
		t.Errorf("a fenced worker's assign: accepted %v, rejected %v; want one rejection, fenced", r.Accepted, r.Rejected)
	}
}

// TestFencedRunsAreNotReported: a run that failed across a deadline
// that passed is not reported (the fence or the watchdog may have stopped
// it; the master may have leased its job elsewhere); one that succeeded
// across it is (the master keeps it if the attempt is still the worker's),
// and so is one that started after the worker renewed its fence; with
// fencing off all are.
func TestFencedRunsAreNotReported(t *testing.T) {
	for _, noFence := range []bool{false, true} {
		w := newFenceWorker(t, noFence)
		now := time.Now()
		w.fence.renew(now.Add(-time.Second), now.Add(-2*time.Second))
		w.fence.renew(now.Add(time.Hour), now) // answered again
		for _, c := range []struct {
			id      string
			started time.Time
			err     error
		}{
			{"across-failed", now.Add(-1500 * time.Millisecond), context.Canceled},
			{"across-ok", now.Add(-1500 * time.Millisecond), nil},
			{"after-failed", now.Add(-500 * time.Millisecond), errors.New("no")},
		} {
			ctx, cancel := context.WithCancel(context.Background())
			r := &run{ref: rpcapi.JobRef{JobID: c.id, Attempt: 1}, typ: "x", started: c.started, ctx: ctx,
				cancel: cancel, okObs: w.metrics.observer("x", jobs.OK)}
			w.running[c.id] = r
			w.finish(r, jobs.Result{}, c.err, false)
			cancel()
		}
		var got []string
		for _, rep := range w.results {
			got = append(got, rep.JobID)
		}
		want := "across-ok after-failed"
		if noFence {
			want = "across-failed across-ok after-failed"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("NoFence %v: reported %v, want %s", noFence, got, want)
		}
	}
}

// beatCaller answers task_complete with beat set as told (a master that
// took the call as a heartbeat, or one of an earlier release).
type beatCaller struct{ beat bool }

func (c beatCaller) Call(_ context.Context, method string, _, reply any) error {
	if method != rpcapi.MasterComplete {
		return fmt.Errorf("unexpected call %s", method)
	}
	*reply.(*rpcapi.CompleteReply) = rpcapi.CompleteReply{Beat: c.beat}
	return nil
}

func (beatCaller) Close() error { return nil }

// TestReportMovesTheFence: a task_complete reply with beat true (the
// master took the call as a heartbeat: docs/protocol.md) moves the fence
// deadline to when the call was sent plus dead_after, as a heartbeat's
// does; one without beat (a master of an earlier release) leaves it.
func TestReportMovesTheFence(t *testing.T) {
	for _, beat := range []bool{false, true} {
		w := newFenceWorker(t, false)
		w.id, w.secret, w.deadAfter = "w1", "s", time.Minute
		old := time.Now().Add(time.Second)
		w.fence.renew(old, time.Now())
		sent := time.Now()
		c := completeCall{from: registration{w.id, w.secret}, key: 1}
		w.sending[1] = nil
		if err := w.send(context.Background(), c, rpcapi.MasterClient{C: beatCaller{beat}}); err != nil {
			t.Fatal(err)
		}
		got := w.fence.current()
		switch {
		case beat && got.Before(sent.Add(time.Minute)):
			t.Errorf("beat true: the fence is at %v, want at least %v", got, sent.Add(time.Minute))
		case !beat && !got.Equal(old):
			t.Errorf("beat false: the fence moved to %v from %v", got, old)
		}
	}
}

// TestFencedRunCountsTheWatchdog: the watchdog's deadline can be up to
// watchdogStep earlier than the worker's, and its SIGTERM can end a job
// before the worker's own deadline, or before a renewal it has not heard
// of. A run that failed after the watchdog's deadline passed counts as
// fenced (not reported, per the README's fencing section), as one that
// failed after the worker's does; a run that started after it does not.
func TestFencedRunCountsTheWatchdog(t *testing.T) {
	now := time.Now()
	w := &Worker{fence: newFence()}
	w.fence.renew(now.Add(80*time.Millisecond), now.Add(-time.Second)) // the worker's deadline is ahead
	w.wdTold = now.Add(-20 * time.Millisecond)                         // the watchdog's passed
	if !w.fencedRun(now.Add(-time.Second), now) {
		t.Error("a run that failed after the watchdog's deadline counts as reported")
	}
	if w.fencedRun(now.Add(-10*time.Millisecond), now) {
		t.Error("a run that started after the watchdog's deadline counts as fenced")
	}
	// A renewal told the watchdog a later deadline after its own passed:
	// wdLapsed keeps when the watchdog stopped the jobs.
	w.wdLapsed, w.wdTold = w.wdTold, now.Add(time.Second)
	if !w.fencedRun(now.Add(-time.Second), now) {
		t.Error("a run that failed after the watchdog's deadline, renewed since, counts as reported")
	}
	w.cfg.NoFence = true
	if w.fencedRun(now.Add(-time.Second), now) {
		t.Error("with NoFence, a run counts as fenced")
	}
}
