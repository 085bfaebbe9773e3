package worker

// TestReportModel checks the worker's side of task_complete against the
// contract (docs/protocol.md: "task_complete", "Heartbeats and
// reconciliation", "A worker's duty, step by step"): a real Worker runs
// against a fake master on loopback, on both transports, that plays by the
// contract but makes every choice from a seed: it hands out tasks by
// assign_task or in a reply (want), answers a task_complete before its
// outcomes are on disk (commit > 0) or after (commit 0), fails calls, and
// restarts, losing every outcome not yet durable. The checks:
//
//  1. nothing lost: after Shutdown every job the worker took has exactly
//     one outcome on the fake's disk, the one its handler returned;
//  2. the worker lists what it holds (heartbeat, register_worker
//     running) until it is on disk or named in cancel;
//  3. no report or listing for an attempt the fake never gave, and want
//     never above the slots;
//  4. Shutdown returns nil and the worker holds nothing after it.
//
// DROVER_WMODEL_SEED=7 replays one seed (the fake's choices; the timing
// of the goroutines is the machine's); DROVER_WMODEL_SEEDS=200 runs more
// (default 20); DROVER_WMODEL_LOG=1 logs the worker to stderr.
//
// A bug it found (seed 1 on both transports): a task_complete answered
// early (commit > 0) whose reply reached the worker after it had
// registered again (the master restarted meanwhile and lost the outcome)
// was forgotten as if durable, so the new master never recorded it and
// ended the adopted lease as lost. send now sends such reports again
// under the new registration.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

func TestReportModel(t *testing.T) {
	var seeds []int64
	for i := range wmEnvInt("DROVER_WMODEL_SEEDS", 20) {
		seeds = append(seeds, int64(1+i))
	}
	if os.Getenv("DROVER_WMODEL_SEED") != "" {
		seeds = []int64{int64(wmEnvInt("DROVER_WMODEL_SEED", 0))}
	}
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		t.Run(transport, func(t *testing.T) {
			for _, seed := range seeds {
				t.Run(strconv.FormatInt(seed, 10), func(t *testing.T) {
					t.Parallel()
					runReportModel(t, seed, transport)
				})
			}
		})
	}
}

func wmEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

// wmType is the one job type of the model; a task's args say what its
// handler returns and how long it takes.
const wmType = "model"

// wmJob is one attempt the fake handed out, and what it knows of it.
type wmJob struct {
	ref  rpcapi.JobRef
	want rpcapi.Report // what the handler returns
	// handBeat is the fake's beat count when it handed the task out;
	// holdBeat the count when it first learned the worker holds it
	// (assign_task accepted it, a beat listed it, a report came), -1
	// before. A beat or registration whose count is two past it was
	// composed after that: it must list the attempt until it is durable.
	handBeat, holdBeat int
	revoked            bool // refused, or its assign_task failed: not the worker's
	lost               bool // handed out in a reply and never listed: ended as lost
	cancelled          bool // named in a register_worker reply's cancel
	history            []string
}

// note adds an event to the job's history, which a violation shows. The
// caller holds mu.
func (f *wmFake) note(id, format string, args ...any) {
	if j := f.jobs[id]; j != nil {
		j.history = append(j.history, fmt.Sprintf("[run %d beat %d] ", f.run, f.beats)+fmt.Sprintf(format, args...))
	}
}

// wmPending is an accepted outcome not yet on disk.
type wmPending struct {
	rep    rpcapi.Report
	commit int64
}

// wmFake is the fake master. Its choices come from rng; everything is
// guarded by mu.
type wmFake struct {
	seed  int64
	slots int

	mu      sync.Mutex
	rng     *rand.Rand
	run     int // bumps at each restart
	gen     int // registrations made
	id      string
	secret  string
	beats   int   // heartbeats and registrations received
	commit  int64 // this run's last commit number
	durable int64 // this run's commits up to it are on disk
	pending map[string]wmPending
	disk    map[string]rpcapi.Report
	jobs    map[string]*wmJob
	nextJob int
	calm    bool  // the end: no failures, restarts or new tasks
	term    int64 // the raft term its replies name (0: a single master)
	lostN   int
	early   int // replies before the disk
	repeats int // reports received again
	cancels int // attempts named in a register_worker reply's cancel
	errs    []string
}

