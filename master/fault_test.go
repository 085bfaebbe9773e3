package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// fakeWorker is a worker endpoint that accepts every task and never runs
// it: the test drives its heartbeats and reports by hand.
type fakeWorker struct {
	mu    sync.Mutex
	tasks []rpcapi.Task
	// refuse is how many Assign calls to refuse first: with reject, each
	// of their tasks is rejected; without, the call fails. refused counts
	// them.
	refuse, refused int
	reject          bool
}

func (f *fakeWorker) Assign(ctx context.Context, a *rpcapi.AssignArgs, r *rpcapi.AssignReply) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refused < f.refuse {
		f.refused++
		if !f.reject {
			return errors.New("not now")
		}
		for _, t := range a.Tasks {
			r.Rejected = append(r.Rejected, rpcapi.Rejection{JobRef: rpcapi.JobRef{JobID: t.JobID, Attempt: t.Attempt}, Reason: "not now"})
		}
		return nil
	}
	for _, t := range a.Tasks {
		f.tasks = append(f.tasks, t)
		r.Accepted = append(r.Accepted, rpcapi.JobRef{JobID: t.JobID, Attempt: t.Attempt})
	}
	return nil
}
func (f *fakeWorker) Cancel(ctx context.Context, a *rpcapi.WorkerCancelArgs, _ *rpcapi.Empty) error {
	return nil
}
func (f *fakeWorker) Ping(ctx context.Context, _ *rpcapi.Empty, r *rpcapi.PingReply) error {
	return nil
}
func (f *fakeWorker) ReadLog(ctx context.Context, _ *rpcapi.ReadLogArgs, r *rpcapi.ReadLogReply) error {
	return nil
}

func (f *fakeWorker) refusals() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

func (f *fakeWorker) taskList() []rpcapi.Task {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rpcapi.Task(nil), f.tasks...)
}

