package worker

import (
	"context"
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

// TestFencedRunsAreNotReported: a run across a deadline that passed is
// not reported (the master may have leased its job elsewhere); one that
// started after the worker renewed its fence is; with fencing off both
// are.
func TestFencedRunsAreNotReported(t *testing.T) {
	for _, noFence := range []bool{false, true} {
		w := newFenceWorker(t, noFence)
		now := time.Now()
		w.fence.renew(now.Add(-time.Second), now.Add(-2*time.Second))
		w.fence.renew(now.Add(time.Hour), now) // answered again
		for _, c := range []struct {
			id      string
			started time.Time
		}{{"across", now.Add(-1500 * time.Millisecond)}, {"after", now.Add(-500 * time.Millisecond)}} {
			r := &run{ref: rpcapi.JobRef{JobID: c.id, Attempt: 1}, typ: "x", started: c.started, ctx: context.Background(),
				cancel: func() {}, okObs: w.metrics.observer("x", jobs.OK)}
			w.running[c.id] = r
			w.finish(r, jobs.Result{}, nil, false)
		}
		var got []string
		for _, rep := range w.results {
			got = append(got, rep.JobID)
		}
		want := "after"
		if noFence {
			want = "across after"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("NoFence %v: reported %v, want %s", noFence, got, want)
		}
	}
}