func newWMFake(seed int64, slots int) *wmFake {
	return &wmFake{seed: seed, slots: slots, rng: rand.New(rand.NewPCG(uint64(seed), 11)),
		pending: make(map[string]wmPending), disk: make(map[string]rpcapi.Report), jobs: make(map[string]*wmJob)}
}

// violation records a broken invariant. The caller holds mu.
func (f *wmFake) violation(format string, args ...any) {
	if len(f.errs) < 20 {
		f.errs = append(f.errs, fmt.Sprintf(format, args...))
	}
}

// chance is true with probability 1/n, never once calm. The caller holds mu.
func (f *wmFake) chance(n int) bool { return !f.calm && f.rng.IntN(n) == 0 }

// restart forgets the worker and every outcome not on disk, as a master
// that comes back from a crash does; half the time its last commits reach
// the disk first, unconfirmed. The caller holds mu.
func (f *wmFake) restart() {
	if f.rng.IntN(2) == 0 {
		f.flush(f.commit)
	}
	f.run++
	f.id, f.secret = "", ""
	for id := range f.pending {
		f.note(id, "restart: outcome not on disk lost")
	}
	clear(f.pending)
	f.commit, f.durable = 0, 0 // commit numbers belong to one run
}

// newTasks makes up to n new tasks for the worker's free slots (slots less
// the attempts handed out and not yet reported). The caller holds mu.
func (f *wmFake) newTasks(n int) []rpcapi.Task {
	open := 0
	for id, j := range f.jobs {
		if _, done := f.disk[id]; !done && !j.revoked && !j.lost && !j.cancelled {
			if _, acc := f.pending[id]; !acc {
				open++
			}
		}
	}
	n = min(n, f.slots-open)
	var tasks []rpcapi.Task
	for range n {
		f.nextJob++
		id := strconv.Itoa(f.nextJob)
		attempt := 1 + f.rng.IntN(3)
		delay := 0
		if f.rng.IntN(2) == 0 {
			delay = f.rng.IntN(4000)
		}
		fail := f.rng.IntN(4) == 0
		want := rpcapi.Report{JobID: id, Attempt: attempt, Outcome: jobs.OK, Output: "out-" + id}
		if fail {
			want.Outcome, want.Output, want.Error = jobs.Error, "", "fail-"+id
		}
		f.jobs[id] = &wmJob{ref: rpcapi.JobRef{JobID: id, Attempt: attempt}, want: want, handBeat: f.beats, holdBeat: -1}
		f.note(id, "handed out to %s", f.id)
		tasks = append(tasks, rpcapi.Task{JobID: id, Attempt: attempt, Type: wmType,
			Args: map[string]string{"delay_us": strconv.Itoa(delay), "fail": strconv.FormatBool(fail)}})
	}
	return tasks
}

// known finds the attempt ref names, recording a violation when the fake
// never gave it. The caller holds mu.
func (f *wmFake) known(ref rpcapi.JobRef, where string) *wmJob {
	j := f.jobs[ref.JobID]
	if j == nil || j.ref != ref {
		f.violation("%s names job %s attempt %d, which the master never gave", where, ref.JobID, ref.Attempt)
		return nil
	}
	return j
}

// beat checks the list of a heartbeat or register_worker (invariant 2),
// and ends as lost the tasks handed out in a reply that two beats in a
// row left out. The caller holds mu.
func (f *wmFake) beat(listed []rpcapi.JobRef, where string) map[rpcapi.JobRef]bool {
	f.beats++
	in := make(map[rpcapi.JobRef]bool, len(listed))
	for _, ref := range listed {
		if j := f.known(ref, where); j != nil {
			in[ref] = true
			f.note(ref.JobID, "listed in %s", where)
			if j.holdBeat < 0 {
				j.holdBeat = f.beats
			}
		}
	}
	for id, j := range f.jobs {
		if _, done := f.disk[id]; done || in[j.ref] || j.revoked || j.lost || j.cancelled {
			continue
		}
		switch {
		case j.holdBeat >= 0 && f.beats >= j.holdBeat+2:
			f.violation("%s #%d leaves out job %s attempt %d, held since beat #%d and not on disk (pending: %v); its history:\n\t%s",
				where, f.beats, id, j.ref.Attempt, j.holdBeat, f.isPending(id), strings.Join(j.history, "\n\t"))
			j.holdBeat = f.beats // one violation per lapse
		case j.holdBeat < 0 && f.beats >= j.handBeat+2:
			j.lost = true // the worker refused it or never got it
			f.note(id, "lost")
			f.lostN++
		}
	}
	return in
}

