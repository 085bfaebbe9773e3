package master_test

// The fake workers of TestModel (model_test.go). Each serves the worker
// side of the contract (docs/protocol.md, "Worker methods") on its own
// loopback listener, gob and XML-RPC, and does with each assign_task what
// the driver queued; it beats in the background with the list its beat
// mode gives, re-registers when told "unknown", and holds what it was
// handed until it reports it or is told to drop it. It runs nothing: the
// driver reports for it. What it sees that breaks the contract goes to
// bad, which the driver checks after every step.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// assignMode is what a fake push worker does with one assign_task.
type assignMode string

const (
	amAccept  assignMode = "accept"  // take what fits, refuse the rest
	amReject  assignMode = "reject"  // refuse every task
	amFault   assignMode = "fault"   // answer with an error (fault 4)
	amClose   assignMode = "close"   // cut the connection, no answer
	amGarbage assignMode = "garbage" // XML-RPC: a reply the master cannot read; gob: cut
	amHang    assignMode = "hang"    // no answer until the driver releases it, then cut
	amSilent  assignMode = "silent"  // an answer that lists no task in either list: a lie
)

// beatMode is what the background beats list besides the held attempts.
type beatMode string

const (
	beatHonest beatMode = "honest"
	beatOmit   beatMode = "omit"  // leaves the first held attempt out: a lie
	beatExtra  beatMode = "extra" // adds an attempt no job reaches, which must come back in cancel
)

const (
	bogusAttempt = 1 << 20
	// lateSlack is how long after a drain or a logout an assign_task that
	// was under way may still arrive.
	lateSlack = 250 * time.Millisecond
)

type fakeW struct {
	name, mode, transport string
	slots                 int
	types                 []string
	hb                    time.Duration
	mc                    rpcapi.MasterClient
	addr                  string // push: the endpoint
	ln                    *testnet.Listener
	srv                   *http.Server
	bad                   func(format string, args ...any)
	call                  sync.Mutex // serializes the fake's calls to the master

	mu       sync.Mutex // guards the rest
	id       string
	ids      []string             // every worker ID it was given
	secrets  map[string]string    // the secret of each of ids
	contact  map[string]time.Time // per ID: the end of the last call that kept it alive
	held     map[rpcapi.JobRef]bool
	past     []rpcapi.JobRef // attempts reported or dropped
	modes    []assignMode    // for the next assign_task calls
	foreign  []rpcapi.JobRef // named in the next reply's lists beside its own tasks: a lie
	hang     chan struct{}   // set while an assign_task hangs
	failedAt time.Time       // the last assign_task that failed
	fetched  time.Time       // the end of the last fetch_tasks that answered
	changed  time.Time       // the last change that may let it take work
	beating  bool
	draining bool
	gone     bool // logged out
	regs     int  // register_worker calls under way
	beat     beatMode
	drainAck time.Time // a draining beat was answered under the current ID
	goneAt   time.Time
	stop     chan struct{}
	wg       sync.WaitGroup
}

func newFake(name, mode, transport string, slots int, types []string, hb time.Duration, bad func(string, ...any)) *fakeW {
	return &fakeW{name: name, mode: mode, transport: transport, slots: slots, types: types, hb: hb, bad: bad,
		contact: map[string]time.Time{}, held: map[rpcapi.JobRef]bool{}, secrets: map[string]string{},
		beating: true, beat: beatHonest, stop: make(chan struct{})}
}

// start serves the endpoint (push), registers and starts beating.
func (f *fakeW) start(masterAddr string) error {
	c, err := rpcapi.NewCaller(masterAddr, f.transport)
	if err != nil {
		return err
	}
	f.mc = rpcapi.MasterClient{C: c}
	if f.mode == rpcapi.ModePush {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		f.ln, f.addr = &testnet.Listener{Listener: ln}, ln.Addr().String()
		gob, _ := rpcapi.NewGoRPCHandler(nil, f)
		mux := http.NewServeMux()
		mux.Handle(rpcapi.GoRPCPath, gob)
		mux.Handle(rpcapi.XMLRPCPath, f.garbler(rpcapi.NewXMLRPCHandler(nil, f, rpcapi.XMLRPCOptions{})))
		f.srv = &http.Server{Handler: mux}
		go f.srv.Serve(f.ln)
	}
	f.call.Lock()
	err = f.register()
	f.call.Unlock()
	if err == nil {
		f.wg.Go(f.loop)
	}
	return err
}