func serveFake(t *testing.T, f *fakeWorker) string {
	t.Helper()
	h, err := rpcapi.NewGoRPCHandler(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := listen.NewTrackingListener(ln)
	mux := http.NewServeMux()
	mux.Handle(rpcapi.GoRPCPath, h)
	srv := &http.Server{Handler: mux}
	go srv.Serve(tl)
	t.Cleanup(func() { srv.Close(); tl.CloseAll() })
	return ln.Addr().String()
}

// leaseThenReap submits an echo job (2 retries) to a master whose only
// worker is fake, waits until fake holds it, then moves fc past a
// dead_after of 30 s and waits until the master reaped fake, which never
// beats. It returns the job's ID.
func leaseThenReap(t *testing.T, mc rpcapi.MasterClient, fc *master.FakeClock, fake *fakeWorker) string {
	t.Helper()
	id := submit(t, mc, jobs.Spec{Type: "echo", Retries: 2})[0]
	pollT(t, 10*time.Second, "the job leased", func() bool { return len(fake.taskList()) == 1 })
	fc.Advance(31 * time.Second)
	pollT(t, 5*time.Second, "the worker reaped", func() bool {
		s, err := mc.Status(context.Background())
		return err == nil && s.Reaped == 1
	})
	return id
}

// pollT polls cond until it holds, failing the test after d.
var pollT = testproc.Poll

func getJob(t *testing.T, mc rpcapi.MasterClient, id string) *rpcapi.JobInfo {
	t.Helper()
	info, err := mc.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestReapAndFencing: a worker that goes silent is reaped, its job is
// leased again to a live worker as a new attempt, and the silent worker's
// late report is dropped without touching the recorded outcome. The
// master runs on a fake clock: the reaping and the retry's backoff take
// no real time.
func TestReapAndFencing(t *testing.T) {
	m, fc := startClockMaster(t, master.Config{HeartbeatInterval: 10 * time.Second, DeadAfter: 30 * time.Second})
	mc := client(t, m.Addr())
	fake := &fakeWorker{}
	reg, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "silent", Addr: serveFake(t, fake),
		Types: []string{"echo"}, Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := submit(t, mc, jobs.Spec{Type: "echo", Retries: 1, Args: map[string]string{"name": "x"}})[0]
	pollT(t, 15*time.Second, "the fake worker to get the job", func() bool { return len(fake.taskList()) == 1 })
	if got := getJob(t, mc, id).Job.Worker; got != reg.WorkerID {
		t.Fatalf("job leased to %q, want %q", got, reg.WorkerID)
	}
	// The fake never beats: past dead_after it is reaped, and after the
	// retry's backoff the job goes to a real worker.
	fc.Advance(31 * time.Second)
	startWorker(t, m.Addr(), "live", 1, map[string]worker.HandlerFunc{"echo": echo})
	retryDue(t, mc, fc, id)
	r := waitAll(t, mc, []string{id}, 10*time.Second)
	if r.Counts[jobs.Succeeded] != 1 {
		t.Fatalf("counts %v", r.Counts)
	}
	j := getJob(t, mc, id).Job
	if len(j.Attempts) != 2 || j.Attempts[0].Outcome != jobs.Lost || j.Attempts[1].Outcome != jobs.OK {
		t.Fatalf("attempts %+v; want lost then ok", j.Attempts)
	}
	before, _ := mc.Status(context.Background())
	if before.Reaped < 1 {
		t.Errorf("reaped %d, want >= 1", before.Reaped)
	}

	// The late report of attempt 1 is dropped and counted.
	cr, err := mc.Complete(context.Background(), &rpcapi.CompleteArgs{WorkerID: reg.WorkerID, Secret: reg.Secret,
		Reports: []rpcapi.Report{{JobID: id, Attempt: 1, Outcome: jobs.Error, Error: "late"}}})
	if err != nil {
		t.Fatal(err)
	}
	if cr.Accepted != 0 || cr.Dropped != 1 {
		t.Fatalf("late report: %+v, want dropped", cr)
	}
	after := getJob(t, mc, id).Job
	if after.State != jobs.Succeeded || len(after.Attempts) != 2 || after.Attempts[1].Outcome != jobs.OK {
		t.Fatalf("late report changed the job: %+v", after)
	}
	st, _ := mc.Status(context.Background())
	if st.Dropped != before.Dropped+1 {
		t.Errorf("dropped counter %d, want %d", st.Dropped, before.Dropped+1)
	}
	// Its heartbeat is answered unknown, so it would re-register.
	hb, err := mc.Heartbeat(context.Background(), &rpcapi.HeartbeatArgs{WorkerID: reg.WorkerID, Secret: reg.Secret})
	if err != nil || hb.Status != rpcapi.BeatUnknown {
		t.Fatalf("heartbeat of a reaped worker: %+v %v", hb, err)
	}
}

// TestAssignHoldBackOnFakeClock: a task a worker refused, or whose
// assign_task failed, goes back to the queue at once; the master offers
// that worker nothing more for a quarter of a heartbeat interval (at most
// 250 ms) after a refusal and for one interval after a failure, then
// offers it the job again with nothing else happening (docs/protocol.md).
// The master runs on a fake clock: the hold-back takes no real time.
func TestAssignHoldBackOnFakeClock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reject bool
		hold   time.Duration
	}{{"refused", true, 250 * time.Millisecond}, {"failed", false, 10 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			m, fc := startClockMaster(t, master.Config{HeartbeatInterval: 10 * time.Second, DeadAfter: 30 * time.Second})
			mc := client(t, m.Addr())
			fake := &fakeWorker{refuse: 1, reject: tc.reject}
			if _, err := mc.Register(context.Background(), &rpcapi.RegisterArgs{Name: "fussy", Addr: serveFake(t, fake),
				Types: []string{"echo"}, Slots: 1}); err != nil {
				t.Fatal(err)
			}
			id := submit(t, mc, jobs.Spec{Type: "echo"})[0]
			pollT(t, 5*time.Second, "the job back in the queue", func() bool {
				return fake.refusals() == 1 && jobOf(t, mc, id).State == jobs.Pending
			})
			at := fc.AwaitTimer(t, "the end of the hold-back", fc.Now().Add(tc.hold), fc.Now().Add(tc.hold+dispatchSlack))
			if n := len(fake.taskList()); n != 0 {
				t.Fatalf("%d tasks assigned during the hold-back", n)
			}
			fc.AdvanceTo(at)
			pollT(t, 5*time.Second, "the job assigned again", func() bool { return len(fake.taskList()) == 1 })
			if j := jobOf(t, mc, id); j.State != jobs.Running || len(j.Attempts) == 0 || j.Attempts[len(j.Attempts)-1].Outcome != "" {
				t.Fatalf("job %s %+v; want running", j.State, j.Attempts)
			}
		})
	}
}

