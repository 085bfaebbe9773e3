package master_test

// TestHistoryModel checks what the master keeps, where and for how long,
// against a model (README.md, "What is kept where, and for how long", and
// the text after its table; docs/protocol.md, get_job, list_jobs,
// cancel_jobs, purge_jobs, wait_jobs; docs/api.md, Paging, retry and
// purge). A seeded driver submits batches of "ok" and "fail" jobs (and
// "idle" ones, which no worker has) to a real master with the smallest
// retain, retain_jobs, history and history_jobs the docs allow, run by two
// real workers on loopback, and retries, cancels, purges, waits, reads and
// lists them, restarts the master (bolt store), and moves the master's
// clock: a fake clock (master.OnClock), so that "once a minute" and
// "history after it finished" pass in a test's seconds, and so that every
// job's finish time is known exactly (the clock stands still between the
// driver's moves, and the driver lets every job that can move settle
// before it moves the clock).
//
// The model knows, for every job, what it must show and whether it may
// have left the store: a finished job may have been deleted by history
// once it is older than history, or once history_jobs other jobs have
// finished at or after it; otherwise it must be found, with its state
// and attempts. After a clock move of a minute or more, the sweep must
// have deleted what is older than history and what is over history_jobs,
// the ones that finished first, and no other. A job still in memory may
// stay on disk until the next sweep, so what must be gone is what was
// due two sweeps before. Listings, counts, waits, cancels, retries and
// purges are checked against the same model.
//
// finish-order is a fixed case: the sweep deleted by job ID before
// 88f3a87 (runFinishOrder).
//
// DROVER_HISTORY_SEED=17 replays one seed (both stores);
// DROVER_HISTORY_SEEDS=30 runs more (from DROVER_HISTORY_BASE, default 1),
// DROVER_HISTORY_STEPS steps each (default 40); DROVER_HISTORY_LOG=1 logs
// the master to stderr.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	dc "github.com/drover/drover/client"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

const (
	// README.md, master.toml: retain "at least 1s", retain_jobs "at least
	// 100", history "at least retain", history_jobs "at least
	// retain_jobs".
	hmRetain      = master.MinRetain
	hmRetainJobs  = master.MinRetainJobs
	hmHistoryJobs = hmRetainJobs
	// hmSweepEvery: "The master deletes finished jobs from the disk once
	// a minute" (README.md, after the table).
	hmSweepEvery = time.Minute
	hmBackoff    = 10 * time.Second // retry_backoff = max_backoff, on the fake clock
	hmWait       = 20 * time.Second // real time for what must happen at once (a loaded 2-core machine, -race)
)

// The job types: the workers run "ok" (succeeds, output = the job's ID)
// and "fail" (returns an error); no worker has "idle", so such a job stays
// pending until it is cancelled.
const (
	hmOK   = "ok"
	hmFail = "fail"
	hmIdle = "idle"
)

func TestHistoryModel(t *testing.T) {
	var seeds []int64
	for i := range envInt("DROVER_HISTORY_SEEDS", 5) {
		seeds = append(seeds, int64(envInt("DROVER_HISTORY_BASE", 1)+i))
	}
	if os.Getenv("DROVER_HISTORY_SEED") != "" {
		seeds = []int64{int64(envInt("DROVER_HISTORY_SEED", 0))}
	} else {
		for _, store := range []string{master.StoreMemory, master.StoreBolt} {
			t.Run("finish-order/"+store, func(t *testing.T) {
				t.Parallel()
				runFinishOrder(t, store == master.StoreBolt)
			})
		}
	}
	for _, seed := range seeds {
		for _, store := range []string{master.StoreMemory, master.StoreBolt} {
			t.Run(fmt.Sprintf("%d/%s", seed, store), func(t *testing.T) {
				t.Parallel()
				runHistoryModel(t, seed, store == master.StoreBolt)
			})
		}
	}
}

// runFinishOrder is the smallest case of what seeds 1, 3 and 5 (both
// stores) failed on at 567a619: job 1 ("fail", one retry) finishes 11 s
// after the 90 jobs submitted after it, and leaves memory; a minute later
// 30 more jobs finish, 121 in all. The sweep must delete 21 of the 90
// (README, master.toml, history_jobs: "the ones that finished first leave
// first"); it deleted job 1, one of the 31 that finished last, and 20 of
// the 90: it went by job ID. 88f3a87 fixed it.
func runFinishOrder(t *testing.T, bolt bool) {
	h := newHM(t, 0, bolt, 10*time.Minute, "go test -race -run 'TestHistoryModel/finish-order' ./master/")
	h.submit([]jobs.Spec{{Type: hmFail, Retries: 1}})
	h.submit(slices.Repeat([]jobs.Spec{{Type: hmOK}}, 90))
	h.quiesce("job 1 waits for its retry")
	h.release(h.fc.Now().Add(hmBackoff + time.Second))
	h.log("tick +%s", hmBackoff+time.Second)
	h.stepSweep() // 91 finished jobs: none deleted; all leave memory
	h.submit(slices.Repeat([]jobs.Spec{{Type: hmOK}}, 30))
	h.stepSweep()
}

// hmJob is what the model knows of one job.
type hmJob struct {
	id      string
	seq     int // submission order: listings are ordered by it
	typ     string
	retries int

	state    jobs.State // last seen (or made by the driver: cancel)
	final    bool       // seen final since its submission or its latest retry
	attempts int        // len(Attempts) last seen: never lower
	lease    int        // Attempt last seen: never lower
	// What it must end as: succeeded or failed with this many attempts
	// ("idle": pending, attempts unchanged).
	want         jobs.State
	wantAttempts int
	// pending is true once it was seen pending since its latest change
	// (submit, retry, restart); with notBefore it says whether it must
	// stay pending until the clock moves.
	pending   bool
	notBefore time.Time
	finished  time.Time // on the master's clock, once final
	lastEnd   time.Time // its latest finish ever (kept across retries)
	gone      string    // why it is deleted: "purged", "history"
}