func (f *wmFake) isPending(id string) bool { _, ok := f.pending[id]; return ok }

// flush moves the pending outcomes of commits up to d to disk. The caller
// holds mu.
func (f *wmFake) flush(d int64) {
	for id, p := range f.pending {
		if p.commit <= d {
			f.disk[id] = p.rep
			f.note(id, "on disk (commit %d, durable %d)", p.commit, d)
			delete(f.pending, id)
		}
	}
	f.durable = max(f.durable, d)
}

func (f *wmFake) Register(_ context.Context, a *rpcapi.RegisterArgs, r *rpcapi.RegisterReply) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gen > 0 && f.chance(8) { // not the first: its retry waits a second
		return rpcapi.ErrUnavailable
	}
	if a.Slots != f.slots {
		f.violation("register_worker with %d slots, configured %d", a.Slots, f.slots)
	}
	f.flush(f.commit) // a master may commit at any time
	f.beat(a.Running, "register_worker")
	for _, ref := range a.Running {
		if j := f.jobs[ref.JobID]; j == nil || j.ref != ref || j.revoked || j.lost {
			r.Cancel = append(r.Cancel, ref) // not leased to it
		} else if _, done := f.disk[ref.JobID]; done {
			r.Cancel = append(r.Cancel, ref) // recorded
			f.note(ref.JobID, "cancel in register reply")
			f.cancels++
			j.cancelled = true
		}
	}
	f.gen++
	f.id, f.secret = fmt.Sprintf("w%d-%d", f.run, f.gen), fmt.Sprintf("s%d", f.gen)
	r.WorkerID, r.Secret, r.HeartbeatInterval, r.Term = f.id, f.secret, 50*time.Millisecond, f.term
	return nil
}

// caller checks the worker ID and secret of a call. The caller holds mu.
func (f *wmFake) caller(id, secret, where string) error {
	if id == "" || id != f.id {
		return rpcapi.ErrUnknownWorker
	}
	if secret != f.secret {
		f.violation("%s for %s with secret %q, not the registration's", where, id, secret)
		return rpcapi.ErrUnauthorized
	}
	return nil
}

func (f *wmFake) Heartbeat(_ context.Context, a *rpcapi.HeartbeatArgs, r *rpcapi.HeartbeatReply) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.chance(10) {
		return rpcapi.ErrUnavailable
	}
	if a.WorkerID != f.id || f.id == "" {
		r.Status = rpcapi.BeatUnknown
		return nil
	}
	if err := f.caller(a.WorkerID, a.Secret, "heartbeat"); err != nil {
		return err
	}
	f.beat(a.Running, "heartbeat")
	r.Status, r.Term = rpcapi.BeatOK, f.term
	for _, ref := range a.Running {
		j := f.jobs[ref.JobID]
		if j == nil || j.ref != ref || j.revoked || j.lost || j.cancelled || f.isPending(ref.JobID) || f.disk[ref.JobID].JobID != "" {
			r.Cancel = append(r.Cancel, ref) // not leased to it (any more)
			f.note(ref.JobID, "cancel in heartbeat reply")
		}
	}
	return nil
}

func (f *wmFake) Complete(ctx context.Context, a *rpcapi.CompleteArgs, r *rpcapi.CompleteReply) error {
	slow, err := f.complete(a, r)
	if slow > 0 { // the reply is on its way: the fake may restart meanwhile
		select {
		case <-time.After(slow):
		case <-ctx.Done():
		}
	}
	return err
}