// TestMasterRestartAdoptsRunningJobs: a master restarted on the same data
// dir while a job runs does not run it twice: the worker re-registers with
// the job and the master adopts it.
func TestMasterRestartAdoptsRunningJobs(t *testing.T) {
	dir := t.TempDir()
	m1 := startMaster(t, master.Config{DataDir: dir})
	addr := m1.Addr()
	release := make(chan struct{})
	var runs sync.Map
	w := startWorker(t, addr, "w", 2, map[string]worker.HandlerFunc{
		"block": blockUntil(release, "done", func(j *jobs.Job) { runs.Store(j.ID+"/"+string(rune('0'+j.Attempt)), true) }),
	})
	mc1 := client(t, addr)
	id := submit(t, mc1, jobs.Spec{Type: "block", Retries: 2})[0]
	pollT(t, 15*time.Second, "the job to run", func() bool { return w.Running() == 1 })
	m1.Close()

	m2 := startMaster(t, master.Config{DataDir: dir, Listen: addr})
	mc2 := client(t, m2.Addr())
	pollT(t, 10*time.Second, "the job adopted", func() bool {
		info := getJob(t, mc2, id)
		for _, e := range info.Job.Events {
			if strings.Contains(e.Text, "adopted by") {
				return true
			}
		}
		return false
	})
	close(release)
	waitAll(t, mc2, []string{id}, 10*time.Second)
	j := getJob(t, mc2, id).Job
	if j.State != jobs.Succeeded || len(j.Attempts) != 1 || j.Attempts[0].Outcome != jobs.OK {
		t.Fatalf("job %+v: want one ok attempt", j.Attempts)
	}
	n := 0
	runs.Range(func(k, v any) bool { n++; return true })
	if n != 1 {
		t.Fatalf("job ran %d times, want once", n)
	}
}

// TestCancelRunningAndTimeout: cancelling a running job stops its handler;
// a handler that overruns its timeout ends as a timeout.
func TestCancelRunningAndTimeout(t *testing.T) {
	m := startMaster(t, master.Config{})
	stopped := make(chan string, 2)
	w := startWorker(t, m.Addr(), "w", 2, map[string]worker.HandlerFunc{
		"wait": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			<-ctx.Done()
			stopped <- j.ID
			return jobs.Result{}, ctx.Err()
		},
	})
	mc := client(t, m.Addr())
	ids := submit(t, mc, jobs.Spec{Type: "wait", Retries: 3}, jobs.Spec{Type: "wait", Timeout: 100 * time.Millisecond})
	pollT(t, 15*time.Second, "both running", func() bool { return w.Running() == 2 })
	cr, err := mc.Cancel(context.Background(), &rpcapi.CancelArgs{IDs: []string{ids[0], "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cr.Cancelled) != 1 || len(cr.Errors) != 1 {
		t.Fatalf("cancel reply %+v", cr)
	}
	waitAll(t, mc, ids, 10*time.Second)
	for range 2 {
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Fatal("a handler was not stopped")
		}
	}
	c := getJob(t, mc, ids[0]).Job
	if c.State != jobs.Cancelled || len(c.Attempts) != 1 {
		t.Fatalf("cancelled job: %s %+v", c.State, c.Attempts)
	}
	to := getJob(t, mc, ids[1]).Job
	if to.State != jobs.Failed || to.Attempts[0].Outcome != jobs.Timeout {
		t.Fatalf("timed-out job: %s %+v", to.State, to.Attempts)
	}
	pollT(t, 15*time.Second, "slots freed", func() bool {
		ws, _ := mc.ListWorkers(context.Background())
		return len(ws.Workers) == 1 && ws.Workers[0].Running == 0
	})
	if _, err := mc.Cancel(context.Background(), &rpcapi.CancelArgs{IDs: []string{ids[0]}}); err != nil {
		t.Fatal(err)
	}
}