type hm struct {
	t       *testing.T
	seed    int64
	c       *chooser
	bolt    bool
	history time.Duration
	dir     string
	addr    string
	tr      dc.Transport
	fc      *master.FakeClock
	m       *master.Master
	cl      *dc.Client
	replay  string
	steps   []string
	jobs    map[string]*hmJob
	order   []*hmJob
	never   map[string]bool // IDs the driver asked for that no submit returned
	// swept and purged count the jobs seen deleted by history and by
	// purge.
	swept, purged, restarts int
	sweepTimes              []time.Time // of the moves of a minute or more
}

func runHistoryModel(t *testing.T, seed int64, bolt bool) {
	store := map[bool]string{false: master.StoreMemory, true: master.StoreBolt}[bolt]
	// history: its minimum (retain), or three minutes, so that both of
	// its bounds (age and history_jobs) delete jobs.
	h := newHM(t, seed, bolt, []time.Duration{hmRetain, 3 * time.Minute}[seed%2],
		fmt.Sprintf("DROVER_HISTORY_SEED=%d go test -race -run 'TestHistoryModel/%d/%s$' ./master/", seed, seed, store))
	for h.stepSubmit(); h.c.more(); h.spotCheck() {
		h.step()
	}
	// The end: every job that can finish does, sweeps (the last ones with
	// what must be gone), and every listing.
	for range 3 {
		h.stepSweep()
	}
	h.stepCounts(true)
	for _, st := range []jobs.State{"", jobs.Succeeded, jobs.Failed} {
		for _, o := range []dc.Order{dc.OldestFirst, dc.NewestFirst} {
			h.list(st, o, 1+h.c.intn(150))
		}
	}
	t.Logf("seed %d %s: %d jobs, %d sweeps, %d left the store by history, %d purged, %d restarts, clock +%s",
		seed, store, len(h.order), len(h.sweepTimes), h.swept, h.purged, h.restarts,
		h.fc.Now().Sub(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)))
}

// newHM starts a master on a fake clock and two workers, and returns the
// driver with its model, empty.
func newHM(t *testing.T, seed int64, bolt bool, history time.Duration, replay string) *hm {
	h := &hm{t: t, seed: seed, bolt: bolt, history: history, dir: t.TempDir(), jobs: map[string]*hmJob{}, never: map[string]bool{},
		c:      &chooser{r: rand.New(rand.NewPCG(uint64(seed), 23)), left: envInt("DROVER_HISTORY_STEPS", 40)},
		fc:     master.NewFakeClock(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)),
		replay: replay, tr: []dc.Transport{dc.Gob, dc.XMLRPC}[(seed/2)%2]}
	h.start("127.0.0.1:0")
	var err error
	if h.cl, err = dc.Dial(h.addr, dc.WithTransport(h.tr), dc.WithTimeout(hmWait)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.cl.Close() })
	handlers := map[string]worker.HandlerFunc{
		hmOK: func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{Output: j.ID}, nil
		},
		hmFail: func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{}, errors.New("fail " + j.ID)
		},
	}
	for i := range 2 {
		master.StartTestWorker(t, worker.Config{Master: h.addr, Name: fmt.Sprintf("w%d", i), Slots: 4}, handlers)
	}
	h.log("start: history %s, client over %s", h.history, h.tr)
	return h
}

func (h *hm) start(listen string) {
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	if os.Getenv("DROVER_HISTORY_LOG") != "" {
		logger.SetOutput(os.Stderr)
	}
	// dead_after is a day of the fake clock: the workers beat in real time
	// and are never reaped; the driver moves the clock by minutes.
	cfg := master.Config{Listen: listen, Store: master.StoreMemory, HeartbeatInterval: 100 * time.Millisecond,
		DeadAfter: 24 * time.Hour, RetryBackoff: hmBackoff, MaxBackoff: hmBackoff, Retain: hmRetain,
		RetainJobs: hmRetainJobs, History: h.history, HistoryJobs: hmHistoryJobs, Logger: logger}
	if h.bolt {
		cfg.Store, cfg.DataDir = master.StoreBolt, h.dir
	}
	cfg = master.OnClock(cfg, h.fc)
	// The address may still be held by the master before it (a restart).
	testproc.PollErr(h.t, hmWait, fmt.Sprintf("seed %d: start the master on %s", h.seed, listen), func() error {
		m, err := master.New(cfg)
		if err == nil {
			err = m.Start()
		}
		if err == nil {
			h.m, h.addr = m, m.Addr()
		}
		return err
	})
	m := h.m
	h.t.Cleanup(func() { m.Close() })
	select {
	case <-m.Ready():
	case <-m.Failed():
		h.fail("the master failed to load its store: %v", m.Err())
	case <-time.After(hmWait):
		h.fail("the master did not load its store within %s", hmWait)
	}
}

func (h *hm) log(format string, args ...any) {
	h.steps = append(h.steps, fmt.Sprintf("[%s] ", hmClock(h.fc.Now()))+fmt.Sprintf(format, args...))
}

func (h *hm) fail(format string, args ...any) {
	h.t.Helper()
	steps := h.steps[max(len(h.steps)-30, 0):]
	h.t.Fatalf("seed %d (bolt store: %v, history %s): %s\nreplay: %s\nsteps (last %d of %d, [master's clock]):\n  %s",
		h.seed, h.bolt, h.history, fmt.Sprintf(format, args...), h.replay, len(steps), len(h.steps), strings.Join(steps, "\n  "))
}

// hmTB fails the test as h.fail does, for testproc.PollErr.
type hmTB struct {
	*testing.T
	h *hm
}

func (tb hmTB) Fatalf(format string, args ...any) {
	tb.Helper()
	tb.h.fail(format, args...)
}

func hmCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), hmWait)
}

var hmSteps = []struct {
	weight int
	run    func(*hm)
}{
	{20, (*hm).stepSubmit}, {10, (*hm).stepTick}, {5, (*hm).stepSweep}, {8, (*hm).stepRetry},
	{6, (*hm).stepCancel}, {5, (*hm).stepPurge}, {7, (*hm).stepWait}, {7, (*hm).stepGet},
	{7, (*hm).stepList}, {3, func(h *hm) { h.stepCounts(h.c.intn(2) == 0) }}, {3, (*hm).stepRestart},
}

func (h *hm) step() {
	total := 0
	for _, s := range hmSteps {
		total += s.weight
	}
	n := h.c.intn(total)
	for _, s := range hmSteps {
		if n -= s.weight; n < 0 {
			s.run(h)
			return
		}
	}
}

// The model's rules.

// mayBeDeleted says whether history may have deleted final job j: README,
// the table: a finished job is on disk "for `history` after it finished
// (...), and at most `history_jobs` of them", "the ones that finished
// first leave first" (master.toml). So it may be gone once it is history
// old, or once history_jobs other jobs finished at or after it (each
// counted once, by its latest finish, purged ones too: they may have been
// there when the sweep ran). Otherwise it must be found.
func (h *hm) mayBeDeleted(j *hmJob) bool {
	if !j.finished.Add(h.history).After(h.fc.Now()) {
		return true
	}
	n := 0
	for _, k := range h.order {
		if k != j && !k.lastEnd.IsZero() && !k.lastEnd.Before(j.finished) {
			n++
		}
	}
	return n >= hmHistoryJobs
}

// mustBeThere says why job j must be found ("" when it may be gone).
func (h *hm) mustBeThere(j *hmJob) string {
	switch {
	case j.gone != "":
		return ""
	case !j.final:
		// README, the table: "pending and running jobs | always | always".
		return "it is " + string(j.state) + " (README: pending and running jobs are kept always, in memory and on disk)"
	case !h.mayBeDeleted(j):
		return fmt.Sprintf("it finished at %s, less than history (%s) ago, and fewer than history_jobs (%d) jobs finished at or after it "+
			"(README: a finished job stays on disk for history after it finished, at most history_jobs of them; the ones that finished first leave first)",
			hmClock(j.finished), h.history, hmHistoryJobs)
	}
	return ""
}

// waiting says whether job j must stay pending until the clock moves or
// the driver acts: no worker has its type, or its retry's backoff ends
// after now.
func (h *hm) waiting(j *hmJob) bool {
	return j.gone == "" && !j.final && j.pending && (j.typ == hmIdle || j.notBefore.After(h.fc.Now()))
}

// stable says whether job j cannot change until the driver acts.
func (h *hm) stable(j *hmJob) bool { return j.gone == "" && (j.final || h.waiting(j)) }

func hmClock(t time.Time) string { return t.Format("15:04:05.000") }

func (j *hmJob) String() string {
	s := fmt.Sprintf("job %s (%s, retries %d, %s, %d attempts", j.id, j.typ, j.retries, j.state, j.attempts)
	if j.final {
		s += ", finished " + hmClock(j.finished)
	}
	if j.gone != "" {
		s += ", deleted by " + j.gone
	}
	return s + ")"
}

func hmShow(g *jobs.Job) string {
	s := fmt.Sprintf("%s #%d [", g.State, g.Attempt)
	for _, a := range g.Attempts {
		s += fmt.Sprintf(" %d:%s", a.N, a.Outcome)
	}
	s += fmt.Sprintf(" ] not_before %s updated %s", hmClock(g.NotBefore), hmClock(g.Updated))
	if n := len(g.Attempts); n > 0 {
		s += " last attempt ended " + hmClock(g.Attempts[n-1].Ended)
	}
	return s
}

// see checks one read of job j (get_job, a listing's item) against the
// model and learns from it.
func (h *hm) see(j *hmJob, g *jobs.Job, err error, via string) {
	h.t.Helper()
	switch {
	case errors.Is(err, dc.ErrNotFound):
		if j.gone != "" {
			return
		}
		if why := h.mustBeThere(j); why != "" {
			h.fail("%s: %s not found; it must be: %s", via, j, why)
		}
		j.gone = "history"
		h.swept++
		return
	case err != nil:
		h.fail("%s: %s: %v", via, j, err)
	}
	if j.gone != "" {
		// docs/protocol.md, purge_jobs: "get_job then answers fault 2 for
		// them and list_jobs no longer lists them"; README: job IDs are
		// never handed out twice.
		h.fail("%s: %s was deleted, and is there again: %s", via, j, hmShow(g))
	}
	if g.ID != j.id || g.Spec.Type != j.typ || g.Spec.Retries != j.retries {
		h.fail("%s: %s reads as job %s of type %s, retries %d", via, j, g.ID, g.Spec.Type, g.Spec.Retries)
	}
	if len(g.Attempts) < j.attempts || g.Attempt < j.lease {
		h.fail("%s: %s: attempts went down to %d (lease %d, was %d): %s", via, j, len(g.Attempts), g.Attempt, j.lease, hmShow(g))
	}
	j.attempts, j.lease = len(g.Attempts), g.Attempt
	if j.final {
		// A final job changes only by the driver's retry.
		if g.State != j.state || len(g.Attempts) != j.wantAttempts {
			h.fail("%s: %s is now %s: %s", via, j, g.State, hmShow(g))
		}
		return
	}
	j.state = g.State
	if g.State.Final() {
		// README, "A job's life": an attempt that fails is retried while
		// retries allow; an "ok" job succeeds at its first attempt.
		if g.State != j.want || len(g.Attempts) != j.wantAttempts {
			h.fail("%s: %s ended %s with %d attempts; want %s with %d: %s", via, j, g.State, len(g.Attempts), j.want, j.wantAttempts, hmShow(g))
		}
		last := g.Attempts[len(g.Attempts)-1]
		if g.State == jobs.Succeeded && (last.Outcome != jobs.OK || last.Output != j.id) ||
			g.State == jobs.Failed && (last.Outcome != jobs.Error || !strings.Contains(last.Error, "fail "+j.id)) {
			h.fail("%s: %s: its last attempt is %+v", via, j, last)
		}
		j.final, j.finished, j.lastEnd, j.pending = true, h.fc.Now(), h.fc.Now(), false
		return
	}
	if j.typ == hmIdle && (g.State != jobs.Pending || len(g.Attempts) != j.wantAttempts) {
		h.fail("%s: %s, which no worker can run, is %s", via, j, hmShow(g))
	}
	j.pending, j.notBefore = g.State == jobs.Pending, g.NotBefore
}