// complete is Complete, and how long its reply takes to leave.
func (f *wmFake) complete(a *rpcapi.CompleteArgs, r *rpcapi.CompleteReply) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var slow time.Duration
	if f.chance(4) {
		slow = time.Duration(f.rng.IntN(20_000)) * time.Microsecond
	}
	if f.chance(10) {
		return slow, rpcapi.ErrUnavailable
	}
	if err := f.caller(a.WorkerID, a.Secret, "task_complete"); err != nil {
		return slow, err
	}
	r.Term = f.term
	if a.Want < 0 || a.Want > f.slots {
		f.violation("task_complete with want %d, the worker has %d slots", a.Want, f.slots)
	}
	before := f.commit
	f.commit++ // the commit that holds this call's new outcomes
	for _, rep := range a.Reports {
		f.accept(rep)
	}
	if a.Want > 0 && !f.calm && f.rng.IntN(3) > 0 {
		r.Tasks = f.newTasks(1 + f.rng.IntN(a.Want))
	}
	if len(r.Tasks) == 0 {
		f.flush(f.commit) // late: once everything recorded is on disk
		r.Durable = f.durable
		f.noteReports(a.Reports, "late reply, durable %d", r.Durable)
		return slow, nil
	}
	for _, rep := range a.Reports {
		if p, ok := f.pending[rep.JobID]; ok {
			r.Commit = max(r.Commit, p.commit)
		}
	}
	f.flush(f.durable + f.rng.Int64N(before-f.durable+1)) // early: some older commits reach the disk
	r.Durable = f.durable
	f.early++
	f.noteReports(a.Reports, "early reply, commit %d durable %d", r.Commit, r.Durable)
	if f.chance(12) {
		// It restarts while the reply is on its way, which arrives after
		// the worker has registered again.
		f.restart()
		f.noteReports(a.Reports, "restarted while the reply is on its way")
		slow = 250 * time.Millisecond
	}
	return slow, nil
}

func (f *wmFake) noteReports(reps []rpcapi.Report, format string, args ...any) {
	for _, rep := range reps {
		f.note(rep.JobID, format, args...)
	}
}

// accept records one report: checks it is for an attempt the fake gave and
// carries what its handler returned, and keeps it pending. The caller
// holds mu.
func (f *wmFake) accept(rep rpcapi.Report) {
	ref := rpcapi.JobRef{JobID: rep.JobID, Attempt: rep.Attempt}
	j := f.known(ref, "task_complete")
	if j == nil || j.revoked || j.lost {
		return // dropped: stale
	}
	if j.cancelled {
		f.violation("job %s attempt %d reported after a register_worker reply named it in cancel; its history:\n\t%s",
			rep.JobID, rep.Attempt, strings.Join(j.history, "\n\t"))
	}
	f.note(rep.JobID, "reported by %s", f.id)
	if j.holdBeat < 0 {
		j.holdBeat = f.beats
	}
	if rep.Outcome != j.want.Outcome || rep.Output != j.want.Output || rep.Error != j.want.Error {
		f.violation("job %s reported %s %q %q, the handler returned %s %q %q",
			rep.JobID, rep.Outcome, rep.Output, rep.Error, j.want.Outcome, j.want.Output, j.want.Error)
	}
	if _, done := f.disk[rep.JobID]; done || f.isPending(rep.JobID) {
		f.repeats++
		return // a repeat: accepted again, changes nothing
	}
	f.pending[rep.JobID] = wmPending{rep: rep, commit: f.commit}
}

func (f *wmFake) Logout(_ context.Context, a *rpcapi.LogoutArgs, _ *rpcapi.Empty) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.caller(a.WorkerID, a.Secret, "logout_worker"); err != nil {
		return err
	}
	f.id, f.secret = "", ""
	return nil
}

// The worker calls none of these.
var errWMNotHere = errors.New("wmodel: not in the fake master")