// garbler answers an assign_task with a reply the master cannot read when
// that is the queued mode.
func (f *fakeW) garbler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		garbage := len(f.modes) > 0 && f.modes[0] == amGarbage && bytes.Contains(body, []byte("<methodName>assign_task<"))
		if garbage {
			f.modes = f.modes[1:]
		}
		f.mu.Unlock()
		if garbage {
			f.failed()
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<?xml version="1.0"?><methodResponse><params><param><value><struct>`+
				`<member><name>accepted</name><value><int>7</int></value></member></struct></value></param></params></methodResponse>`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	})
}

// close stops the fake: no more beats, hung calls released, endpoint shut.
func (f *fakeW) close() {
	close(f.stop) // once: the driver closes each fake at the end
	f.release()
	f.wg.Wait()
	if f.srv != nil {
		f.srv.Close()
		f.ln.Cut()
	}
	if f.mc.C != nil {
		f.mc.C.Close()
	}
}

// release ends a hanging assign_task, if any.
func (f *fakeW) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hang != nil {
		close(f.hang)
		f.hang = nil
	}
}

// failed records an assign_task that the master sees fail.
func (f *fakeW) failed() {
	f.mu.Lock()
	f.failedAt = time.Now()
	f.changed = f.failedAt
	f.mu.Unlock()
}

// Assign implements rpcapi.WorkerAPI.
func (f *fakeW) Assign(ctx context.Context, a *rpcapi.AssignArgs, r *rpcapi.AssignReply) error {
	f.mu.Lock()
	mode := amAccept
	if len(f.modes) > 0 {
		mode, f.modes, f.changed = f.modes[0], f.modes[1:], time.Now()
	}
	f.checkAssign(a)
	foreign := f.foreign
	f.foreign = nil
	for _, x := range foreign {
		r.Rejected = append(r.Rejected, rpcapi.Rejection{JobRef: x, Reason: "model: not mine"})
		r.Accepted = append(r.Accepted, x)
	}
	hang := make(chan struct{})
	if mode == amHang {
		f.hang = hang
	}
	f.mu.Unlock()
	switch mode {
	case amAccept:
		f.accept(a, r)
		return nil
	case amReject:
		for _, t := range a.Tasks {
			r.Rejected = append(r.Rejected, rpcapi.Rejection{JobRef: ref(t), Reason: "model: refused"})
		}
		return nil
	case amSilent:
		return nil
	case amFault:
		f.failed()
		return fmt.Errorf("%w: model: assign fails", rpcapi.ErrUnavailable)
	case amHang:
		select {
		case <-hang:
		case <-ctx.Done():
		}
	}
	f.failed() // close, garbage over gob, a released hang
	f.ln.Cut()
	return errors.New("model: connection cut")
}

// secret returns the secret of the fake's worker ID id.
func (f *fakeW) secret(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.secrets[id]
}

// checkAssign records what an assign_task breaks. The caller holds mu.
func (f *fakeW) checkAssign(a *rpcapi.AssignArgs) {
	// (A registration's first assign_task may come before its reply.)
	if want, ok := f.secrets[a.WorkerID]; ok && a.Secret != want {
		f.bad("%s got assign_task for %s without that registration's secret", f.name, a.WorkerID)
	}
	if len(a.Tasks) > f.slots {
		f.bad("%s (%s) got %d tasks in one assign_task with %d slots", f.name, a.WorkerID, len(a.Tasks), f.slots)
	}
	for _, t := range a.Tasks {
		if !slices.Contains(f.types, t.Type) {
			f.bad("%s got job %s of type %q; its types are %v", f.name, t.JobID, t.Type, f.types)
		}
	}
	for what, at := range map[string]time.Time{"it logged out": f.goneAt, "its draining beat was answered": f.drainAck} {
		if a.WorkerID == f.id && len(a.Tasks) > 0 && !at.IsZero() && time.Since(at) > lateSlack {
			f.bad("%s got assign_task (job %s) %s after %s", a.WorkerID, a.Tasks[0].JobID, time.Since(at), what)
		}
	}
}

// accept takes every task that fits, as a real worker does.
func (f *fakeW) accept(a *rpcapi.AssignArgs, r *rpcapi.AssignReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range a.Tasks {
		why := ""
		switch {
		case a.WorkerID != f.id:
			why = "worker_id is not mine"
		case f.draining || f.gone:
			why = "shutting down"
		case f.held[ref(t)]: // a repeat: accepted again
		case len(f.held) >= f.slots:
			why = "no free slot"
		default:
			f.held[ref(t)] = true
		}
		if why != "" {
			r.Rejected = append(r.Rejected, rpcapi.Rejection{JobRef: ref(t), Reason: why})
		} else {
			r.Accepted = append(r.Accepted, ref(t))
		}
	}
}

// Cancel implements rpcapi.WorkerAPI.
func (f *fakeW) Cancel(ctx context.Context, a *rpcapi.WorkerCancelArgs, _ *rpcapi.Empty) error {
	f.mu.Lock()
	if !slices.Contains(slices.Collect(maps.Values(f.secrets)), a.Secret) && f.regs == 0 {
		f.bad("%s got cancel_task without a secret of its registrations", f.name)
	}
	f.drop(a.Jobs...)
	f.mu.Unlock()
	return nil
}

// Ping implements rpcapi.WorkerAPI.
func (f *fakeW) Ping(ctx context.Context, _ *rpcapi.Empty, r *rpcapi.PingReply) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.Name, r.Running, r.Slots = f.name, len(f.held), f.slots
	return nil
}

// ReadLog implements rpcapi.WorkerAPI: this worker keeps no logs.
func (f *fakeW) ReadLog(ctx context.Context, _ *rpcapi.ReadLogArgs, _ *rpcapi.ReadLogReply) error {
	return fmt.Errorf("%w: no logs kept", rpcapi.ErrNotFound)
}

func ref(t rpcapi.Task) rpcapi.JobRef { return rpcapi.JobRef{JobID: t.JobID, Attempt: t.Attempt} }

// cmpRef orders attempts by job ID (numerically) and attempt.
func cmpRef(a, b rpcapi.JobRef) int {
	return cmp.Or(cmp.Compare(len(a.JobID), len(b.JobID)), strings.Compare(a.JobID, b.JobID), cmp.Compare(a.Attempt, b.Attempt))
}

// refsOf is the attempts a worker holds, as list_workers shows them.
func refsOf(ws []rpcapi.WorkerJob) []rpcapi.JobRef {
	out := make([]rpcapi.JobRef, len(ws))
	for i, w := range ws {
		out[i] = rpcapi.JobRef{JobID: w.JobID, Attempt: w.Attempt}
	}
	return out
}

func sortedRefs(refs []rpcapi.JobRef) []rpcapi.JobRef {
	return slices.SortedFunc(slices.Values(refs), cmpRef)
}

// drop forgets attempts. The caller holds mu.
func (f *fakeW) drop(refs ...rpcapi.JobRef) {
	for _, x := range refs {
		if f.held[x] {
			delete(f.held, x)
			f.past = append(f.past, x)
			f.changed = time.Now()
		}
	}
}

// list is what a beat or a registration carries under the beat mode. The
// caller holds mu.
func (f *fakeW) list() []rpcapi.JobRef {
	run := sortedRefs(slices.Collect(maps.Keys(f.held)))
	switch {
	case f.beat == beatOmit && len(run) > 0:
		return run[1:]
	case f.beat == beatExtra && len(f.past) > 0:
		return append(run, rpcapi.JobRef{JobID: f.past[0].JobID, Attempt: bogusAttempt})
	}
	return run
}

// touch records a call under id that kept (or may have kept) it alive.
func (f *fakeW) touch(id string) {
	f.mu.Lock()
	f.contact[id] = time.Now()
	f.mu.Unlock()
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// register makes the fake a new worker ID holding what it holds. The
// caller holds call.
func (f *fakeW) register() error {
	f.mu.Lock()
	run := f.list()
	f.regs++ // the master may lease to the new ID before the fake knows it
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.regs--; f.mu.Unlock() }()
	ctx, cancel := callCtx()
	defer cancel()
	a := &rpcapi.RegisterArgs{Name: f.name, Addr: f.addr, Types: f.types, Slots: f.slots, Mode: f.mode, Running: run}
	if f.mode == rpcapi.ModePush {
		a.Transport = f.transport
	}
	r, err := f.mc.Register(ctx, a)
	if err != nil {
		return err
	}
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.id, f.ids = r.WorkerID, append(f.ids, r.WorkerID)
	f.secrets[r.WorkerID] = r.Secret
	f.contact[r.WorkerID], f.drainAck, f.changed = now, time.Time{}, now
	f.drop(r.Cancel...)
	return nil
}

func (f *fakeW) loop() {
	for i := 0; ; i++ {
		select {
		case <-f.stop:
			return
		case <-time.After(f.hb * time.Duration(90+(i*7)%21) / 100): // ±10%, as the Go worker
		}
		f.beatOnce(nil)
	}
}

// beatOnce sends one heartbeat with the beat mode's list plus extra (a
// driver's beat, sent even while silent), and re-registers on "unknown".
func (f *fakeW) beatOnce(extra []rpcapi.JobRef) (string, []rpcapi.JobRef, *rpcapi.HeartbeatReply, error) {
	f.call.Lock()
	defer f.call.Unlock()
	f.mu.Lock()
	id, draining, beating := f.id, f.draining, f.beating && !f.gone
	run := append(f.list(), extra...)
	f.mu.Unlock()
	if !beating && extra == nil {
		return id, nil, nil, errors.New("silent")
	}
	ctx, cancel := callCtx()
	defer cancel()
	r, err := f.mc.Heartbeat(ctx, &rpcapi.HeartbeatArgs{WorkerID: id, Secret: f.secret(id), Running: run, Draining: draining,
		FreeSlots: max(f.slots-len(run), 0)})
	f.touch(id)
	switch {
	case err != nil:
	case r.Status == rpcapi.BeatUnknown:
		f.register()
	default:
		f.afterBeat(id, run, r)
	}
	return id, run, r, err
}

// afterBeat takes in a beat's reply.
func (f *fakeW) afterBeat(id string, run []rpcapi.JobRef, r *rpcapi.HeartbeatReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range run {
		if x.Attempt == bogusAttempt && !slices.Contains(r.Cancel, x) {
			f.bad("%s beat %v, an attempt no job has, and cancel %v did not return it", id, x, r.Cancel)
		}
	}
	f.drop(r.Cancel...)
	if f.draining && f.drainAck.IsZero() && id == f.id {
		f.drainAck = time.Now()
	}
}

// fetch calls fetch_tasks once and takes in what it returns.
func (f *fakeW) fetch(max int) (*rpcapi.FetchReply, error) {
	f.call.Lock()
	defer f.call.Unlock()
	id := f.view().id
	ctx, cancel := callCtx()
	defer cancel()
	r, err := f.mc.Fetch(ctx, &rpcapi.FetchArgs{WorkerID: id, Secret: f.secret(id), Max: max, Timeout: 40 * time.Millisecond})
	f.touch(id)
	if errors.Is(err, rpcapi.ErrUnknownWorker) {
		return nil, f.register()
	} else if err != nil {
		return nil, err
	}
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetched = now
	if max > 0 && len(r.Tasks) > max {
		f.bad("%s: fetch_tasks with max %d returned %d tasks", id, max, len(r.Tasks))
	}
	for _, t := range r.Tasks {
		if !slices.Contains(f.types, t.Type) {
			f.bad("%s fetched job %s of type %q; its types are %v", id, t.JobID, t.Type, f.types)
		}
		f.held[ref(t)] = true
	}
	f.drop(r.Cancel...)
	return r, nil
}

// logout logs the fake out; it holds nothing after and beats no more.
func (f *fakeW) logout() (string, error) {
	f.call.Lock()
	defer f.call.Unlock()
	id := f.view().id
	ctx, cancel := callCtx()
	defer cancel()
	err := f.mc.Logout(ctx, &rpcapi.LogoutArgs{WorkerID: id, Secret: f.secret(id)})
	f.mu.Lock()
	f.gone, f.goneAt = true, time.Now()
	f.drop(slices.Collect(maps.Keys(f.held))...)
	f.mu.Unlock()
	return id, err
}

// fakeView is a copy of what the driver reads of a fake.
type fakeView struct {
	id                              string
	held                            []rpcapi.JobRef
	beating, draining, gone, honest bool
	hung, nextAccept                bool
	failedAt, changed, fetchedAt    time.Time
}

func (f *fakeW) view() fakeView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeView{id: f.id, held: sortedRefs(slices.Collect(maps.Keys(f.held))), beating: f.beating, draining: f.draining,
		gone: f.gone, honest: f.beat == beatHonest, hung: f.hang != nil,
		nextAccept: len(f.modes) == 0 || f.modes[0] == amAccept, failedAt: f.failedAt, changed: f.changed, fetchedAt: f.fetched}
}

// The driver's steps that act through one fake.

func (d *mdl) stepFetch() string {
	f, ok := pick(d, d.live(rpcapi.ModePull))
	if !ok {
		return "fetch: no pull worker"
	}
	n := d.c.intn(f.slots + 1)
	r, err := f.fetch(n)
	if r == nil {
		return fmt.Sprintf("fetch %s max %d: %v (now %s)", f.name, n, err, f.view().id)
	}
	var got []rpcapi.JobRef
	for _, t := range r.Tasks {
		got = append(got, ref(t))
	}
	return fmt.Sprintf("fetch %s max %d: tasks %v cancel %v", f.name, n, got, r.Cancel)
}

// stepReport reports a held attempt (late if its fake was reaped), or
// repeats an accepted report, or forges one the master must not take: an
// invalid outcome, a wrong attempt, another worker's job, an unknown job.
func (d *mdl) stepReport() string {
	var with []*fakeW
	for _, f := range d.fakes {
		if len(f.view().held) > 0 {
			with = append(with, f)
		}
	}
	f, ok := pick(d, with)
	if !ok {
		return "report: nothing held"
	}
	x, _ := pick(d, f.view().held)
	out, _ := pick(d, []jobs.Outcome{jobs.OK, jobs.OK, jobs.Error, jobs.Timeout, jobs.Lost, jobs.OutcomeCanceled})
	rep := rpcapi.Report{JobID: x.JobID, Attempt: x.Attempt, Outcome: out, Permanent: d.c.intn(4) == 0, Output: "model"}
	switch k := d.c.intn(10); {
	case k == 0 && len(d.dups) > 0:
		dup, _ := pick(d, d.dups)
		return d.report(dup.f, dup.id, dup.rep)
	case k == 1:
		rep.Outcome = []jobs.Outcome{"success", "", "OK"}[d.c.intn(3)]
	case k == 2:
		rep.Attempt += []int{-1, 1, 2}[d.c.intn(3)]
	case k == 3:
		rep.JobID = "999999"
	case k == 4:
		if g, ok := pick(d, d.live("")); ok && g != f {
			return d.report(g, "", rep) // f's attempt under g's ID
		}
	}
	return d.report(f, "", rep)
}

// stepBeat beats with attempts the fake does not hold (its past ones,
// another fake's): the master must return in cancel every attempt it does
// not lease to the fake, and leave every lease the beat lists alive.
func (d *mdl) stepBeat() string {
	f, ok := pick(d, d.live(""))
	if !ok {
		return "beat: no worker"
	}
	extra := []rpcapi.JobRef{}
	f.mu.Lock()
	if len(f.past) > 0 {
		extra = append(extra, f.past[d.c.intn(len(f.past))])
	}
	f.mu.Unlock()
	if g, ok := pick(d, d.live("")); ok && g != f && len(g.view().held) > 0 {
		extra = append(extra, g.view().held[0])
	}
	honest, pre := f.view().honest, d.jobsMap()
	id, run, r, err := f.beatOnce(extra)
	if err != nil || r.Status == rpcapi.BeatUnknown {
		return fmt.Sprintf("beat %s %v: %+v %v", f.name, run, r, err)
	}
	post := d.jobsMap()
	for _, x := range run {
		lp, lq, in := leased(pre, x, id), leased(post, x, id), slices.Contains(r.Cancel, x)
		if !lp && !lq && !in || lp && (in || !lq && honest) {
			d.fail("beat of %s listed %v: leased to it before %v, after %v; cancel %v; the job after: %s",
				id, x, lp, lq, r.Cancel, fingerprint(ptr(post, x.JobID)))
		}
	}
	return fmt.Sprintf("beat %s %s %v: cancel %v", f.name, id, run, r.Cancel)
}

func leased(js map[string]jobs.Job, x rpcapi.JobRef, id string) bool {
	j, ok := js[x.JobID]
	return ok && j.State == jobs.Running && j.Attempt == x.Attempt && j.Worker == id
}

// stepMode changes what a fake does: its next assign_task (accept, refuse,
// fail with an error, a cut connection, an unreadable reply, a hang), a
// hang's end, its beat list (honest, lying, with extra attempts), going
// silent or beating again, draining.
func (d *mdl) stepMode() string {
	f, ok := pick(d, d.live(""))
	if !ok {
		return "mode: no worker"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changed = time.Now()
	switch k := d.c.intn(10); {
	case k < 5 && f.mode == rpcapi.ModePush && len(f.modes) < 3:
		m := []assignMode{amReject, amReject, amFault, amClose, amGarbage, amHang, amSilent}[d.c.intn(7)]
		if m == amHang && (f.hang != nil || slices.Contains(f.modes, amHang)) {
			m = amReject
		}
		f.modes = append(f.modes, m)
		return fmt.Sprintf("%s: next assign_task calls %v", f.name, f.modes)
	case k == 5 && f.hang != nil:
		close(f.hang)
		f.hang = nil
		return f.name + ": the hung assign_task ends"
	case k < 8:
		f.beat = []beatMode{beatHonest, beatHonest, beatOmit, beatExtra}[d.c.intn(4)]
		return fmt.Sprintf("%s: beats %s", f.name, f.beat)
	case k == 8:
		f.beating = !f.beating
		return fmt.Sprintf("%s: beating %v", f.name, f.beating)
	}
	f.draining = true
	return f.name + ": draining"
}

// Reports. The contract accepts a report that names the sender's live
// lease, or repeats an outcome recorded from the sender; it drops the
// rest. A repeat of an older attempt is also "stale": either is allowed.
const (
	wantDrop = iota
	wantAccept
	wantEither
)

func (d *mdl) expect(f *fakeW, id string, j *jobs.Job, rep rpcapi.Report) (want int, changes bool) {
	if j == nil || !rep.Outcome.Valid() {
		return wantDrop, false
	}
	if j.State == jobs.Running && j.Attempt == rep.Attempt && j.Worker == id {
		return wantAccept, true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range j.Attempts {
		if a.N == rep.Attempt && !a.Ended.IsZero() && a.Outcome == rep.Outcome {
			if a.Worker == id && a.N == j.Attempt {
				return wantAccept, false
			} else if slices.Contains(f.ids, a.Worker) {
				return wantEither, false
			}
		}
	}
	return wantDrop, false
}

// stable says whether only the driver can change j now: it is final, or
// its live attempt is leased to a fake that accepted it (holds it), beats
// honestly and has not logged out. For a running j it also returns the
// leases of that fake that only the driver ends meanwhile: those
// list_workers showed (ws) that it holds, of jobs running on it in js.
// Any other may end while the driver reports, whatever the report does:
// one whose assign_task is in flight goes back when the fake refuses it
// (draining, no free slot) or the call fails (docs/protocol.md,
// "assign_task"); one a reply handed out and the fake did not take, at its
// second beat; a cancelled one, at its beat that leaves it out.
func (d *mdl) stable(j *jobs.Job, js map[string]jobs.Job, ws map[string]rpcapi.WorkerInfo) (bool, []rpcapi.JobRef) {
	if j == nil || j.State != jobs.Running {
		return j == nil || j.State.Final(), nil
	}
	for _, f := range d.fakes {
		if v := f.view(); v.id == j.Worker {
			if !v.beating || !v.honest || v.gone || !slices.Contains(v.held, rpcapi.JobRef{JobID: j.ID, Attempt: j.Attempt}) {
				return false, nil
			}
			var kept []rpcapi.JobRef
			for _, x := range refsOf(ws[j.Worker].Jobs) {
				if leased(js, x, j.Worker) && slices.Contains(v.held, x) {
					kept = append(kept, x)
				}
			}
			return true, kept
		}
	}
	return false, nil
}

// revoked says whether the lease of attempt x went back without an
// attempt record, as one whose assign_task was refused or failed does. A
// fake's failing call cuts all its connections, so a call in flight that
// it answered with x accepted may fail too, at the master's end.
func revoked(js map[string]jobs.Job, x rpcapi.JobRef) bool {
	j, ok := js[x.JobID]
	return ok && !slices.ContainsFunc(j.Attempts, func(a jobs.Attempt) bool { return a.N == x.Attempt })
}

// report sends one report from f under id (f's own when "") and judges
// the reply and the job after it.
func (d *mdl) report(f *fakeW, id string, rep rpcapi.Report) string {
	f.call.Lock() // no beat of f meanwhile
	defer f.call.Unlock()
	if id == "" {
		id = f.view().id
	}
	x := rpcapi.JobRef{JobID: rep.JobID, Attempt: rep.Attempt}
	js0, ws0 := d.jobsMap(), d.workers()
	j0 := ptr(js0, rep.JobID)
	want, changes := d.expect(f, id, j0, rep)
	stable, kept := d.stable(j0, js0, ws0) // and the holder was not reaped meanwhile: see below
	if d.midReport != nil {
		d.midReport()
	}
	d.sent[x] = append(d.sent[x], rep.Outcome)
	ctx, cancel := callCtx()
	defer cancel()
	// A push fake asks for its next tasks in some reports (want), taken
	// from the state, so that the seeds' choices stay as they were.
	ask := 0
	if v := f.view(); f.mode == rpcapi.ModePush && id == v.id {
		ask = len(d.sent) % (f.slots + 1)
	}
	r, err := f.mc.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: id, Secret: f.secret(id), Reports: []rpcapi.Report{rep}, Want: ask})
	if err != nil || r.Beat {
		// A report is a heartbeat (docs/protocol.md, task_complete): one
		// the master answered with beat true kept id alive, and one that
		// failed may have.
		f.touch(id)
	}
	if err == nil && len(r.Tasks) > 0 {
		d.tookTasks(f, id, ask, r)
	}
	js1, ws1 := d.jobsMap(), d.workers()
	j1 := ptr(js1, rep.JobID)
	stable = stable && (j0 == nil || j0.State != jobs.Running || ws1[j0.Worker].State == rpcapi.WorkerAlive)
	desc := fmt.Sprintf("report %s as %s: %v %q permanent %v (job %s): %+v %v", f.name, id, x, rep.Outcome,
		rep.Permanent, fingerprint(j0), r, err)
	acc := err == nil && r.Accepted == 1
	_, registered := ws0[id] // with this master (listed, live or dead)
	switch {
	case err != nil && (!rep.Outcome.Valid() || rep.Attempt < 1) && errors.Is(err, rpcapi.ErrBadRequest): // fault 3
	case err != nil && !registered && errors.Is(err, rpcapi.ErrUnknownWorker): // fault 1: register again
	case err != nil || r.Accepted+r.Dropped+r.Refused != 1:
		d.fail("%s: want {accepted, dropped, refused} summing to 1", desc)
	case acc && want == wantDrop:
		d.fail("%s: the master took a report the contract drops; the job after: %s", desc, fingerprint(j1))
	case !acc && want == wantAccept && stable && ws1[id].State == rpcapi.WorkerAlive:
		d.fail("%s: the master dropped a report of the live lease of a live worker; the job after: %s", desc, fingerprint(j1))
	}
	switch {
	case acc && changes:
		d.tookReport(desc, j1, rep)
		d.dups = append(d.dups, dupReport{f, id, rep})
	case stable && fingerprint(j0) != fingerprint(j1):
		d.fail("%s: a report that changes nothing changed the job to %s", desc, fingerprint(j1))
	case stable && j0 != nil && j0.State == jobs.Running:
		w0, w1 := ws0[j0.Worker], ws1[j0.Worker]
		for _, x := range kept {
			if !slices.Contains(refsOf(w1.Jobs), x) && !revoked(js1, x) {
				d.fail("%s: the lease holder's running went %d %v → %d %v: lease %v ended", desc, w0.Running, w0.Jobs, w1.Running, w1.Jobs, x)
			}
		}
	}
	if err == nil && rep.Outcome.Valid() && id == f.view().id {
		f.mu.Lock()
		f.drop(x) // reported, accepted or dropped: the worker forgets it
		f.mu.Unlock()
	}
	return desc
}

// tookTasks checks the tasks a report's reply handed out for its want (at
// most want, of f's types, leased to id and listed by list_workers as its
// jobs) and has f take them as it takes an assign_task's; those it cannot
// take it just leaves out of its beats, as the contract says.
func (d *mdl) tookTasks(f *fakeW, id string, want int, r *rpcapi.CompleteReply) {
	if len(r.Tasks) > want {
		d.fail("report from %s with want %d: the reply carries %d tasks", id, want, len(r.Tasks))
	}
	js := d.jobsMap()
	for _, t := range r.Tasks {
		if !slices.Contains(f.types, t.Type) {
			d.fail("report from %s: the reply carries job %s of type %q; its types are %v", id, t.JobID, t.Type, f.types)
		}
		if j, ok := js[t.JobID]; ok && j.State == jobs.Running && j.Attempt == t.Attempt && j.Worker != id {
			d.fail("report from %s: the reply carries job %s attempt %d, leased to %s", id, t.JobID, t.Attempt, j.Worker)
		}
	}
	var ar rpcapi.AssignReply
	f.accept(&rpcapi.AssignArgs{WorkerID: id, Tasks: r.Tasks}, &ar)
}

// tookReport checks the job after an accepted report ended its attempt:
// ok → succeeded, cancelled → cancelled, a failure → failed (permanent, or
// retries used up) or pending (maybe already running again).
func (d *mdl) tookReport(desc string, j *jobs.Job, rep rpcapi.Report) {
	d.recorded[rpcapi.JobRef{JobID: rep.JobID, Attempt: rep.Attempt}] = rep.Outcome
	i := slices.IndexFunc(j.Attempts, func(a jobs.Attempt) bool { return a.N == rep.Attempt })
	want := map[jobs.Outcome][]jobs.State{jobs.OK: {jobs.Succeeded}, jobs.OutcomeCanceled: {jobs.Cancelled}}[rep.Outcome]
	switch {
	case want != nil:
	case rep.Permanent || failures(j) > d.ids[j.ID].Retries:
		want = []jobs.State{jobs.Failed}
	default:
		want = []jobs.State{jobs.Pending, jobs.Running}
	}
	if i < 0 || j.Attempts[i].Outcome != rep.Outcome || !slices.Contains(want, j.State) || j.State == jobs.Running && j.Attempt == rep.Attempt {
		d.fail("%s: accepted, but the job is now %s; want %v", desc, fingerprint(j), want)
	}
}

func ptr(js map[string]jobs.Job, id string) *jobs.Job {
	if j, ok := js[id]; ok {
		return &j
	}
	return nil
}

func failures(j *jobs.Job) int {
	n := 0
	for _, a := range j.Attempts {
		if a.Outcome == jobs.Error || a.Outcome == jobs.Timeout || a.Outcome == jobs.Lost {
			n++
		}
	}
	return n
}

// fingerprint is what must not change: state, lease and attempts.
func fingerprint(j *jobs.Job) string {
	if j == nil {
		return "(none)"
	}
	s := fmt.Sprintf("%s #%d on %q [", j.State, j.Attempt, j.Worker)
	for _, a := range j.Attempts {
		s += fmt.Sprintf(" %d:%s:%q:%v", a.N, a.Worker, a.Outcome, !a.Ended.IsZero())
	}
	return s + " ]"
}