// TestWhyWaiting: a job nobody can run says so.
func TestWhyWaiting(t *testing.T) {
	m := startMaster(t, master.Config{})
	mc := client(t, m.Addr())
	id := submit(t, mc, jobs.Spec{Type: "ocr"})[0]
	if w := getJob(t, mc, id).Waiting; !strings.Contains(w, `no live worker has type "ocr"`) {
		t.Fatalf("waiting %q", w)
	}
	startWorker(t, m.Addr(), "w", 1, map[string]worker.HandlerFunc{"echo": echo})
	if w := getJob(t, mc, id).Waiting; !strings.Contains(w, "live workers have: echo") {
		t.Fatalf("waiting %q", w)
	}
}

// TestShutdownDrains: SIGTERM-style shutdown lets running jobs finish,
// then logs out; the master shows the worker dead at once.
func TestShutdownDrains(t *testing.T) {
	m := startMaster(t, master.Config{})
	mc := client(t, m.Addr())
	w := startWorker(t, m.Addr(), "w", 2, map[string]worker.HandlerFunc{
		"nap": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			select {
			case <-time.After(time.Second):
				return jobs.Result{}, nil
			case <-ctx.Done():
				return jobs.Result{}, ctx.Err()
			}
		},
	})
	ids := submit(t, mc, jobs.Spec{Type: "nap"}, jobs.Spec{Type: "nap"})
	pollT(t, 15*time.Second, "both running", func() bool { return w.Running() == 2 })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- w.Shutdown(ctx)
	}()
	pollT(t, 15*time.Second, "the worker listed as draining", func() bool {
		ws, _ := mc.ListWorkers(context.Background())
		return len(ws.Workers) == 1 && ws.Workers[0].State == rpcapi.WorkerDraining
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r := waitAll(t, mc, ids, 5*time.Second)
	if r.Counts[jobs.Succeeded] != 2 {
		t.Fatalf("counts %v", r.Counts)
	}
	ws, _ := mc.ListWorkers(context.Background())
	if len(ws.Workers) != 1 || ws.Workers[0].State != rpcapi.WorkerDead {
		t.Fatalf("workers %+v", ws.Workers)
	}
}

// TestSubmitValidation: a bad spec fails the whole batch and creates
// nothing; a known key returns the existing job.
func TestSubmitValidation(t *testing.T) {
	m := startMaster(t, master.Config{})
	mc := client(t, m.Addr())
	_, err := mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "ok"}, {Type: ""}}})
	if err == nil || !strings.Contains(err.Error(), "job 2") {
		t.Fatalf("err %v", err)
	}
	st, _ := mc.Status(context.Background())
	if st.Counts[jobs.Pending] != 0 {
		t.Fatalf("a rejected batch created jobs: %v", st.Counts)
	}
	a := submit(t, mc, jobs.Spec{Type: "x", Key: "k1"})
	b, err := mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "x", Key: "k1"}, {Type: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if b.IDs[0] != a[0] || !b.Existing[0] || b.Existing[1] {
		t.Fatalf("keyed resubmit: %+v vs %v", b, a)
	}
	// A follow-up with a then of its own is refused in the words XML-RPC
	// gives (docs/protocol.md, Spec's then), not as a bad payload.
	nested := jobs.Spec{Type: "x", Group: "g", Then: &jobs.Spec{Type: "y", Then: &jobs.Spec{Type: "z"}}}
	_, err = mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{nested}})
	if !errors.Is(err, rpcapi.ErrBadRequest) || !strings.Contains(err.Error(), "a follow-up cannot have its own then") {
		t.Fatalf("a then with a then over gob: %v; want bad request, a follow-up cannot have its own then", err)
	}
}

// TestToken: with a token, a worker that has it runs jobs (the master's
// Assign carries it too); calls without it are refused.
func TestToken(t *testing.T) {
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		t.Run(transport, func(t *testing.T) {
			m := startMaster(t, master.Config{Token: "tok"})
			master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "w", Slots: 1, Token: "tok", Transport: transport},
				map[string]worker.HandlerFunc{"echo": echo})
			mc := runEcho(t, m.Addr(), transport, rpcapi.WithToken("tok"))
			anon, _ := rpcapi.NewCaller(m.Addr(), transport)
			defer anon.Close()
			_, err := rpcapi.MasterClient{C: anon}.Register(context.Background(), &rpcapi.RegisterArgs{
				Name: "intruder", Addr: "127.0.0.1:1", Types: []string{"echo"}, Slots: 1})
			if !errors.Is(err, rpcapi.ErrUnauthorized) {
				t.Fatalf("register without the token: %v", err)
			}
			ws, _ := mc.ListWorkers(context.Background())
			if len(ws.Workers) != 1 {
				t.Fatalf("workers %+v", ws.Workers)
			}
		})
	}
}