func (f *wmFake) Status(context.Context, *rpcapi.Empty, *rpcapi.StatusReply) error {
	return errWMNotHere
}
func (f *wmFake) Submit(context.Context, *rpcapi.SubmitArgs, *rpcapi.SubmitReply) error {
	return errWMNotHere
}
func (f *wmFake) GetJob(context.Context, *rpcapi.GetJobArgs, *rpcapi.JobInfo) error {
	return errWMNotHere
}
func (f *wmFake) ListJobs(context.Context, *rpcapi.ListJobsArgs, *rpcapi.ListJobsReply) error {
	return errWMNotHere
}
func (f *wmFake) ListWorkers(context.Context, *rpcapi.ListWorkersArgs, *rpcapi.ListWorkersReply) error {
	return errWMNotHere
}
func (f *wmFake) Cancel(context.Context, *rpcapi.CancelArgs, *rpcapi.CancelReply) error {
	return errWMNotHere
}
func (f *wmFake) PurgeJobs(context.Context, *rpcapi.PurgeArgs, *rpcapi.PurgeReply) error {
	return errWMNotHere
}
func (f *wmFake) Wait(context.Context, *rpcapi.WaitArgs, *rpcapi.WaitReply) error {
	return errWMNotHere
}
func (f *wmFake) Fetch(context.Context, *rpcapi.FetchArgs, *rpcapi.FetchReply) error {
	return errWMNotHere
}
func (f *wmFake) ListSchedules(context.Context, *rpcapi.Empty, *rpcapi.ListSchedulesReply) error {
	return errWMNotHere
}
func (f *wmFake) PauseSchedule(context.Context, *rpcapi.ScheduleArgs, *rpcapi.ScheduleInfo) error {
	return errWMNotHere
}
func (f *wmFake) ResumeSchedule(context.Context, *rpcapi.ScheduleArgs, *rpcapi.ScheduleInfo) error {
	return errWMNotHere
}
func (f *wmFake) GetGroup(context.Context, *rpcapi.GetGroupArgs, *rpcapi.GroupInfo) error {
	return errWMNotHere
}
func (f *wmFake) ListGroups(context.Context, *rpcapi.ListGroupsArgs, *rpcapi.ListGroupsReply) error {
	return errWMNotHere
}
func (f *wmFake) ListQueues(context.Context, *rpcapi.ListQueuesArgs, *rpcapi.ListQueuesReply) error {
	return errWMNotHere
}

var _ rpcapi.MasterAPI = (*wmFake)(nil)

// serveMaster serves m over both transports on 127.0.0.1:0 until the test
// ends, and returns its address.
func serveMaster(t *testing.T, m rpcapi.MasterAPI) string {
	t.Helper()
	gh, err := rpcapi.NewGoRPCHandler(m, nil)
	if err != nil {
		t.Fatalf("NewGoRPCHandler: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(rpcapi.GoRPCPath, gh)
	mux.Handle(rpcapi.XMLRPCPath, rpcapi.NewXMLRPCHandler(m, nil, rpcapi.XMLRPCOptions{}))
	ln := listen.NewTrackingListener(testnet.Listen(t))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		ln.CloseAll()
		<-done
	})
	return ln.Addr().String()
}

// wmHandler finishes at once or after the task's delay, with its output,
// or fails with its error.
func wmHandler(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	if us, _ := strconv.Atoi(j.Spec.Args["delay_us"]); us > 0 {
		select {
		case <-time.After(time.Duration(us) * time.Microsecond):
		case <-ctx.Done():
			return jobs.Result{}, ctx.Err()
		}
	}
	if j.Spec.Args["fail"] == "true" {
		return jobs.Result{}, errors.New("fail-" + j.ID)
	}
	return jobs.Result{Output: "out-" + j.ID}, nil
}

// runReportModel runs one seed: a worker against the fake for a while of
// random play, then calm, Shutdown, and the checks.
func runReportModel(t *testing.T, seed int64, transport string) {
	replay := fmt.Sprintf("DROVER_WMODEL_SEED=%d go test -race -run 'TestReportModel/%s/%d$' ./worker", seed, transport, seed)
	f := newWMFake(seed, 1+int(seed%4))
	addr := serveMaster(t, f)
	log := logrus.New()
	log.SetOutput(io.Discard)
	if os.Getenv("DROVER_WMODEL_LOG") != "" {
		log.SetOutput(os.Stderr)
		log.SetLevel(logrus.DebugLevel)
	}
	w, err := New(Config{Master: addr, Transport: transport, Slots: f.slots, Name: "model", NoFence: true,
		LogDir: t.TempDir(), Logger: log.WithField("seed", seed)})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle(wmType, wmHandler)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			w.crash()
		}
	})
	wc := rpcapi.WorkerClient{C: mustCaller(t, w.Addr(), transport)}
	play(f, wc, 250)

	// The end: the fake stops failing, restarting and handing out tasks;
	// once the worker is registered with it, it shuts down.
	f.mu.Lock()
	f.calm = true
	f.mu.Unlock()
	// Wait too until the fake knows of every task handed out whether the
	// worker took it: a reply's task that the worker refuses once it
	// drains would be lost (ended by the master at logout) for a reason
	// that is not the reporting's.
	poll.Until(t, 10*time.Second, "the worker registered with the fake's last run and every task settled", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, j := range f.jobs {
			if j.holdBeat < 0 && !j.revoked && !j.lost {
				return false
			}
		}
		return f.id != "" && w.ID() == f.id
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = w.Shutdown(ctx)
	stopped = true
	if err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	w.mu.Lock()
	held := w.held()
	w.mu.Unlock()
	if len(held) > 0 {
		t.Errorf("after Shutdown the worker still holds %v", held)
	}
	checkWMDisk(t, f)
	if t.Failed() {
		t.Logf("replay: %s", replay)
	}
}