func (h *hm) get(j *hmJob, via string) {
	h.t.Helper()
	ctx, cancel := hmCtx()
	defer cancel()
	info, err := h.cl.Job(ctx, j.id)
	h.see(j, &info.Job, err, via)
}

// settle waits until every job that can move without the driver has
// settled: final, or waiting (no worker has its type, or its backoff ends
// after now).
func (h *hm) settle(why string) {
	h.t.Helper()
	testproc.PollErr(hmTB{h.t, h}, hmWait, fmt.Sprintf("every job final or waiting (%s)", why), func() error {
		var left []string
		for _, j := range h.order {
			if j.gone == "" && !j.final {
				h.get(j, "settle")
				if !h.waiting(j) {
					left = append(left, j.String())
				}
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("%d jobs left: %v", len(left), left[:min(len(left), 5)])
		}
		return nil
	})
}

// quiesce settles every job, then submits an "idle" job: a submit ends
// the commit linger of the results reported (README, "Delivery
// guarantee": "the next submit, or anyone else waiting, ends the
// linger"), which would otherwise wait for the fake clock, and so would a
// finished job's leaving memory ("never before its outcome is on disk"):
// once the clock moves, every job that finished before is free to leave
// memory, and then the disk, in the order they finished.
func (h *hm) quiesce(why string) {
	h.t.Helper()
	h.settle(why)
	h.submit([]jobs.Spec{{Type: hmIdle}})
	h.steps[len(h.steps)-1] += " (to end the commit linger)"
}

// release moves the clock to target once the dispatcher waits for the
// soonest retry due by then (so that its timer is not late by the move:
// master.FakeClock).
func (h *hm) release(target time.Time) {
	h.t.Helper()
	var soonest *hmJob
	for _, j := range h.order {
		if h.waiting(j) && j.typ != hmIdle && !j.notBefore.After(target) && (soonest == nil || j.notBefore.Before(soonest.notBefore)) {
			soonest = j
		}
	}
	if soonest != nil {
		nb := soonest.notBefore
		testproc.PollErr(hmTB{h.t, h}, hmWait, "the dispatcher's timer for the retry of "+soonest.String()+" at "+hmClock(nb), func() error {
			if _, ok := h.fc.TimerIn(nb, nb.Add(dispatchSlack)); ok {
				return nil
			}
			// A timer before it (the dispatcher's for a job cancelled since,
			// say): move there, and the dispatcher arms the next one. No
			// job runs meanwhile: nb is the soonest retry.
			if at, ok := h.fc.TimerIn(h.fc.Now(), nb.Add(-time.Nanosecond)); ok {
				h.fc.AdvanceTo(at)
				return fmt.Errorf("moved to an earlier timer, at %s", hmClock(at))
			}
			return errors.New("no timer")
		})
	}
	h.fc.AdvanceTo(target)
}

// resolve reads every final job that may still be there, and returns
// those found.
func (h *hm) resolve(via string) map[*hmJob]bool {
	h.t.Helper()
	there := map[*hmJob]bool{}
	for _, j := range h.order {
		if j.gone == "" && j.final {
			h.get(j, via)
			if j.gone == "" {
				there[j] = true
			}
		}
	}
	return there
}

// The steps.

// stepSubmit submits 1 to 80 jobs: "ok" and "fail" with 0 or 1 retries,
// and a few "idle".
func (h *hm) stepSubmit() {
	specs := make([]jobs.Spec, 1+h.c.intn(80))
	for i := range specs {
		specs[i] = jobs.Spec{Type: []string{hmOK, hmFail, hmOK, hmFail, hmOK, hmFail, hmIdle}[h.c.intn(7)], Retries: h.c.intn(2)}
	}
	h.submit(specs)
}

func (h *hm) submit(specs []jobs.Spec) {
	n := len(specs)
	ctx, cancel := hmCtx()
	defer cancel()
	ids, err := h.cl.Submit(ctx, specs...)
	if err != nil || len(ids) != n {
		h.fail("submit %d specs: %d IDs, %v", n, len(ids), err)
	}
	for i, id := range ids {
		// README: "Job IDs are never handed out twice, even after damage or
		// salvage".
		if old := h.jobs[id]; old != nil || h.never[id] {
			h.fail("submit: spec %d got ID %s, handed out before: %v (asked for as unknown: %v)", i, id, old, h.never[id])
		}
		j := &hmJob{id: id, seq: len(h.order), typ: specs[i].Type, retries: specs[i].Retries, state: jobs.Pending}
		switch j.typ {
		case hmOK:
			j.want, j.wantAttempts = jobs.Succeeded, 1
		case hmFail:
			j.want, j.wantAttempts = jobs.Failed, j.retries+1
		default:
			j.want = jobs.Pending
		}
		h.jobs[id], h.order = j, append(h.order, j)
	}
	h.log("submit %d jobs: %s..%s", n, ids[0], ids[n-1])
}

// stepTick moves the clock by 1 to 15 s: retries come due, finished jobs
// pass retain (1 s), and the sweep may run if a minute boundary passes.
func (h *hm) stepTick() {
	h.quiesce("before a tick")
	d := time.Second + time.Duration(h.c.intn(14000))*time.Millisecond
	h.release(h.fc.Now().Add(d))
	h.log("tick +%s", d)
}

// stepSweep lets every retry due run, then moves the clock by a minute or
// more, so that the sweep runs (README: "The master deletes finished jobs
// from the disk once a minute"). It deletes finished jobs older than
// history, and the excess over history_jobs, the ones that finished
// first, and nothing else. A job still in memory when a sweep runs may
// wait for the next one (on the fake clock the memory's own bound and the
// sweep come due at the same moment), so what must be gone is what was
// already due two sweeps ago: finished before that sweep, and older than
// history then.
func (h *hm) stepSweep() {
	for range 5 {
		h.quiesce("before a sweep")
		var last time.Time
		for _, j := range h.order {
			if h.waiting(j) && j.typ != hmIdle && j.notBefore.After(last) {
				last = j.notBefore
			}
		}
		if last.IsZero() {
			break
		}
		h.release(last)
	}
	before := h.resolve("before a sweep")
	d := hmSweepEvery + time.Duration(h.c.intn(15000))*time.Millisecond
	now := h.fc.Now().Add(d)
	var cut time.Time // jobs that finished before it have surely left memory
	if n := len(h.sweepTimes); n >= 2 {
		cut = h.sweepTimes[n-2]
	}
	var keep []*hmJob // younger than history
	for j := range before {
		if j.finished.Add(h.history).After(now) {
			keep = append(keep, j)
		}
	}
	h.fc.AdvanceTo(now)
	h.sweepTimes = append(h.sweepTimes, now)
	h.log("sweep +%s: %d finished jobs there, %d younger than history", d, len(before), len(keep))
	// The sweep may take several steps: poll until what is there obeys
	// every rule. Deletions cannot be undone, so a rule broken for good
	// (a job deleted too soon) fails at the deadline.
	var after map[*hmJob]bool
	testproc.PollErr(hmTB{h.t, h}, hmWait, fmt.Sprintf("the sweep after a move of %s (README: once a minute)", d), func() error {
		after = h.resolve("during a sweep")
		for j := range after {
			if !before[j] {
				h.fail("after the sweep, %s is there; it was not before", j)
			}
			if !j.finished.Before(cut) {
				continue
			}
			if end := j.finished.Add(h.history); end.Before(cut) && !h.heldBack(j, before, now) {
				return fmt.Errorf("%s is there; it was older than history (%s) already at the sweep of %s", j, h.history, hmClock(cut))
			}
			n := 0
			for k := range after {
				if !k.finished.Before(j.finished) {
					n++
				}
			}
			if n > hmHistoryJobs {
				return fmt.Errorf("%s is there, with %d finished jobs that finished at or after it; history_jobs is %d", j, n-1, hmHistoryJobs)
			}
		}
		// What history deletes beyond its age is the excess over
		// history_jobs, the jobs that finished first (README, master.toml).
		var young []string
		for _, j := range keep {
			if !after[j] {
				young = append(young, j.String())
			}
		}
		if len(keep)-len(young) < min(len(keep), hmHistoryJobs) {
			return fmt.Errorf("%d of the %d finished jobs younger than history are there; want all of them up to history_jobs (%d); deleted: %v",
				len(keep)-len(young), len(keep), hmHistoryJobs, young)
		}
		for g := range before {
			if after[g] || !g.finished.Add(h.history).After(now) {
				continue
			}
			for k := range after {
				if k.finished.Before(g.finished) {
					return fmt.Errorf("%s was deleted, younger than history, while %s, which finished before it, stays (the ones that finished first leave first)", g, k)
				}
			}
		}
		return nil
	})
	var gone []*hmJob
	for j := range before {
		if !after[j] {
			gone = append(gone, j)
		}
	}
	h.log("sweep: %d deleted, %d left", len(gone), len(after))
	h.stepCounts(false)
}

// heldBack says whether the sweep at now may keep j, older than history,
// behind a job before it (README, the history row: the sweep stops at the
// first finished job younger than history, which holds back the IDs after
// it): a job submitted before j, finished and younger than history at now.
func (h *hm) heldBack(j *hmJob, before map[*hmJob]bool, now time.Time) bool {
	for k := range before {
		if k.seq < j.seq && k.final && k.finished.Add(h.history).After(now) {
			return true
		}
	}
	return false
}

func hmFinished(c map[jobs.State]int) int {
	return c[jobs.Succeeded] + c[jobs.Failed] + c[jobs.Cancelled]
}

// stepCounts: once every job has settled, the counts by state (README:
// "The counts of jobs by state (drover status, /metrics) count every job
// on disk"; master.Counts: "those on disk only included") are the model's:
// every live job, and between the final jobs that must be there and those
// that may be. After resolve, that is one number.
func (h *hm) stepCounts(resolve bool) {
	h.settle("before counting")
	if resolve {
		h.resolve("before counting")
	}
	got := h.m.Counts()
	ctx, cancel := hmCtx()
	defer cancel()
	st, err := h.cl.Status(ctx)
	if err != nil {
		h.fail("status: %v", err)
	}
	for _, s := range []jobs.State{jobs.Pending, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Cancelled} {
		if got[s] != st.Counts[s] {
			h.fail("Counts %v, get_master_status counts %v", got, st.Counts)
		}
	}
	lo, hi := map[jobs.State]int{}, map[jobs.State]int{}
	for _, j := range h.order {
		if j.gone != "" {
			continue
		}
		hi[j.state]++
		if h.mustBeThere(j) != "" {
			lo[j.state]++
		}
	}
	for _, s := range []jobs.State{jobs.Pending, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Cancelled} {
		if got[s] < lo[s] || got[s] > hi[s] {
			h.fail("counts by state %v; the model has, for each state, from %v to %v", got, lo, hi)
		}
	}
	h.log("counts %v (resolved: %v)", got, resolve)
}

// jobsWhere returns the jobs f selects.
func (h *hm) jobsWhere(f func(*hmJob) bool) []*hmJob {
	var js []*hmJob
	for _, j := range h.order {
		if f(j) {
			js = append(js, j)
		}
	}
	return js
}

// pickOld picks one of js, an old one half of the time (most have left
// memory: retain_jobs is 100).
func (h *hm) pickOld(js []*hmJob) *hmJob {
	if len(js) == 0 {
		return nil
	}
	if h.c.intn(2) == 0 {
		return js[h.c.intn(len(js)/2+1)]
	}
	return js[h.c.intn(len(js))]
}

// stepRetry retries a failed or cancelled job, in memory or only on disk
// (master.Retry: "puts a failed or cancelled job back to pending";
// README: "a retry brings it back into memory"), or a job it refuses:
// ErrConflict for another state, rpcapi.ErrNotFound for a deleted job.
func (h *hm) stepRetry() {
	var j *hmJob
	switch h.c.intn(10) {
	case 0, 1:
		j = h.pickOld(h.jobsWhere(func(j *hmJob) bool { return j.final && j.gone == "" && j.state == jobs.Succeeded }))
	case 2:
		j = h.pickOld(h.jobsWhere(func(j *hmJob) bool { return j.gone != "" }))
	case 3:
		j = h.pickOld(h.jobsWhere(h.waiting))
	}
	if j == nil {
		j = h.pickOld(h.jobsWhere(func(j *hmJob) bool {
			return j.final && j.gone == "" && (j.state == jobs.Failed || j.state == jobs.Cancelled)
		}))
	}
	if j == nil {
		h.log("retry: no job")
		return
	}
	ctx, cancel := hmCtx()
	defer cancel()
	err := h.m.Retry(ctx, j.id)
	h.log("retry %s: %v", j, err)
	switch {
	case j.gone != "":
		if !errors.Is(err, rpcapi.ErrNotFound) {
			h.fail("retry of %s: %v; want not found", j, err)
		}
		return
	case errors.Is(err, rpcapi.ErrNotFound):
		h.see(j, nil, dc.ErrNotFound, "retry")
		return
	case !j.final || j.state == jobs.Succeeded:
		if !errors.Is(err, master.ErrConflict) {
			h.fail("retry of %s: %v; want ErrConflict (master.Retry: a job in any other state than failed or cancelled)", j, err)
		}
		return
	case err != nil:
		h.fail("retry of %s: %v", j, err)
	}
	// docs/api.md, retry: "its retry budget is not renewed: a job that
	// failed after using up its retries gets one more attempt (...) A
	// cancelled job that had not failed before has its whole budget."
	fails := 0
	if j.typ == hmFail {
		fails = j.attempts // every attempt of a "fail" job fails
	}
	j.final, j.pending, j.state = false, false, jobs.Pending
	switch j.typ {
	case hmOK:
		j.want, j.wantAttempts = jobs.Succeeded, j.attempts+1
	case hmFail:
		j.want, j.wantAttempts = jobs.Failed, j.attempts+max(1, j.retries+1-fails)
	default:
		j.want, j.wantAttempts = jobs.Pending, j.attempts
	}
	// master.Retry "returns once the change is durable": the job is no
	// longer what it was.
	h.get(j, "get_job after its retry")
}

// stepCancel cancels up to three jobs: waiting ones (cancelled), final
// ones ("ID: already STATE") and deleted ones ("ID: no such job")
// (docs/protocol.md, cancel_jobs).
func (h *hm) stepCancel() {
	var js []*hmJob
	for range 1 + h.c.intn(3) {
		var j *hmJob
		switch h.c.intn(6) {
		case 0:
			j = h.pickOld(h.jobsWhere(func(j *hmJob) bool { return j.final && h.mustBeThere(j) != "" }))
		case 1:
			j = h.pickOld(h.jobsWhere(func(j *hmJob) bool { return j.gone != "" }))
		default:
			j = h.pickOld(h.jobsWhere(h.waiting))
		}
		if j != nil && !slices.Contains(js, j) {
			js = append(js, j)
		}
	}
	if len(js) == 0 {
		h.log("cancel: no job")
		return
	}
	ids := make([]string, len(js))
	for i, j := range js {
		ids[i] = j.id
	}
	ctx, cancel := hmCtx()
	defer cancel()
	r, err := h.cl.Cancel(ctx, ids...)
	if err != nil {
		h.fail("cancel %v: %v", ids, err)
	}
	h.log("cancel %v: cancelled %v, errors %v", ids, r.IDs, r.Errors)
	for _, j := range js {
		var ok bool
		switch {
		case j.gone != "":
			ok = slices.Contains(r.Errors, j.id+": no such job")
		case j.final:
			ok = slices.Contains(r.Errors, j.id+": already "+string(j.state))
		default:
			ok = slices.Contains(r.IDs, j.id)
			j.final, j.state, j.want, j.wantAttempts = true, jobs.Cancelled, jobs.Cancelled, j.attempts
			j.finished, j.lastEnd, j.pending = h.fc.Now(), h.fc.Now(), false
		}
		if !ok {
			h.fail("cancel %v: cancelled %v, errors %v; wrong for %s", ids, r.IDs, r.Errors, j)
		}
	}
	for _, j := range js {
		h.get(j, "get_job after cancel")
	}
}

// stepPurge deletes the finished jobs a random filter selects, through
// master.Purge (state, type, before) or purge_jobs (state, type,
// older_than). The count is between the jobs that must be there and those
// that may be; then every one of them is gone (docs/protocol.md,
// purge_jobs: "get_job then answers fault 2 for them and list_jobs no
// longer lists them").
func (h *hm) stepPurge() {
	h.settle("before a purge")
	var ends []time.Time
	for _, j := range h.order {
		if j.final && j.gone == "" && !slices.Contains(ends, j.finished) {
			ends = append(ends, j.finished)
		}
	}
	if len(ends) == 0 {
		h.log("purge: no finished job")
		return
	}
	now := h.fc.Now()
	state := []jobs.State{"", "", jobs.Succeeded, jobs.Failed, jobs.Cancelled}[h.c.intn(5)]
	typ := []string{"", "", hmOK, hmFail, hmIdle}[h.c.intn(5)]
	// before: a finish time, or a millisecond either side of it.
	var before time.Time
	if h.c.intn(3) > 0 || state == "" && typ == "" {
		before = ends[h.c.intn(len(ends))].Add(time.Duration(h.c.intn(3)-1) * time.Millisecond)
	}
	selects := func(j *hmJob) bool {
		return j.final && j.gone == "" && (state == "" || j.state == state) && (typ == "" || j.typ == typ) &&
			(before.IsZero() || j.finished.Before(before))
	}
	var n int
	var err error
	ctx, cancel := hmCtx()
	defer cancel()
	desc := fmt.Sprintf("state %q type %q", state, typ)
	if h.c.intn(2) == 0 || before.IsZero() || !before.Before(now) {
		// master.PurgeFilter: "Before, when set, keeps jobs that finished at
		// or after it."
		desc += " before " + hmClock(before)
		n, err = h.m.Purge(ctx, master.PurgeFilter{State: state, Type: typ, Before: before})
	} else {
		// docs/protocol.md, purge_jobs: older_than, "only jobs that
		// finished more than this long ago".
		desc += fmt.Sprintf(" older_than %s", now.Sub(before))
		n, err = h.cl.Purge(ctx, dc.PurgeFilter{State: state, Type: typ, OlderThan: now.Sub(before)})
	}
	var sel []*hmJob
	lo := 0
	for _, j := range h.order {
		if selects(j) {
			sel = append(sel, j)
			if h.mustBeThere(j) != "" {
				lo++
			}
		}
	}
	h.log("purge %s: %d (model: %d to %d)", desc, n, lo, len(sel))
	if err != nil || n < lo || n > len(sel) {
		h.fail("purge %s: %d, %v; the model has %d finished jobs it selects, %d of which must be there", desc, n, err, len(sel), lo)
	}
	for _, j := range sel {
		j.gone = "purged"
		h.purged++
	}
	for _, j := range sel {
		h.get(j, "get_job after purge "+desc)
	}
	// The jobs it does not select stay, live ones above all.
	for range 10 {
		if j := h.pickOld(h.jobsWhere(func(j *hmJob) bool { return h.mustBeThere(j) != "" })); j != nil {
			h.get(j, "get_job after purge "+desc)
		}
	}
}

// stepWait waits on up to five jobs (docs/protocol.md, wait_jobs; client
// Wait): final ones, live ones that finish without a retry's backoff,
// now and then a waiting one (not done) or a deleted or unknown one
// (ErrNotFound). Once done, get_job shows each one final, as counted.
func (h *hm) stepWait() {
	var js []*hmJob
	var unknown string
	for range 1 + h.c.intn(5) {
		var j *hmJob
		switch h.c.intn(12) {
		case 0:
			j = h.pickOld(h.jobsWhere(h.waiting))
		case 1:
			j = h.pickOld(h.jobsWhere(func(j *hmJob) bool { return j.gone != "" }))
		case 2:
			unknown = h.unknownID()
		case 3, 4, 5, 6:
			// Live jobs that end without waiting for a backoff: "ok" ones,
			// and "fail" ones with one attempt left that have not failed
			// yet, or that are ready (retried by request).
			now := h.fc.Now()
			j = h.pickOld(h.jobsWhere(func(j *hmJob) bool {
				return j.gone == "" && !j.final && (j.typ == hmOK || j.typ == hmFail && j.wantAttempts-j.attempts == 1 &&
					(j.attempts == 0 || j.pending && !j.notBefore.After(now)))
			}))
		default:
			j = h.pickOld(h.jobsWhere(func(j *hmJob) bool { return j.final && j.gone == "" }))
		}
		if j != nil && !slices.Contains(js, j) {
			js = append(js, j)
		}
	}
	ids := []string{}
	gone, held, maybe := unknown != "", false, false
	for _, j := range js {
		ids = append(ids, j.id)
		gone = gone || j.gone != ""
		held = held || h.waiting(j)
		maybe = maybe || j.final && h.mustBeThere(j) == ""
	}
	if unknown != "" {
		ids = append(ids, unknown)
	}
	if len(ids) == 0 {
		h.log("wait: no job")
		return
	}
	d := hmWait
	if held {
		d = 300 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r, err := h.cl.Wait(ctx, ids...)
	h.log("wait %v: done %v counts %v failed %v, %v", ids, r.Done, r.Counts, r.Failed, err)
	switch {
	case gone:
		if !errors.Is(err, dc.ErrNotFound) {
			h.fail("wait %v, one of them deleted or never made: %+v, %v; want not found", ids, r, err)
		}
		return
	case maybe && errors.Is(err, dc.ErrNotFound):
		for _, j := range js {
			h.get(j, "get_job after a wait said not found")
		}
		if !slices.ContainsFunc(js, func(j *hmJob) bool { return j.gone != "" }) {
			h.fail("wait %v: not found, and get_job finds every one", ids)
		}
		return
	case held:
		if r.Done || !errors.Is(err, context.DeadlineExceeded) {
			h.fail("wait %v, one of them held pending: %+v, %v; want not done when ctx ends", ids, r, err)
		}
		for _, j := range js {
			h.get(j, "get_job after a wait")
		}
		return
	case err != nil || !r.Done:
		h.fail("wait %v: %+v, %v; want done", ids, r, err)
	}
	// Done: every job is final, and the counts and failed list are theirs.
	counts, failed := map[jobs.State]int{}, []string{}
	for _, j := range js {
		h.get(j, "get_job after wait said done")
		if !j.final {
			h.fail("wait %v said done; %s is not final", ids, j)
		}
		counts[j.state]++
		if j.state != jobs.Succeeded {
			failed = append(failed, j.id)
		}
	}
	if !maps.Equal(counts, r.Counts) || !hmSameSet(failed, r.Failed) {
		h.fail("wait %v: counts %v failed %v; get_job says %v and %v", ids, r.Counts, r.Failed, counts, failed)
	}
}

func hmSameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// unknownID returns an ID no submit returned (job IDs are handed out
// from 1 up; the driver makes far fewer than a billion).
func (h *hm) unknownID() string {
	for {
		id := strconv.Itoa(1_000_000_000 + h.c.intn(1_000_000))
		if h.jobs[id] == nil {
			h.never[id] = true
			return id
		}
	}
}

// stepGet reads jobs by ID: known ones (each must read as the model
// says: found with its state and attempts, unless it may have left the
// store), deleted ones and unknown ones (rpcapi.ErrNotFound).
func (h *hm) stepGet() {
	var got []string
	for range 3 + h.c.intn(8) {
		var j *hmJob
		if h.c.intn(5) == 0 {
			j = h.pickOld(h.jobsWhere(func(j *hmJob) bool { return j.gone != "" }))
		}
		if j == nil && len(h.order) > 0 {
			j = h.pickOld(h.order)
		}
		if j != nil {
			h.get(j, "get_job")
			got = append(got, j.id)
		}
	}
	id := h.unknownID()
	ctx, cancel := hmCtx()
	defer cancel()
	if info, err := h.cl.Job(ctx, id); !errors.Is(err, dc.ErrNotFound) {
		h.fail("get_job of %s, which no submit returned: %+v, %v; want not found", id, info.Job, err)
	}
	h.log("get %v and unknown %s", got, id)
}

func (h *hm) stepList() {
	st := []jobs.State{"", "", jobs.Pending, jobs.Succeeded, jobs.Failed, jobs.Cancelled}[h.c.intn(6)]
	h.list(st, []dc.Order{dc.OldestFirst, dc.NewestFirst}[h.c.intn(2)], 1+h.c.intn(150))
}

// list walks a listing filtered by state, page by page. docs/api.md,
// Paging: "Items present when you read the first page, and still there,
// come exactly once"; docs/protocol.md, list_jobs: "Without group the
// order is by submission (job ID)"; README: listings read the disk, so
// jobs that left memory are listed too, until they leave the disk.
func (h *hm) list(st jobs.State, order dc.Order, size int) {
	// The jobs that must come: those that cannot change until the driver
	// acts, that must be there, of the state.
	var must []*hmJob
	for _, j := range h.order {
		if h.stable(j) && h.mustBeThere(j) != "" && (st == "" || j.state == st) {
			must = append(must, j)
		}
	}
	seen := map[string]int{}
	last, pages, cursor := -1, 0, ""
	desc := fmt.Sprintf("list_jobs state %q order %s limit %d", st, map[dc.Order]string{dc.OldestFirst: "asc", dc.NewestFirst: "desc"}[order], size)
	for {
		ctx, cancel := hmCtx()
		p, err := h.cl.JobsPage(ctx, dc.Query{State: st, Order: order, PageSize: size, Cursor: cursor})
		cancel()
		if err != nil {
			h.fail("%s, page %d: %v", desc, pages, err)
		}
		for i := range p.Jobs {
			g := &p.Jobs[i]
			j := h.jobs[g.ID]
			if j == nil {
				h.fail("%s, page %d: job %s, which no submit returned", desc, pages, g.ID)
			}
			if seen[g.ID]++; seen[g.ID] > 1 {
				h.fail("%s, page %d: %s a second time", desc, pages, j)
			}
			if last >= 0 && (order == dc.OldestFirst) != (j.seq > last) {
				h.fail("%s, page %d: %s after job %s", desc, pages, j, h.order[last].id)
			}
			last = j.seq
			if st != "" && g.State != st && h.stable(j) {
				h.fail("%s: %s listed as %s", desc, j, g.State)
			}
			h.see(j, g, nil, desc)
		}
		if pages++; p.Next == "" {
			break
		}
		if pages > 10*len(h.order)+10 {
			h.fail("%s: %d pages, and a next cursor still", desc, pages)
		}
		cursor = p.Next
	}
	for _, j := range must {
		if seen[j.id] != 1 {
			h.fail("%s: %s listed %d times; want once: %s", desc, j, seen[j.id], h.mustBeThere(j))
		}
	}
	h.log("%s: %d jobs in %d pages, %d of them required", desc, len(seen), pages, len(must))
}

// stepRestart stops the master and starts a new one on the same address,
// data dir and clock (bolt store only): README, "A master restarted keeps
// in memory only what the table above says", and every job stays on
// disk; workers register again by themselves.
func (h *hm) stepRestart() {
	if !h.bolt {
		h.log("restart: memory store")
		return
	}
	h.settle("before a restart")
	if err := h.m.Close(); err != nil {
		h.fail("close the master: %v", err)
	}
	h.start(h.addr)
	h.restarts++
	for _, j := range h.order {
		j.pending = false
	}
	h.log("restart the master")
}

// spotCheck reads a few jobs after every step.
func (h *hm) spotCheck() {
	for range 4 {
		if j := h.pickOld(h.order); j != nil {
			h.get(j, "spot check")
		}
	}
}
