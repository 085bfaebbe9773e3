package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/logx"
	"github.com/drover/drover/internal/watchdog"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// assign starts each task that fits a free slot and rejects the rest. It
// never blocks on a job.
func (w *Worker) assign(a *rpcapi.AssignArgs, r *rpcapi.AssignReply) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.take(a, r, true)
}

// take starts each task that fits a free slot and rejects the rest; with
// accepted, it lists the tasks it took in r too. The caller holds mu.
func (w *Worker) take(a *rpcapi.AssignArgs, r *rpcapi.AssignReply, accepted bool) {
	for _, t := range a.Tasks {
		ref := rpcapi.JobRef{JobID: t.JobID, Attempt: t.Attempt}
		reject := func(why string) { r.Rejected = append(r.Rejected, rpcapi.Rejection{JobRef: ref, Reason: why}) }
		switch {
		case w.draining:
			reject("worker is shutting down")
			continue
		case w.fenced():
			reject("fenced: no heartbeat answered within the master's dead_after")
			continue
		case w.id != "" && a.WorkerID != w.id:
			reject(fmt.Sprintf("assigned to worker %q, this is %q", a.WorkerID, w.id))
			continue
		}
		if old := w.running[t.JobID]; old != nil {
			if old.ref.Attempt == t.Attempt && !old.drop {
				if accepted {
					r.Accepted = append(r.Accepted, ref) // a repeated Assign
				}
				continue
			}
			old.drop = true // the master moved on from that attempt
			old.cancel()
		}
		if len(w.running) >= w.cfg.Slots {
			reject(fmt.Sprintf("no free slot (%d running)", len(w.running)))
			continue
		}
		h, cmd, ok := w.lookup(t.Type)
		if !ok {
			reject(fmt.Sprintf("no handler or command for type %q", t.Type))
			continue
		}
		w.start(t, h, cmd)
		if accepted {
			r.Accepted = append(r.Accepted, ref)
		}
	}
}

func (w *Worker) lookup(typ string) (HandlerFunc, *Command, bool) {
	if h, ok := w.handlers[typ]; ok {
		return h, nil, true
	}
	if c, ok := w.cfg.Commands[typ]; ok {
		return nil, &c, true
	}
	return nil, nil, false
}

// cancelTasks stops each named attempt still running; it is reported as
// cancelled. The caller holds mu.
func (w *Worker) cancelTasks(refs []rpcapi.JobRef) {
	for _, ref := range refs {
		if r := w.running[ref.JobID]; r != nil && r.ref.Attempt == ref.Attempt {
			r.cancelled = true
			r.cancel()
		}
	}
}

// start queues one task for a runner goroutine. The caller holds mu.
//
// Runners are goroutines that run one job after another: a worker keeps as
// many as it ever ran jobs at once (at most its slots, but for an attempt
// that replaces one still stopping), so a job costs neither a new
// goroutine nor growing a fresh stack.
func (w *Worker) start(t rpcapi.Task, h HandlerFunc, cmd *Command) {
	limit := effectiveTimeout(t.Timeout, cmd)
	timeout := limit.d
	// Not derived from w.ctx: every path that stops the worker cancels its
	// runs one by one first, and a child of w.ctx would cost a lock on it
	// per job.
	var ctx context.Context
	var cancel context.CancelFunc
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), timeout)
	} else {
		ctx, cancel = context.WithCancel(context.Background())
	}
	r := &run{ref: rpcapi.JobRef{JobID: t.JobID, Attempt: t.Attempt}, typ: t.Type, cancel: cancel, started: time.Now(),
		task: t, handler: h, cmd: cmd, ctx: ctx, worker: w.id, okObs: w.okObserver(t.Type), timeout: limit}
	w.running[t.JobID] = r
	w.jobsWG.Add(1)
	switch {
	case w.runClosed || len(w.runq) == cap(w.runq):
		w.runWG.Go(func() { w.execute(r, false) }) // a replacing attempt beyond the slots
		return
	case w.idleRunners > 0:
		w.idleRunners--
	default:
		w.runWG.Go(w.runner)
	}
	w.runq <- r
}

