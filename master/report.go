package master

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/logx"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Complete implements rpcapi.MasterAPI. The call must come from a worker
// registered with this master, with its secret. A report is recorded only
// when it matches the job's live lease (same worker, same attempt); one
// for an attempt leased to another worker is refused, anything else is
// dropped; both are counted. It returns once the recorded outcomes are
// durable, unless it hands out tasks for the call's Want: then at once,
// with the commit that makes the outcomes durable (CompleteReply.Commit).
// A call with no reports waits for everything recorded so far. A call
// from a live registration counts as a heartbeat for the reaper
// (CompleteReply.Beat).
func (api *wire) Complete(ctx context.Context, a *rpcapi.CompleteArgs, r *rpcapi.CompleteReply) error {
	c := api.core
	r.Term = api.cfg.Term
	if err := checkReports(a.Reports); err != nil {
		return err
	}
	if a.Want < 0 {
		return fmt.Errorf("%w: want %d is negative", rpcapi.ErrBadRequest, a.Want)
	}
	now := c.now()
	heard := api.reg.hear(a.WorkerID, a.Secret, now)
	var last *batch
	c.mu.Lock()
	w, err := c.reporter(ctx, a, heard)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if w.state != rpcapi.WorkerDead && !c.closed {
		// A worker that reports is alive: a heartbeat delayed behind a
		// busy machine's reports does not get it reaped.
		w.lastBeat, r.Beat = now, true
	}
	for _, rep := range a.Reports {
		b, v := c.completeReport(w, a.WorkerID, rep, now)
		switch v {
		case reportAccepted:
			r.Accepted++
			last = b
		case reportRefused:
			r.Refused++
		default:
			r.Dropped++
		}
	}
	asks := a.Want > 0 && w.state == rpcapi.WorkerAlive && !w.pull && !c.closed
	if asks {
		if out := api.disp.fill(w, a.Want, now); len(out) > 0 {
			r.Tasks = c.handOut(w, out, "sent to", now)
		}
	} else {
		defer c.kick()
	}
	// A worker that asked for tasks, got none and runs nothing is idle:
	// its answer waits for the outcomes' commit without hurrying it
	// (parked), so that the commit lingers and the next change shares its
	// fsync (with one job at a time, the next submit's), and a task leased
	// to the worker meanwhile goes in the answer, sent at once
	// (parkedReport). A worker still running jobs is answered as before:
	// its next reports wait for this call, and with them its free slots
	// (parking those too ran 4 x 256 1 to 3 % slower, near the noise).
	var park *parkedReport
	if asks && last != nil && len(r.Tasks) == 0 && len(w.leases) == 0 {
		park = &parkedReport{want: a.Want, wake: make(chan struct{})}
		w.parked = park
	}
	c.mu.Unlock()
	answer, waits := c.reportAnswer(w, len(a.Reports), last, park, r)
	if waits && rpcapi.Defer(ctx, answer) {
		return nil // the gob server answers once the commit is done
	}
	return answer()
}

// reportAnswer returns what completes the reply r to a task_complete of
// w with n reports, and whether it waits for a commit: last is the batch
// of the outcomes it accepted (nil: none), park its parked reply (nil:
// none).
func (c *core) reportAnswer(w *workerRec, n int, last *batch, park *parkedReport, r *rpcapi.CompleteReply) (func() error, bool) {
	var wait *batch
	switch {
	case last != nil && len(r.Tasks) > 0:
		r.Commit = last.seq
	case last != nil:
		wait = last
	case n == 0 && len(r.Tasks) == 0:
		wait = c.commit.settled()
	}
	return func() error {
		switch {
		case park != nil:
			if err := c.unparked(w, park, last, r); err != nil {
				return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
			}
		case wait != nil:
			if err := wait.wait(); err != nil {
				return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
			}
		}
		r.Durable = c.commit.durableSeq()
		return nil
	}, wait != nil
}

// unparked waits for the parked reply p of w's task_complete: until
// last (the commit of its outcomes) is done, or a task leased to w wakes
// it (workerRec.unpark). With tasks, r carries them and the number of
// that commit, which may not be on disk yet.
func (c *core) unparked(w *workerRec, p *parkedReport, last *batch, r *rpcapi.CompleteReply) error {
	err := last.await(p.wake)
	c.mu.Lock()
	if w.parked == p { // not woken: it takes no task from now on
		w.parked = nil
	}
	tasks := p.tasks
	c.mu.Unlock()
	if len(tasks) == 0 {
		return err
	}
	r.Tasks, r.Commit = tasks, last.seq
	return nil
}

// reporter returns the worker a task_complete comes from: one registered
// with this master (dead ones included: their reports are stale), whose
// secret the call carries. An ID the master has no registration for (it
// restarted, or forgot a long-dead worker) is ErrUnknownWorker, so that
// the worker registers again, naming the attempts it holds to have them
// adopted, and reports them under its new ID. The caller holds mu.
func (c *core) reporter(ctx context.Context, a *rpcapi.CompleteArgs, heard *workerRec) (*workerRec, error) {
	w := c.reg.registered(a.WorkerID)
	if w == nil {
		return nil, fmt.Errorf("%w: %q: register again (with the attempts you hold in running) and report under the new ID",
			rpcapi.ErrUnknownWorker, a.WorkerID)
	}
	return w, c.reg.checkHeard(ctx, w, heard, a.Secret, "task_complete")
}

// What became of one report.
type reportVerdict int

const (
	reportDropped  reportVerdict = iota // stale (fencing) or of an unknown job
	reportAccepted                      // recorded, or a repeat of what is
	reportRefused                       // its attempt is leased to another worker
)

