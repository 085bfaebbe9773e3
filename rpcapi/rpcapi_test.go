package rpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/jobs"
)

// errDetail is the detail text the fakes wrap around sentinels.
const errDetail = "detail: job xyz is gone"

// serverErrs maps a job ID to the error the fakes return for it. Read-only.
var serverErrs = map[string]error{
	"unknown-worker": fmt.Errorf("%w: %s", ErrUnknownWorker, errDetail),
	"not-found":      fmt.Errorf("%w: %s", ErrNotFound, errDetail),
	"bad-request":    fmt.Errorf("%w: %s", ErrBadRequest, errDetail),
	"unavailable":    fmt.Errorf("%w: %s", ErrUnavailable, errDetail),
	"unauthorized":   fmt.Errorf("%w: %s", ErrUnauthorized, errDetail),
	"internal":       fmt.Errorf("%w: %s", ErrInternal, errDetail),
	"bare-sentinel":  ErrNotFound,
	"double-wrapped": fmt.Errorf("outer: %w", fmt.Errorf("%w: %s", ErrBadRequest, errDetail)),
	"plain":          errors.New("plain failure: " + errDetail),
}

// fakeMaster is a MasterAPI with canned answers. Wait for the group "block"
// signals waiting, then blocks until release is closed.
type fakeMaster struct {
	gen      string // tells server generations apart
	release  chan struct{}
	waiting  chan struct{} // receives once per Wait that started blocking
	nSubmits atomic.Int32
}

func (f *fakeMaster) submits() int { return int(f.nSubmits.Load()) }

func newFakeMaster(gen string) *fakeMaster {
	return &fakeMaster{gen: gen, release: make(chan struct{}), waiting: make(chan struct{}, 16)}
}

func (f *fakeMaster) Register(_ context.Context, a *RegisterArgs, r *RegisterReply) error {
	if a.Name == "" {
		return fmt.Errorf("%w: no name", ErrBadRequest)
	}
	r.WorkerID = f.gen + "/" + a.Name
	r.HeartbeatInterval = 2 * time.Second
	r.DeadAfter = 10 * time.Second
	r.Cancel = a.Running
	return nil
}

func (f *fakeMaster) Heartbeat(_ context.Context, a *HeartbeatArgs, r *HeartbeatReply) error {
	if a.WorkerID == "unknown-worker" {
		return serverErrs["unknown-worker"]
	}
	r.Status = BeatOK
	r.Cancel = a.Running
	return nil
}

func (f *fakeMaster) Complete(_ context.Context, a *CompleteArgs, r *CompleteReply) error {
	for _, rep := range a.Reports {
		if rep.Outcome == jobs.OK {
			r.Accepted++
		} else {
			r.Dropped++
		}
	}
	return nil
}

func (f *fakeMaster) Logout(context.Context, *LogoutArgs, *Empty) error { return nil }

func (f *fakeMaster) Status(_ context.Context, _ *Empty, r *StatusReply) error {
	r.Counts = map[jobs.State]int{jobs.Pending: 3, jobs.Failed: 1}
	r.Started = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	r.Dropped = 7
	r.Workers = []WorkerInfo{{ID: "w1", Name: f.gen, Types: []string{"crawl"}}}
	return nil
}

func (f *fakeMaster) Submit(_ context.Context, a *SubmitArgs, r *SubmitReply) error {
	f.nSubmits.Add(1)
	for _, s := range a.Specs {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		r.IDs = append(r.IDs, "id-"+s.Key)
		r.Existing = append(r.Existing, false)
	}
	return nil
}

func (f *fakeMaster) GetJob(_ context.Context, a *GetJobArgs, r *JobInfo) error {
	if err, ok := serverErrs[a.ID]; ok {
		return err
	}
	r.Job = jobs.Job{ID: a.ID, Seq: 9, State: jobs.Pending, Spec: jobs.Spec{Type: "crawl", Args: map[string]string{"a": "b"}}}
	r.Waiting = "no worker for type crawl"
	return nil
}

func (f *fakeMaster) ListJobs(_ context.Context, a *ListJobsArgs, r *ListJobsReply) error {
	for i := range a.Limit {
		r.Jobs = append(r.Jobs, jobs.Job{ID: fmt.Sprint("j", i), Seq: uint64(i), State: a.State})
	}
	return nil
}