// okObserver returns the run-time histogram of typ's jobs that end ok,
// kept in okObs so that a job does not take the metrics' lock. The
// caller holds mu.
func (w *Worker) okObserver(typ string) prometheus.Observer {
	o := w.okObs[typ]
	if o == nil {
		o = w.metrics.observer(typ, jobs.OK)
		w.okObs[typ] = o
	}
	return o
}

// runner runs queued jobs until the queue is closed. When no Complete
// call is in flight, it sends its job's report itself, and the task the
// reply carries comes back to it: a slot's cycle then costs one call and
// no hand-off between goroutines but net/rpc's reader.
func (w *Worker) runner() {
	args := new(rpcapi.CompleteArgs) // reused from call to call
	for r := range w.runq {
		direct := w.execute(r, true)
		w.mu.Lock()
		w.idleRunners++ // before the call: the reply's task is queued for this runner
		w.mu.Unlock()
		if !direct {
			continue
		}
		if c := w.nextBatch(); c.key != 0 {
			c.args = args
			w.sendDone(w.sendDirect(c))
		}
	}
}

// sendDirect makes a runner's call c on its own connection, bounded by
// reportDeadline and the worker's life. Over gob that bound is an
// rpcapi.CallContext, which the serial client keeps with a connection
// deadline and its watcher of w.ctx: no timer and no registration with
// w.ctx per call.
func (w *Worker) sendDirect(c completeCall) error {
	if w.dc == nil {
		ctx, cancel := context.WithTimeout(w.ctx, w.reportDeadline())
		defer cancel()
		return w.send(ctx, c, w.direct)
	}
	ctx := rpcapi.NewCallContext(w.ctx, w.reportDeadline())
	defer ctx.Release()
	return w.send(ctx, c, w.direct)
}

// execute runs one job and queues its report. With canReport, it returns
// whether the caller is to send the report (finish).
func (w *Worker) execute(r *run, canReport bool) (direct bool) {
	defer w.jobsWG.Done()
	defer r.cancel()
	t := r.task
	if logx.DebugOn(w.log) { // read each time: SIGHUP may change the level
		w.log.WithFields(r.fields()).Debug("job started")
	}
	var res jobs.Result
	var err error
	limits := w.limits()
	if r.cmd != nil {
		res, err = w.runCommandJob(r, limits)
	} else {
		job := &jobs.Job{ID: t.JobID, Attempt: t.Attempt, State: jobs.Running, Worker: r.worker,
			Spec: jobs.Spec{Type: t.Type, Args: t.Args, Timeout: t.Timeout, Input: t.Input, Group: t.Group}}
		res, err = callHandler(r.ctx, r.handler, job)
		res.Output = cutOutput(res.Output, w.cfg.OutputLimit) // its note within the limit

	}
	err = limits.fit(&res, err)
	return w.finish(r, res, err, canReport)
}

// runCommandJob runs a command job with its environment (DROVER_JOB_ID,
// DROVER_ATTEMPT, DROVER_GROUP, DROVER_MASTER, DROVER_RESULT), its full
// log kept (logs.go), and what it wrote to $DROVER_RESULT as its data.
func (w *Worker) runCommandJob(r *run, limits resultLimits) (jobs.Result, error) {
	t := r.task
	rf, err := newResultFile()
	if err != nil {
		return jobs.Result{ExitCode: -1}, err
	}
	env := []string{"DROVER_JOB_ID=" + t.JobID, "DROVER_ATTEMPT=" + strconv.Itoa(t.Attempt),
		"DROVER_GROUP=" + t.Group, "DROVER_MASTER=" + redactUserinfo(w.cfg.Master), "DROVER_RESULT=" + rf.path}
	var procs jobProcs
	if w.wd != nil {
		mark, seq := w.wd.Mark()
		env = append(env, watchdog.MarkEnv+"="+mark)
		procs = watchedJob{w, seq}
	}
	lg := w.logs.open(r.ref)
	res, err := w.runTemplate(r, env, lg.writer(rpcapi.StreamStdout), lg.writer(rpcapi.StreamStderr), procs)
	w.logs.finish(lg)
	data, derr := rf.collect(limits.data)
	res.Data = data
	return res, alsoFailed(err, derr)
}