// TestCancelPendingError: a cancelled job's error (docs/api.md) says it
// was cancelled by request whether it was running, pending without an
// attempt, or pending for a retry after a failed attempt, in the job's
// page, the cancel's reply and the listing, and the error filter finds
// them all.
func TestCancelPendingError(t *testing.T) {
	m := startAPIMaster(t, master.Config{RetryBackoff: 5 * time.Minute})
	startWorker(t, m.Addr(), "a", 2, map[string]worker.HandlerFunc{
		"block": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			<-ctx.Done()
			return jobs.Result{}, ctx.Err()
		},
		"flaky": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{}, errors.New("no luck")
		},
	})
	c := newHTTPAPI(t, m)
	var sub struct{ IDs []string }
	c.call("POST", "jobs", `{"jobs": [{"type": "block"}, {"type": "nobody"}, {"type": "flaky", "retries": 1}]}`, 201, &sub)
	running, pending, retrying := sub.IDs[0], sub.IDs[1], sub.IDs[2]
	c.waitState(running, jobs.Running)
	c.waitState(retrying, jobs.Pending) // its backoff is 5 minutes
	type view struct {
		ID    string     `json:"id"`
		State jobs.State `json:"state"`
		Error string     `json:"error"`
	}
	const want = "cancelled by request"
	for _, id := range []string{running, pending, retrying} {
		var j view
		c.call("POST", "jobs/"+id+"/cancel", "", 200, &j)
		if j.State != jobs.Cancelled || j.Error != want {
			t.Errorf("the cancel's reply for job %s: %+v; want cancelled with error %q", id, j, want)
		}
		c.get("jobs/"+id, &j)
		if j.Error != want {
			t.Errorf("GET jobs/%s: %+v; want error %q", id, j, want)
		}
	}
	var page struct{ Jobs []view }
	c.get("jobs?state=cancelled&error=by+request", &page)
	if len(page.Jobs) != 3 {
		t.Errorf("the cancelled jobs whose error holds %q: %+v; want all 3", "by request", page.Jobs)
	}
	for _, j := range page.Jobs {
		if j.Error != want {
			t.Errorf("listed: %+v; want error %q", j, want)
		}
	}
	// Over RPC the job's timeline says it too.
	info, err := client(t, m.Addr()).GetJob(context.Background(), pending)
	if err != nil || !strings.Contains(info.Job.Events[len(info.Job.Events)-1].Text, want) {
		t.Errorf("get_job %s: %+v, %v", pending, info, err)
	}
}

// TestCancelledMemberInFollowUp: a group's follow-up job gets each
// member's error in its input's results (README, "Groups"), and a member
// cancelled while pending has one: "cancelled by request".
func TestCancelledMemberInFollowUp(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	input := make(chan string, 1)
	startWorker(t, m.Addr(), "a", 2, map[string]worker.HandlerFunc{
		"merge": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			input <- j.Spec.Input
			return jobs.Result{}, nil
		},
	})
	mc := client(t, m.Addr())
	ids := submit(t, mc, jobs.Spec{Type: "nobody", Group: "g", Then: &jobs.Spec{Type: "merge"}},
		jobs.Spec{Type: "nobody", Group: "g"})
	if _, err := mc.Cancel(context.Background(), &rpcapi.CancelArgs{IDs: ids}); err != nil {
		t.Fatal(err)
	}
	var in struct {
		Results []struct{ ID, State, Error string }
	}
	select {
	case s := <-input:
		if err := json.Unmarshal([]byte(s), &in); err != nil {
			t.Fatalf("the follow-up's input %s: %v", s, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the follow-up did not run")
	}
	if len(in.Results) != 2 {
		t.Fatalf("results %+v: want the 2 members", in.Results)
	}
	for _, r := range in.Results {
		if r.State != "cancelled" || r.Error != "cancelled by request" {
			t.Errorf("result %+v: want cancelled, with the error %q", r, "cancelled by request")
		}
	}
}