func (f *fakeMaster) ListWorkers(_ context.Context, _ *ListWorkersArgs, r *ListWorkersReply) error {
	r.Workers = []WorkerInfo{{ID: "w1", State: WorkerAlive}}
	return nil
}

func (f *fakeMaster) Cancel(_ context.Context, a *CancelArgs, r *CancelReply) error {
	r.Cancelled = a.IDs
	return nil
}

func (f *fakeMaster) PurgeJobs(_ context.Context, _ *PurgeArgs, r *PurgeReply) error {
	r.Purged = 3
	return nil
}

func (f *fakeMaster) Wait(_ context.Context, a *WaitArgs, r *WaitReply) error {
	if a.Group == "block" {
		f.waiting <- struct{}{}
		<-f.release
	}
	r.Done = true
	r.Failed = a.IDs
	return nil
}

func (f *fakeMaster) ListSchedules(_ context.Context, _ *Empty, r *ListSchedulesReply) error {
	r.Schedules = []ScheduleInfo{{Name: "nightly", Schedule: "@daily"}}
	return nil
}
func (f *fakeMaster) PauseSchedule(_ context.Context, a *ScheduleArgs, r *ScheduleInfo) error {
	r.Name, r.Paused = a.Name, true
	return nil
}
func (f *fakeMaster) ResumeSchedule(_ context.Context, a *ScheduleArgs, r *ScheduleInfo) error {
	r.Name = a.Name
	return nil
}
func (f *fakeMaster) GetGroup(_ context.Context, a *GetGroupArgs, r *GroupInfo) error {
	r.Name, r.Total = a.Name, 1
	return nil
}
func (f *fakeMaster) ListGroups(_ context.Context, _ *ListGroupsArgs, r *ListGroupsReply) error {
	r.Groups = []GroupInfo{{Name: "g", Total: 1}}
	return nil
}

func (f *fakeMaster) ListQueues(_ context.Context, _ *ListQueuesArgs, r *ListQueuesReply) error {
	r.Queues = []QueueView{{Type: "t", Pending: 1}}
	return nil
}

func (f *fakeMaster) Fetch(_ context.Context, a *FetchArgs, r *FetchReply) error {
	r.Tasks = []Task{{JobID: "1", Attempt: 1, Type: "t"}}
	return nil
}

// fakeWorker is a WorkerAPI with canned answers.
type fakeWorker struct{ name string }

func (f *fakeWorker) Assign(_ context.Context, a *AssignArgs, r *AssignReply) error {
	for _, t := range a.Tasks {
		ref := JobRef{JobID: t.JobID, Attempt: t.Attempt}
		if t.Type == "crawl" {
			r.Accepted = append(r.Accepted, ref)
		} else {
			r.Rejected = append(r.Rejected, Rejection{JobRef: ref, Reason: "unknown type " + t.Type})
		}
	}
	return nil
}

func (f *fakeWorker) Cancel(_ context.Context, a *WorkerCancelArgs, _ *Empty) error {
	if len(a.Jobs) > 0 {
		if err, ok := serverErrs[a.Jobs[0].JobID]; ok {
			return err
		}
	}
	return nil
}

func (f *fakeWorker) ReadLog(_ context.Context, a *ReadLogArgs, r *ReadLogReply) error {
	r.Data, r.Size, r.Done = []byte(a.Stream+" of "+a.JobID), int64(len(a.Stream+" of "+a.JobID)), true
	return nil
}

func (f *fakeWorker) Ping(_ context.Context, _ *Empty, r *PingReply) error {
	r.Name = f.name
	r.Slots = 4
	return nil
}

// testServer is a node serving net/rpc at GoRPCPath.
type testServer struct {
	addr string
	srv  *http.Server
	ln   *testnet.Listener
	once sync.Once
	done chan struct{}
}

// startServer serves h on addr ("127.0.0.1:0" for any port) until the test
// ends or kill is called.
func startServer(tb testing.TB, addr string, h http.Handler) *testServer {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("listen %s: %v", addr, err)
	}
	s := &testServer{
		addr: ln.Addr().String(),
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second},
		ln:   &testnet.Listener{Listener: ln},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(s.ln)
	}()
	tb.Cleanup(s.kill)
	return s
}