// watchedJob is a command job's processes as the watchdog finds them.
type watchedJob struct {
	w   *Worker
	seq uint64
}

func (j watchedJob) group(pgid int) { j.w.tellWatchdog(j.w.wd.Group(j.seq, pgid)) }
func (j watchedJob) term()          { j.w.tellWatchdog(j.w.wd.Term(j.seq)) }
func (j watchedJob) end()           { j.w.tellWatchdog(j.w.wd.End(j.seq)) }

// tellWatchdog logs the error of a record the watchdog did not get.
func (w *Worker) tellWatchdog(err error) {
	if err != nil {
		w.log.WithError(err).Warn("watchdog: a job's processes outside its process group may outlive it")
	}
}

// fields are the log fields of a run.
func (r *run) fields() logrus.Fields {
	return logrus.Fields{"job": r.ref.JobID, "attempt": r.ref.Attempt, "worker": r.worker, "type": r.typ}
}

// callHandler runs h, turning a panic into an error.
func callHandler(ctx context.Context, h HandlerFunc, j *jobs.Job) (res jobs.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("worker: handler panicked: %v", p)
			res = jobs.Result{ExitCode: -1, Output: string(debug.Stack())}
		}
	}()
	return h(ctx, j)
}

// finish records the end of a run and queues its report.
func (w *Worker) finish(r *run, res jobs.Result, err error, canReport bool) (direct bool) {
	rep := rpcapi.Report{JobID: r.ref.JobID, Attempt: r.ref.Attempt, ExitCode: res.ExitCode,
		Output: res.Output, Data: res.Data, Outcome: jobs.OK, Stats: res.Stats,
		Timeout: r.timeout.d, TimeoutFrom: r.timeout.from}
	w.mu.Lock()
	switch {
	case r.cancelled && err != nil:
		rep.Outcome, rep.Error = jobs.OutcomeCanceled, "cancelled by the master"
	case errors.Is(r.ctx.Err(), context.DeadlineExceeded) && !r.cancelled:
		// Its time ran out before it returned: a timeout, whatever it
		// returned (a handler that ends its work early on ctx.Done and
		// returns no error did not do it).
		rep.Outcome, rep.Error = jobs.Timeout, "timed out after "+r.timeout.String()
		if err != nil {
			rep.Error += ": " + err.Error()
		}
	case err == nil:
	default:
		rep.Outcome, rep.Error, rep.Permanent = jobs.Error, err.Error(), IsPermanent(err)
	}
	rep.Error = cutOutput(rep.Error, maxErrorBytes)
	if w.running[r.ref.JobID] == r {
		delete(w.running, r.ref.JobID)
	}
	if err != nil && w.fencedRun(r.started, time.Now()) {
		// It failed across a fence deadline: stopped there (by the fence,
		// or the watchdog), not ours to report. A run that succeeded is
		// reported: the master records it if the attempt is still this
		// worker's (it was not reaped, or it adopts it from the reaped
		// registration), and drops it otherwise.
		r.drop = true
	}
	if !r.drop {
		w.results = append(w.results, rep)
		direct = canReport && w.reportHere()
	}
	if w.draining && len(w.running) == 0 && w.idle != nil {
		select {
		case <-w.idle:
		default:
			close(w.idle)
		}
	}
	w.mu.Unlock()
	took := time.Since(r.started)
	if rep.Outcome == jobs.OK {
		r.okObs.Observe(took.Seconds())
	} else {
		w.metrics.observe(r.typ, rep.Outcome, took.Seconds())
	}
	if r.drop || rep.Outcome != jobs.OK || logx.DebugOn(w.log) {
		e := w.log.WithFields(r.fields()).WithFields(logrus.Fields{"outcome": rep.Outcome, "took": took.Round(time.Millisecond)})
		switch {
		case r.drop:
			e.Info("job stopped; not reported")
		case rep.Outcome == jobs.OK:
			e.Debug("job finished")
		default:
			e.WithField("error", rep.Error).Info("job finished")
		}
	}
	if !r.drop && !direct {
		w.signal(w.reportc)
	}
	w.signal(w.fetchc)
	return direct
}