// completeReport records one report from w, registered as workerID, and
// says what became of it, with the batch that writes what it changed. The
// caller holds mu.
func (c *core) completeReport(w *workerRec, workerID string, rep rpcapi.Report, now time.Time) (*batch, reportVerdict) {
	j := c.reportedJob(w, rep)
	if j == nil {
		c.dropped.Add(1) // counted as task_complete's dropped counts it
		c.metrics.dropped.Inc()
		return nil, reportDropped
	}
	// A report sent to the master that crashed, for a lease that had
	// not reached the disk, is adopted and recorded, as Register
	// adopts the attempt from a worker that comes back first.
	c.reg.adoptUnwritten(j, rep.Attempt, w, workerID+" (its report)", now)
	if j.State == jobs.Running && j.Attempt == rep.Attempt && j.Worker == workerID {
		if b, ok := c.finishAttempt(j, workerID, rep, now); ok {
			return b, reportAccepted
		}
		return nil, reportDropped
	}
	if cur := j.Current(); cur != nil && rep.Attempt == j.Attempt {
		switch {
		case cur.Worker != workerID:
			// Not this worker's to report: a forgery, or the late word of
			// an ID whose lease another registration adopted.
			c.metrics.foreign.Inc()
			c.log.WithFields(logrus.Fields{"job": j.ID, "attempt": rep.Attempt, "worker": workerID,
				"leased_to": cur.Worker}).Warn("report refused: the attempt is leased to another worker")
			return nil, reportRefused
		case cur.Outcome == rep.Outcome:
			// A repeat of a report already recorded (its acknowledgement
			// was lost) is accepted again; it changes nothing.
			return c.commit.add(j), reportAccepted
		}
	}
	c.dropped.Add(1)
	c.metrics.dropped.Inc()
	c.log.WithFields(logrus.Fields{"job": j.ID, "attempt": rep.Attempt, "worker": workerID,
		"live_attempt": j.Attempt, "state": j.State}).Warn("stale report dropped")
	return nil, reportDropped
}

// reportedJob returns the job a report is about, or nil, and frees the
// slot of its lease on w when the report names the leased attempt. The
// caller holds mu.
func (c *core) reportedJob(w *workerRec, rep rpcapi.Report) *jobs.Job {
	var j *jobs.Job
	if w != nil {
		// The worker says the attempt ended: its slot is free, whatever
		// becomes of the report (checkReports refused any the master
		// could not record, before anything changed).
		if l := w.leases[rep.JobID]; l != nil && l.attempt == rep.Attempt {
			delete(w.leases, rep.JobID)
			j = l.job
		}
	}
	if j == nil {
		j = c.job(rep.JobID)
	}
	return j
}

// finishAttempt records the outcome of j's running attempt, turning a
// report over max_result_bytes into a permanent error, requeues j if it
// is to run again, and reports whether the job took the report, with the
// batch that writes it. The caller holds mu.
func (c *core) finishAttempt(j *jobs.Job, workerID string, rep rpcapi.Report, now time.Time) (*batch, bool) {
	if n := len(rep.Output) + len(rep.Data) + len(rep.Error) + statsBytes(rep.Stats); n > c.cfg.MaxResultBytes {
		rep = rpcapi.Report{JobID: rep.JobID, Attempt: rep.Attempt, Outcome: jobs.Error, ExitCode: rep.ExitCode,
			Permanent: true, Error: fmt.Sprintf("result of %d bytes (output, data, error and stats) is over the master's max_result_bytes %d", n, c.cfg.MaxResultBytes)}
	}
	_, last, err := c.apply(jobChange{kind: changeFinish, job: j.ID, attempt: rep.Attempt, at: now,
		report: jobs.Report{Outcome: rep.Outcome, Error: rep.Error, Permanent: rep.Permanent,
			Timeout: rep.Timeout, TimeoutFrom: rep.TimeoutFrom,
			Result: jobs.Result{ExitCode: rep.ExitCode, Output: rep.Output, Data: rep.Data, Stats: rep.Stats}}})
	if err != nil {
		c.jobLog(j).WithError(err).Warn("report rejected")
		return nil, false
	}
	if rep.Outcome != jobs.OK || logx.DebugOn(c.log) {
		e := c.log.WithFields(logrus.Fields{"job": j.ID, "attempt": rep.Attempt, "worker": workerID,
			"outcome": rep.Outcome, "state": j.State})
		if rep.Outcome == jobs.OK {
			e.Debug("attempt finished")
		} else {
			e.WithField("error", rep.Error).Info("attempt finished")
		}
	}
	return last, true
}

// statsBytes is the size of a report's stats: its keys and values.
func statsBytes(stats map[string]string) int {
	n := 0
	for k, v := range stats {
		n += len(k) + len(v)
	}
	return n
}

// checkReports refuses a task_complete with a report the master could
// never record (an unknown outcome, no job ID, an attempt below 1): the
// whole call fails with ErrBadRequest and changes nothing, so a worker's
// bug shows instead of its job being parked.
func checkReports(reps []rpcapi.Report) error {
	for i, rep := range reps {
		switch {
		case rep.JobID == "":
			return fmt.Errorf("%w: report %d has no job_id", rpcapi.ErrBadRequest, i)
		case rep.Attempt < 1:
			return fmt.Errorf("%w: report %d (job %s) has attempt %d; attempts start at 1", rpcapi.ErrBadRequest, i, rep.JobID, rep.Attempt)
		case !rep.Outcome.Valid():
			return fmt.Errorf("%w: report %d (job %s attempt %d) has outcome %q; want one of ok, error, timeout, lost, cancelled",
				rpcapi.ErrBadRequest, i, rep.JobID, rep.Attempt, rep.Outcome)
		}
	}
	return nil
}