// startRPC serves the given APIs over net/rpc mounted on a ServeMux.
func startRPC(tb testing.TB, addr string, m MasterAPI, w WorkerAPI) *testServer {
	tb.Helper()
	return startGoRPC(tb, addr, m, w, GoRPCOptions{})
}

// startGoRPC is startRPC with the bounds of opts.
func startGoRPC(tb testing.TB, addr string, m MasterAPI, w WorkerAPI, opts GoRPCOptions) *testServer {
	tb.Helper()
	h, err := NewGoRPCHandlerOptions(m, w, opts)
	if err != nil {
		tb.Fatalf("NewGoRPCHandlerOptions: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(GoRPCPath, h)
	return startServer(tb, addr, mux)
}

// rawGoRPC opens a bare net/rpc connection to the gob endpoint at addr,
// closed when the test ends.
func rawGoRPC(tb testing.TB, addr string) *rpc.Client {
	tb.Helper()
	cl, err := rpc.DialHTTPPath("tcp", addr, GoRPCPath)
	return closedAtEnd(tb, cl, err)
}

// closedAtEnd returns c, to be closed when the test ends; it fails the
// test if err, the error of making c, is not nil.
func closedAtEnd[C io.Closer](tb testing.TB, c C, err error) C {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// kill stops the server as a dying process would: listener and every
// connection closed.
func (s *testServer) kill() {
	s.once.Do(func() {
		s.srv.Close()
		s.ln.Cut()
		<-s.done
	})
}

// forGobClients runs test with each gob client: Client and SerialClient,
// each made for addr and closed when the test ends.
func forGobClients(t *testing.T, test func(*testing.T, func(testing.TB, string) Caller)) {
	t.Run("Client", func(t *testing.T) {
		test(t, func(tb testing.TB, addr string) Caller { return newTestClient(tb, addr) })
	})
	t.Run("SerialClient", func(t *testing.T) {
		test(t, func(tb testing.TB, addr string) Caller { return closedAtEnd(tb, NewSerialClient(addr), nil) })
	})
}

// newTestClient returns a client for addr, closed when the test ends.
func newTestClient(tb testing.TB, addr string) *Client {
	tb.Helper()
	return closedAtEnd(tb, NewClient(addr), nil)
}

// newTestXMLClient returns an XMLClient for addr, closed when the test
// ends.
func newTestXMLClient(tb testing.TB, addr string) *XMLClient {
	tb.Helper()
	c, err := NewXMLClient(addr)
	return closedAtEnd(tb, c, err)
}

// ctxT returns a context bounded by d, cancelled when the test ends.
func ctxT(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// wantUnavailable fails the test unless err is ErrUnavailable and its text
// holds every one of parts.
func wantUnavailable(tb testing.TB, err error, parts ...string) {
	tb.Helper()
	if !errors.Is(err, ErrUnavailable) {
		tb.Fatalf("err = %v, want ErrUnavailable", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			tb.Errorf("err %q does not mention %q", err, p)
		}
	}
}

var allSentinels = []*Error{ErrUnknownWorker, ErrNotFound, ErrBadRequest, ErrUnavailable, ErrUnauthorized, ErrInternal}

func TestRoundTripReplies(t *testing.T) { forGobClients(t, testRoundTripReplies) }

func testRoundTripReplies(t *testing.T, newClient func(testing.TB, string) Caller) {
	srv := startRPC(t, "127.0.0.1:0", newFakeMaster("gen1"), &fakeWorker{name: "worker-a"})
	c := newClient(t, srv.addr)
	m, w := MasterClient{C: c}, WorkerClient{C: c}
	ctx := ctxT(t, 10*time.Second)

	reg, err := m.Register(ctx, &RegisterArgs{Name: "n1", Types: []string{"crawl"}, Slots: 2,
		Running: []JobRef{{JobID: "j", Attempt: 3}}})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if reg.WorkerID != "gen1/n1" || reg.HeartbeatInterval != 2*time.Second || !reflect.DeepEqual(reg.Cancel, []JobRef{{JobID: "j", Attempt: 3}}) {
		t.Errorf("Register reply = %+v", reg)
	}
	hb, err := m.Heartbeat(ctx, &HeartbeatArgs{WorkerID: "w", Running: []JobRef{{JobID: "k", Attempt: 1}}})
	if err != nil || hb.Status != BeatOK || len(hb.Cancel) != 1 {
		t.Errorf("Heartbeat = %+v, %v", hb, err)
	}
	comp, err := m.Complete(ctx, &CompleteArgs{WorkerID: "w", Reports: []Report{{JobID: "a", Outcome: jobs.OK}, {JobID: "b", Outcome: jobs.Error}}})
	if err != nil || comp.Accepted != 1 || comp.Dropped != 1 {
		t.Errorf("Complete = %+v, %v", comp, err)
	}
	if err := m.Logout(ctx, &LogoutArgs{WorkerID: "w"}); err != nil {
		t.Errorf("Logout: %v", err)
	}
	st, err := m.Status(ctx)
	if err != nil || st.Counts[jobs.Pending] != 3 || st.Dropped != 7 || len(st.Workers) != 1 ||
		!st.Started.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Status = %+v, %v", st, err)
	}
	sub, err := m.Submit(ctx, &SubmitArgs{Specs: []jobs.Spec{{Type: "t", Key: "a"}, {Type: "t", Key: "b", Timeout: time.Minute}}})
	if err != nil || !reflect.DeepEqual(sub.IDs, []string{"id-a", "id-b"}) || len(sub.Existing) != 2 {
		t.Errorf("Submit = %+v, %v", sub, err)
	}
	ji, err := m.GetJob(ctx, "some-job")
	if err != nil || ji.Job.ID != "some-job" || ji.Job.Spec.Args["a"] != "b" || ji.Waiting == "" {
		t.Errorf("GetJob = %+v, %v", ji, err)
	}
	lj, err := m.ListJobs(ctx, &ListJobsArgs{State: jobs.Running, Limit: 3})
	if err != nil || len(lj.Jobs) != 3 || lj.Jobs[2].State != jobs.Running {
		t.Errorf("ListJobs = %+v, %v", lj, err)
	}
	lw, err := m.ListWorkers(ctx)
	if err != nil || len(lw.Workers) != 1 || lw.Workers[0].State != WorkerAlive {
		t.Errorf("ListWorkers = %+v, %v", lw, err)
	}
	cr, err := m.Cancel(ctx, &CancelArgs{IDs: []string{"x", "y"}})
	if err != nil || !reflect.DeepEqual(cr.Cancelled, []string{"x", "y"}) {
		t.Errorf("Cancel = %+v, %v", cr, err)
	}
	wr, err := m.Wait(ctx, &WaitArgs{IDs: []string{"z"}})
	if err != nil || !wr.Done || !reflect.DeepEqual(wr.Failed, []string{"z"}) {
		t.Errorf("Wait = %+v, %v", wr, err)
	}

	as, err := w.Assign(ctx, &AssignArgs{WorkerID: "w", Tasks: []Task{
		{JobID: "a", Attempt: 1, Type: "crawl", Args: map[string]string{"x": "y"}, Timeout: time.Second},
		{JobID: "b", Attempt: 2, Type: "other"},
	}})
	if err != nil || !reflect.DeepEqual(as.Accepted, []JobRef{{"a", 1}}) || len(as.Rejected) != 1 ||
		as.Rejected[0].JobRef != (JobRef{"b", 2}) || !strings.Contains(as.Rejected[0].Reason, "other") {
		t.Errorf("Assign = %+v, %v", as, err)
	}
	if err := w.Cancel(ctx, &WorkerCancelArgs{Jobs: []JobRef{{"a", 1}}}); err != nil {
		t.Errorf("Worker Cancel: %v", err)
	}
	p, err := w.Ping(ctx)
	if err != nil || p.Name != "worker-a" || p.Slots != 4 {
		t.Errorf("Ping = %+v, %v", p, err)
	}
}

func TestRoundTripErrors(t *testing.T) { forGobClients(t, testRoundTripErrors) }

func testRoundTripErrors(t *testing.T, newClient func(testing.TB, string) Caller) {
	srv := startRPC(t, "127.0.0.1:0", newFakeMaster("gen1"), &fakeWorker{})
	c := newClient(t, srv.addr)
	m, w := MasterClient{C: c}, WorkerClient{C: c}

	tests := []struct {
		id   string
		want *Error
		text string // the client's error text must contain it
	}{
		{"unknown-worker", ErrUnknownWorker, errDetail},
		{"not-found", ErrNotFound, errDetail},
		{"bad-request", ErrBadRequest, errDetail},
		{"unavailable", ErrUnavailable, errDetail},
		{"internal", ErrInternal, errDetail},
		{"bare-sentinel", ErrNotFound, ErrNotFound.Msg},
		{"double-wrapped", ErrBadRequest, "outer: rpcapi: bad request: " + errDetail},
		{"plain", ErrInternal, "plain failure: " + errDetail},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			ctx := ctxT(t, 10*time.Second)
			_, errM := m.GetJob(ctx, tt.id)
			errW := w.Cancel(ctx, &WorkerCancelArgs{Jobs: []JobRef{{JobID: tt.id}}})
			for side, err := range map[string]error{"master": errM, "worker": errW} {
				if err == nil {
					t.Fatalf("%s: err = nil, want %v", side, tt.want)
				}
				for _, s := range allSentinels {
					if got := errors.Is(err, s); got != (s == tt.want) {
						t.Errorf("%s: errors.Is(%q, %s) = %v", side, err, s.Code, got)
					}
				}
				if Code(err) != tt.want.Code {
					t.Errorf("%s: Code = %q, want %q", side, Code(err), tt.want.Code)
				}
				// The text is the server's, whole: sentinel text and detail,
				// without the wire prefix.
				if want := serverErrs[tt.id].Error(); err.Error() != want {
					t.Errorf("%s: err text = %q, want %q", side, err, want)
				}
				if !strings.Contains(err.Error(), tt.text) {
					t.Errorf("%s: err text %q lacks %q", side, err, tt.text)
				}
				if strings.Contains(err.Error(), codePrefix) {
					t.Errorf("%s: err text %q leaks the wire prefix", side, err)
				}
			}
		})
	}

	// A server error leaves the connection usable.
	if _, err := m.Status(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("Status after errors: %v", err)
	}
}

func TestServerValidationError(t *testing.T) {
	srv := startRPC(t, "127.0.0.1:0", newFakeMaster("gen1"), nil)
	m := MasterClient{C: newTestClient(t, srv.addr)}
	_, err := m.Submit(ctxT(t, 10*time.Second), &SubmitArgs{Specs: []jobs.Spec{{Type: ""}}})
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "no type") {
		t.Fatalf("Submit of a bad spec = %v, want ErrBadRequest mentioning the cause", err)
	}
}