// reportHere reports whether a runner with a result just queued sends it
// itself rather than waking the reporter: the worker is registered in
// push mode and not backing off, and no call with results is in flight
// (else the result waits to join the next batch). The caller holds mu.
func (w *Worker) reportHere() bool {
	return w.id != "" && w.cfg.Mode != rpcapi.ModePull && w.retry == 0 && !w.wanting && len(w.sending) == len(w.tickets)
}

// signal wakes a loop waiting on ch without blocking.
func (w *Worker) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// held lists what the worker holds for the master: running attempts and
// results not yet acknowledged. The caller holds mu.
func (w *Worker) held() []rpcapi.JobRef {
	out := make([]rpcapi.JobRef, 0, len(w.running)+len(w.results))
	for _, r := range w.running {
		if !r.drop {
			out = append(out, r.ref)
		}
	}
	for _, rep := range w.results {
		out = append(out, rpcapi.JobRef{JobID: rep.JobID, Attempt: rep.Attempt})
	}
	for _, batch := range w.sending {
		for _, rep := range batch {
			out = append(out, rpcapi.JobRef{JobID: rep.JobID, Attempt: rep.Attempt})
		}
	}
	return out
}

// dropRefs stops and forgets attempts the master does not lease to this
// worker, and warns of those it still held, by job ID. A ref it no longer
// holds (its report was acknowledged meanwhile) is passed over. The caller
// holds mu.
func (w *Worker) dropRefs(refs []rpcapi.JobRef) {
	if len(refs) == 0 {
		return
	}
	drop := make(map[rpcapi.JobRef]bool, len(refs))
	var ids []string
	for _, ref := range refs {
		drop[ref] = true
		if r := w.running[ref.JobID]; r != nil && r.ref == ref && !r.drop {
			r.drop = true
			r.cancel()
			ids = append(ids, ref.JobID)
		}
	}
	dropped := func(rep rpcapi.Report) bool {
		if drop[rpcapi.JobRef{JobID: rep.JobID, Attempt: rep.Attempt}] {
			ids = append(ids, rep.JobID)
			return true
		}
		return false
	}
	w.results = slices.DeleteFunc(w.results, dropped)
	for key, batch := range w.sending {
		// A new slice: a Complete call may be encoding the old one.
		w.sending[key] = slices.DeleteFunc(slices.Clone(batch), dropped)
	}
	if len(ids) > 0 {
		const most = 20
		e := w.log.WithField("jobs", len(ids))
		if len(ids) > most {
			e = e.WithField("first", ids[:most])
		} else {
			e = e.WithField("ids", ids)
		}
		e.Warn("master does not lease these jobs to us; dropped them")
	}
}

// unsent leaves out of refs the attempts whose reports are in a Complete
// call not yet answered. A heartbeat answered meanwhile names them when the
// master took the report before the beat; the call's own answer settles
// them either way. The caller holds mu.
func (w *Worker) unsent(refs []rpcapi.JobRef) []rpcapi.JobRef {
	if len(refs) == 0 || len(w.sending) == 0 {
		return refs
	}
	inFlight := make(map[rpcapi.JobRef]bool)
	for _, batch := range w.sending {
		for _, rep := range batch {
			inFlight[rpcapi.JobRef{JobID: rep.JobID, Attempt: rep.Attempt}] = true
		}
	}
	return slices.DeleteFunc(slices.Clone(refs), func(ref rpcapi.JobRef) bool { return inFlight[ref] })
}