func mustCaller(t *testing.T, addr, transport string) rpcapi.Caller {
	t.Helper()
	c, err := rpcapi.NewCaller(addr, transport)
	if err != nil {
		t.Fatalf("NewCaller %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// play is the fake's own moves for steps steps of a few milliseconds:
// assign_task calls and restarts.
func play(f *wmFake, wc rpcapi.WorkerClient, steps int) {
	for range steps {
		f.mu.Lock()
		pause := time.Duration(500+f.rng.IntN(3000)) * time.Microsecond
		var a *rpcapi.AssignArgs
		switch n := f.rng.IntN(60); {
		case n == 0:
			f.restart()
		case n < 20 && f.id != "":
			if tasks := f.newTasks(1 + f.rng.IntN(f.slots)); len(tasks) > 0 {
				a = &rpcapi.AssignArgs{WorkerID: f.id, Secret: f.secret, Tasks: tasks}
			}
		}
		f.mu.Unlock()
		if a != nil {
			assignWM(f, wc, a)
		}
		<-time.After(pause) // the pace of the fake master, not a wait for the worker
	}
}

// assignWM makes one assign_task call and records its answer: accepted
// tasks are the worker's, the others (or all, when the call fails) are
// revoked.
func assignWM(f *wmFake, wc rpcapi.WorkerClient, a *rpcapi.AssignArgs) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r, err := wc.Assign(ctx, a)
	cancel()
	f.mu.Lock()
	defer f.mu.Unlock()
	accepted := make(map[rpcapi.JobRef]bool)
	if err == nil {
		for _, ref := range r.Accepted {
			accepted[ref] = true
		}
	}
	for _, task := range a.Tasks {
		j := f.jobs[task.JobID]
		switch {
		case !accepted[j.ref]:
			j.revoked = true
			f.note(task.JobID, "assign_task refused it or failed: %v", err)
		case j.holdBeat < 0:
			j.holdBeat = f.beats
		}
	}
}

// checkWMDisk checks invariant 1 and reports the violations the fake saw.
func checkWMDisk(t *testing.T, f *wmFake) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.errs {
		t.Error(e)
	}
	ids := make([]string, 0, len(f.jobs))
	for id := range f.jobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	taken := 0
	for _, id := range ids {
		j := f.jobs[id]
		if j.revoked || j.lost {
			continue
		}
		taken++
		got, ok := f.disk[id]
		switch {
		case !ok:
			t.Errorf("job %s attempt %d (held since beat #%d) has no outcome on disk (pending: %v); its history:\n\t%s",
				id, j.ref.Attempt, j.holdBeat, f.isPending(id), strings.Join(j.history, "\n\t"))
		case got.Attempt != j.ref.Attempt || got.Outcome != j.want.Outcome || got.Output != j.want.Output || got.Error != j.want.Error:
			t.Errorf("job %s: on disk %+v, the handler returned %+v", id, got, j.want)
		}
	}
	if os.Getenv("DROVER_WMODEL_LOST") != "" {
		for _, id := range ids {
			if j := f.jobs[id]; j.lost {
				t.Logf("lost %s: %s", id, strings.Join(j.history, "; "))
			}
		}
	}
	t.Logf("seed %d: %d tasks handed out, %d taken, %d lost; %d early replies, %d reports again, %d cancelled at register; %d restarts, %d registrations, %d beats",
		f.seed, len(f.jobs), taken, f.lostN, f.early, f.repeats, f.cancels, f.run, f.gen, f.beats)
}