func TestUnknownMethodAndService(t *testing.T) {
	// Master only: the Worker service is absent.
	srv := startRPC(t, "127.0.0.1:0", newFakeMaster("gen1"), nil)
	c := newTestClient(t, srv.addr)
	ctx := ctxT(t, 10*time.Second)
	for _, method := range []string{"Master.Nope", WorkerPing, "nodot"} {
		err := c.Call(ctx, method, &Empty{}, &PingReply{})
		if !errors.Is(err, ErrInternal) || errors.Is(err, ErrUnavailable) {
			t.Errorf("Call(%s) = %v, want ErrInternal", method, err)
		}
	}
	if _, err := (MasterClient{C: c}).Status(ctx); err != nil {
		t.Fatalf("Status after bad calls: %v", err)
	}
}

func TestNewGoRPCHandlerNil(t *testing.T) {
	h, err := NewGoRPCHandler(nil, nil)
	if err != nil || h == nil {
		t.Fatalf("NewGoRPCHandler(nil, nil) = %v, %v", h, err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	srv := startRPC(t, "127.0.0.1:0", newFakeMaster("gen1"), nil)
	c := newTestClient(t, srv.addr)
	m := MasterClient{C: c}
	ctx := ctxT(t, 20*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := range 20 {
		wg.Go(func() {
			for i := range 20 {
				key := fmt.Sprintf("%d-%d", g, i)
				r, err := m.Submit(ctx, &SubmitArgs{Specs: []jobs.Spec{{Type: "t", Key: key}}})
				if err != nil {
					errs <- err
					return
				}
				if len(r.IDs) != 1 || r.IDs[0] != "id-"+key {
					errs <- fmt.Errorf("reply %v for key %s", r.IDs, key)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCallCtxCancel(t *testing.T) { forGobClients(t, testCallCtxCancel) }

func testCallCtxCancel(t *testing.T, newClient func(testing.TB, string) Caller) {
	fm := newFakeMaster("gen1")
	srv := startRPC(t, "127.0.0.1:0", fm, nil)
	released := false
	release := func() {
		if !released {
			released = true
			close(fm.release)
		}
	}
	t.Cleanup(release)
	c := newClient(t, srv.addr)
	m := MasterClient{C: c}

	// Connect first, so the timing below is the call's alone.
	if _, err := m.Status(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.Wait(ctx, &WaitArgs{Group: "block"})
	took := time.Since(start)
	wantUnavailable(t, err, MasterWait, context.DeadlineExceeded.Error())
	if took > time.Second {
		t.Errorf("Call with a 100ms ctx returned after %v", took)
	}
	select {
	case <-fm.waiting:
	default:
		t.Error("the server's Wait never started")
	}
	release()

	// The connection survives an abandoned call.
	if _, err := m.Status(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("Status after an abandoned call: %v", err)
	}
	if r, err := m.Wait(ctxT(t, 10*time.Second), &WaitArgs{Group: "block"}); err != nil || !r.Done {
		t.Fatalf("Wait after release = %+v, %v", r, err)
	}
}

func TestCallCtxAlreadyDone(t *testing.T) { forGobClients(t, testCallCtxAlreadyDone) }

func testCallCtxAlreadyDone(t *testing.T, newClient func(testing.TB, string) Caller) {
	srv := startRPC(t, "127.0.0.1:0", newFakeMaster("gen1"), nil)
	c := newClient(t, srv.addr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Not connected yet: the dial itself must give up.
	_, err := MasterClient{C: c}.Status(ctx)
	wantUnavailable(t, err)
}

func TestReconnect(t *testing.T) { forGobClients(t, testReconnect) }

func testReconnect(t *testing.T, newClient func(testing.TB, string) Caller) {
	srv1 := startRPC(t, "127.0.0.1:0", nil, &fakeWorker{name: "gen1"})
	addr := srv1.addr
	c := newClient(t, addr)
	w := WorkerClient{C: c}
	ping := func() (string, error) {
		p, err := w.Ping(ctxT(t, 5*time.Second))
		if err != nil {
			return "", err
		}
		return p.Name, nil
	}
	if name, err := ping(); err != nil || name != "gen1" {
		t.Fatalf("Ping = %q, %v", name, err)
	}

	srv1.kill()
	// While the node is down every call is ErrUnavailable: first the broken
	// connection, then a refused dial.
	for i := range 3 {
		if name, err := ping(); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Ping %d while down = %q, %v; want ErrUnavailable", i, name, err)
		}
	}

	startRPC(t, addr, nil, &fakeWorker{name: "gen2"})
	deadline := time.Now().Add(5 * time.Second)
	var calls int
	for {
		calls++
		name, err := ping()
		if err == nil {
			if name != "gen2" {
				t.Fatalf("Ping answered by %q, want gen2", name)
			}
			break
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Ping after restart: %v, want ErrUnavailable or success", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful call within 5s of the restart (last error %v)", err)
		}
		<-time.After(10 * time.Millisecond) // poll interval
	}
	if calls > 2 {
		t.Errorf("took %d calls to reconnect, want at most 2", calls)
	}

	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	_, err := ping()
	wantUnavailable(t, err, "closed")
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestReconnectSilentRestart restarts the server between two calls, with no
// failed call in between: the first call after the restart may fail, the
// next must succeed.
func TestReconnectSilentRestart(t *testing.T) { forGobClients(t, testReconnectSilentRestart) }

func testReconnectSilentRestart(t *testing.T, newClient func(testing.TB, string) Caller) {
	srv1 := startRPC(t, "127.0.0.1:0", nil, &fakeWorker{name: "gen1"})
	c := newClient(t, srv1.addr)
	w := WorkerClient{C: c}
	if _, err := w.Ping(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	srv1.kill()
	startRPC(t, srv1.addr, nil, &fakeWorker{name: "gen2"})

	p, err := w.Ping(ctxT(t, 5*time.Second))
	if err != nil {
		wantUnavailable(t, err)
		p, err = w.Ping(ctxT(t, 5*time.Second))
	}
	if err != nil || p.Name != "gen2" {
		t.Fatalf("Ping after restart = %+v, %v; want gen2", p, err)
	}
}

func TestDialNothingListening(t *testing.T) { forGobClients(t, testDialNothingListening) }

func testDialNothingListening(t *testing.T, newClient func(testing.TB, string) Caller) {
	addr := testnet.RefusedAddr(t)
	c := newClient(t, addr)
	start := time.Now()
	_, err := MasterClient{C: c}.Status(ctxT(t, 10*time.Second))
	wantUnavailable(t, err, "dial", addr)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("refused dial took %v", took)
	}
}

func TestDialNotGoRPC(t *testing.T) { forGobClients(t, testDialNotGoRPC) }

func testDialNotGoRPC(t *testing.T, newClient func(testing.TB, string) Caller) {
	srv := startServer(t, "127.0.0.1:0", http.HandlerFunc(http.NotFound))
	c := newClient(t, srv.addr)
	_, err := MasterClient{C: c}.Status(ctxT(t, 10*time.Second))
	wantUnavailable(t, err, "connect", srv.addr+GoRPCPath, "unexpected HTTP response", "404")
	t.Logf("error: %v", err)
}

// TestDialHandshakeHangs checks that a node that accepts but never answers
// the CONNECT does not hold a call past its ctx.
func TestDialHandshakeHangs(t *testing.T) { forGobClients(t, testDialHandshakeHangs) }

func testDialHandshakeHangs(t *testing.T, newClient func(testing.TB, string) Caller) {
	ln := hangingListener(t)
	c := newClient(t, ln.Addr().String())
	start := time.Now()
	_, err := MasterClient{C: c}.Status(ctxT(t, 200*time.Millisecond))
	wantUnavailable(t, err, "connect")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("hung handshake held the call %v, want about 200ms", took)
	}
}

// hangingListener accepts connections and never answers them.
func hangingListener(tb testing.TB) *testnet.Listener {
	tb.Helper()
	ln := testnet.Listen(tb)
	tl := &testnet.Listener{Listener: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := tl.Accept(); err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		<-done
		tl.Cut()
	})
	return tl
}

// TestConcurrentCallHonoursCtxDuringDial: while one call is stuck dialing a
// node that never answers the handshake, another call with a short ctx must
// still return by its own deadline, and Close must not wait for the dial.
func TestConcurrentCallHonoursCtxDuringDial(t *testing.T) {
	ln := hangingListener(t)
	c := newTestClient(t, ln.Addr().String())
	const firstCtx = 2 * time.Second

	firstDone := make(chan error, 1)
	go func() {
		_, err := MasterClient{C: c}.Status(ctxT(t, firstCtx))
		firstDone <- err
	}()
	// Wait until the first call is inside its dial: the listener has its
	// connection.
	poll.Until(t, 5*time.Second, "the first call's connection", func() bool { return ln.Accepted() > 0 })

	start := time.Now()
	_, err := MasterClient{C: c}.Status(ctxT(t, 100*time.Millisecond))
	took := time.Since(start)
	wantUnavailable(t, err)
	wantUnavailable(t, <-firstDone)
	if took > time.Second {
		t.Errorf("a call with a 100ms ctx waited %v behind another caller's dial", took.Round(time.Millisecond))
	}
}

// TestConcurrentCallsShareOneDial: calls that find no connection, at
// first and after it broke, wait for one dial instead of each making its
// own (a master refuses more than max_anonymous_per_address new
// connections from one address).
func TestConcurrentCallsShareOneDial(t *testing.T) {
	srv := startRPC(t, "127.0.0.1:0", nil, &fakeWorker{name: "w"})
	c := newTestClient(t, srv.addr)
	w := WorkerClient{C: c}
	const callers = 64
	burst := func() (failed []error) {
		ctx := ctxT(t, 20*time.Second)
		start := make(chan struct{})
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				<-start
				if _, err := w.Ping(ctx); err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		return failed
	}

	failed := burst()
	t.Logf("%d first calls at once: %d connections, %d failed", callers, srv.ln.Accepted(), len(failed))
	for _, err := range failed {
		t.Errorf("first call: %v", err)
	}
	if n := srv.ln.Accepted(); n != 1 {
		t.Errorf("%d concurrent first calls made %d connections, want 1", callers, n)
	}

	// The connection breaks: the calls that find it broken connect again,
	// once. Those already sent on it may fail, as the contract allows.
	srv.ln.Cut()
	failed = burst()
	t.Logf("%d calls after the break: %d connections, %d failed", callers, srv.ln.Accepted(), len(failed))
	for _, err := range failed {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("call after the break: %v, want success or ErrUnavailable", err)
		}
	}
	if n := srv.ln.Accepted(); n != 1 {
		t.Errorf("%d concurrent calls after the break made %d connections, want 1", callers, n)
	}
}

func TestHostPort(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1:8000", "127.0.0.1:8000"},
		{"http://127.0.0.1:8000", "127.0.0.1:8000"},
		{"http://127.0.0.1:8000/", "127.0.0.1:8000"},
		{"127.0.0.1:8000/", "127.0.0.1:8000"},
		{"http://master.example:5555/", "master.example:5555"},
		{"[::1]:80", "[::1]:80"},
		{"http://[::1]:80/", "[::1]:80"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := HostPort(tt.in); got != tt.want {
			t.Errorf("HostPort(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := NewClient(tt.in).Addr(); got != tt.want {
			t.Errorf("NewClient(%q).Addr() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	if encode(nil) != nil {
		t.Fatal("encode(nil) != nil")
	}
	for _, s := range allSentinels {
		err := decode(encode(fmt.Errorf("%w: x", s)).Error())
		if !errors.Is(err, s) || err.Error() != s.Msg+": x" {
			t.Errorf("round trip of %s = %q", s.Code, err)
		}
	}
	tests := []struct {
		in   string
		want *Error
		msg  string
	}{
		{"drover/not_found: gone", ErrNotFound, "gone"},
		{"drover/not_found: a: b", ErrNotFound, "a: b"},
		{"drover/not_found:gone", ErrInternal, "drover/not_found:gone"},
		{"drover/nope: x", ErrInternal, "drover/nope: x"},
		{"drover/: x", ErrInternal, "drover/: x"},
		{"not_found: x", ErrInternal, "not_found: x"},
		{"rpc: can't find method Master.X", ErrInternal, "rpc: can't find method Master.X"},
		{"", ErrInternal, ""},
	}
	for _, tt := range tests {
		err := decode(tt.in)
		if !errors.Is(err, tt.want) || err.Error() != tt.msg {
			t.Errorf("decode(%q) = %q (code %s), want %q (code %s)", tt.in, err, Code(err), tt.msg, tt.want.Code)
		}
	}
	// Code of a non-drover error is internal.
	if Code(errors.New("x")) != ErrInternal.Code || Code(nil) != ErrInternal.Code {
		t.Error("Code of a plain error is not internal")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range allSentinels {
		f.Add(encode(fmt.Errorf("%w: detail", s)).Error())
		f.Add(codePrefix + s.Code + ": ")
		f.Add(codePrefix + s.Code + ":")
		f.Add(codePrefix + s.Code)
	}
	for _, s := range []string{"", "drover/", "drover/: ", "drover/x: y", "plain", "drover/not_found: a: b", "\x00drover/", "drover/not_found: \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := decode(s)
		if err == nil {
			t.Fatalf("decode(%q) = nil", s)
		}
		var matched []string
		for _, sen := range allSentinels {
			if errors.Is(err, sen) {
				matched = append(matched, sen.Code)
			}
		}
		if len(matched) != 1 {
			t.Fatalf("decode(%q) matches sentinels %v, want exactly one", s, matched)
		}
		if Code(err) != matched[0] {
			t.Fatalf("Code(decode(%q)) = %q, errors.Is says %q", s, Code(err), matched[0])
		}
		// Undecorated text comes back unchanged, as internal.
		if !strings.HasPrefix(s, codePrefix) && (err.Error() != s || matched[0] != ErrInternal.Code) {
			t.Fatalf("decode(%q) = %q (%s), want the text unchanged as internal", s, err, matched[0])
		}
		// Whatever a server returns survives encode+decode: a plain error
		// as internal with its text whole, a wrapped sentinel as itself.
		if rt := decode(encode(errors.New(s)).Error()); !errors.Is(rt, ErrInternal) || rt.Error() != s {
			t.Fatalf("round trip of plain %q = %q (%s)", s, rt, Code(rt))
		}
		for _, sen := range allSentinels {
			in := fmt.Errorf("%w: %s", sen, s)
			if rt := decode(encode(in).Error()); !errors.Is(rt, sen) || rt.Error() != in.Error() {
				t.Fatalf("round trip of %q = %q (%s)", in, rt, Code(rt))
			}
		}
	})
}
