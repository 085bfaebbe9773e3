package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

var transports = []Transport{Gob, XMLRPC}

// startMaster starts a master in process (drovertest: a memory store, on
// loopback) with no worker; configure, when not nil, edits its config.
func startMaster(tb testing.TB, configure func(*master.Config)) *drovertest.Cluster {
	tb.Helper()
	return drovertest.Start(tb, drovertest.Options{Workers: -1, DeadAfter: 30 * time.Second, ConfigureMaster: configure})
}

// startWithWorker starts a master in process and one worker, w1, of 8
// slots, that talks tr and runs handlers.
func startWithWorker(tb testing.TB, tr Transport, handlers map[string]worker.HandlerFunc) *drovertest.Cluster {
	tb.Helper()
	return drovertest.Start(tb, drovertest.Options{Slots: 8, Transport: string(tr), DeadAfter: 30 * time.Second,
		Handlers: handlers, ConfigureWorker: func(_ int, cfg *worker.Config) { cfg.Name = "w1" }})
}

// mustDial dials m's master and closes the client when the test ends.
func mustDial(tb testing.TB, m *drovertest.Cluster, opts ...Option) *Client {
	tb.Helper()
	c, err := Dial(m.Addr(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// echoClient starts a master and a worker running echo (startWithWorker)
// that talk tr, and returns a client of tr and a context that ends after
// 30 s or with the test.
func echoClient(t *testing.T, tr Transport) (*Client, context.Context) {
	t.Helper()
	m := startWithWorker(t, tr, map[string]worker.HandlerFunc{"echo": echo})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return mustDial(t, m, WithTransport(tr)), ctx
}

// countingCaller counts the calls by method and runs a hook before each.
type countingCaller struct {
	rpcapi.Caller
	mu     sync.Mutex
	n      map[string]int
	before func(method string, n int)
}

func count(c *Client, before func(method string, n int)) *countingCaller {
	cc := &countingCaller{Caller: c.c, n: map[string]int{}, before: before}
	c.c = cc
	return cc
}

func (c *countingCaller) Call(ctx context.Context, method string, args, reply any) error {
	c.mu.Lock()
	c.n[method]++
	n := c.n[method]
	c.mu.Unlock()
	if c.before != nil {
		c.before(method, n)
	}
	return c.Caller.Call(ctx, method, args, reply)
}

func (c *countingCaller) calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

func echo(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	if j.Spec.Args["fail"] != "" {
		return jobs.Result{}, worker.Permanent(errors.New(j.Spec.Args["fail"]))
	}
	return jobs.Result{Output: j.Spec.Args["text"]}, nil
}

func TestSubmitWaitList(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			c, ctx := echoClient(t, tr)

			ids, err := c.Submit(ctx,
				jobs.Spec{Type: "echo", Args: map[string]string{"text": "one"}, Group: "g"},
				jobs.Spec{Type: "echo", Args: map[string]string{"text": "two"}, Group: "g"},
				jobs.Spec{Type: "echo", Args: map[string]string{"fail": "boom"}, Group: "g"})
			if err != nil || len(ids) != 3 {
				t.Fatalf("Submit = %v, %v; want 3 IDs", ids, err)
			}
			res, err := c.WaitGroup(ctx, "g")
			if err != nil {
				t.Fatal(err)
			}
			if !res.Done || res.OK() || res.Counts[jobs.Succeeded] != 2 || !slices.Equal(res.Failed, ids[2:]) {
				t.Errorf("WaitGroup = %+v; want done, 2 succeeded, %s failed", res, ids[2])
			}
			res, err = c.Wait(ctx, ids[:2]...)
			if err != nil || !res.OK() || res.Counts[jobs.Succeeded] != 2 {
				t.Errorf("Wait(%v) = %+v, %v; want OK", ids[:2], res, err)
			}

			info, err := c.Job(ctx, ids[1])
			if err != nil {
				t.Fatal(err)
			}
			if j := info.Job; j.State != jobs.Succeeded || len(j.Attempts) != 1 || j.Attempts[0].Output != "two" {
				t.Errorf("Job(%s) = %+v; want succeeded with output two", ids[1], j)
			}

			var got []string
			for j, err := range c.Jobs(ctx, Query{Group: "g", Order: OldestFirst}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, j.ID)
			}
			if !slices.Equal(got, ids) {
				t.Errorf("Jobs(group g, oldest first) = %v; want %v", got, ids)
			}

			st, err := c.Status(ctx)
			if err != nil || st.Counts[jobs.Succeeded] != 2 || st.Counts[jobs.Failed] != 1 || len(st.Workers) != 1 {
				t.Errorf("Status = %+v, %v; want 2 succeeded, 1 failed, 1 worker", st, err)
			}
			var names []string
			for w, err := range c.Workers(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, w.Name+"/"+w.State)
			}
			if !slices.Equal(names, []string{"w1/" + WorkerAlive}) {
				t.Errorf("Workers = %v; want [w1/alive]", names)
			}

			cr, err := c.Cancel(ctx, ids[0], "999999")
			if err != nil || len(cr.IDs) != 0 || len(cr.Errors) != 2 {
				t.Errorf("Cancel(final, unknown) = %+v, %v; want two errors in the result", cr, err)
			}
			// The group's on_done, which keeps its jobs while it runs, may
			// still run after the wait (docs/api.md, purge): purge until
			// all 3 went.
			purged := 0
			testproc.Poll(t, 10*time.Second, "group g purged", func() bool {
				n, err := c.Purge(ctx, PurgeFilter{Group: "g"})
				if err != nil {
					t.Fatal(err)
				}
				purged += n
				return purged >= 3
			})
			if purged != 3 {
				t.Errorf("Purge(group g) purged %d; want 3", purged)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	m := startMaster(t, nil)
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			c := mustDial(t, m, WithTransport(tr))
			ctx := context.Background()
			tests := []struct {
				name string
				call func() error
				want error
			}{
				{"Job unknown", func() error { _, err := c.Job(ctx, "424242"); return err }, ErrNotFound},
				{"Wait unknown", func() error { _, err := c.Wait(ctx, "424242"); return err }, ErrNotFound},
				{"WaitGroup unknown", func() error { _, err := c.WaitGroup(ctx, "nope"); return err }, ErrNotFound},
				{"CancelGroup unknown", func() error { _, err := c.CancelGroup(ctx, "nope"); return err }, ErrNotFound},
				{"PauseSchedule unknown", func() error { _, err := c.PauseSchedule(ctx, "nope"); return err }, ErrNotFound},
				{"Submit no type", func() error { _, err := c.Submit(ctx, jobs.Spec{}); return err }, ErrBadRequest},
				{"Submit nothing", func() error { _, err := c.Submit(ctx); return err }, ErrBadRequest},
				{"Submit, then with no type", func() error {
					_, err := c.Submit(ctx, jobs.Spec{Type: "t", Group: "g", Then: &jobs.Spec{}})
					return err
				}, ErrBadRequest},
				{"Wait nothing", func() error { _, err := c.Wait(ctx); return err }, ErrBadRequest},
				{"Purge no filter", func() error { _, err := c.Purge(ctx, PurgeFilter{}); return err }, ErrBadRequest},
				{"page too big", func() error { _, err := c.JobsPage(ctx, Query{PageSize: MaxPageSize + 1}); return err }, ErrBadRequest},
				{"page, unknown order", func() error { _, err := c.JobsPage(ctx, Query{Order: 7}); return err }, ErrBadRequest},
				{"Jobs, unknown order", func() error {
					for _, err := range c.Jobs(ctx, Query{Order: -1}) {
						return err
					}
					return nil
				}, ErrBadRequest},
			}
			for _, tt := range tests {
				if err := tt.call(); !errors.Is(err, tt.want) {
					t.Errorf("%s: err = %v; want %v", tt.name, err, tt.want)
				}
			}
		})
	}
}

func TestUnauthorized(t *testing.T) {
	m := startMaster(t, func(cfg *master.Config) { cfg.Token = "s3cret" })
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			ctx := context.Background()
			if _, err := mustDial(t, m, WithTransport(tr)).Status(ctx); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("Status without a token: err = %v; want ErrUnauthorized", err)
			}
			if _, err := mustDial(t, m, WithTransport(tr), WithToken("s3cret")).Status(ctx); err != nil {
				t.Errorf("Status with the token: %v", err)
			}
		})
	}
}

func TestContextErrors(t *testing.T) {
	m := startMaster(t, nil)
	c := mustDial(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Status(ctx); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("Status(cancelled ctx): err = %v; want context.Canceled and ErrUnavailable", err)
	}
	c.Close()
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Status after Close: err = %v; want ErrUnavailable", err)
	}
}

// TestConcurrentFirstCalls: a new Client's first calls, made by many
// goroutines at once, share one connection; none is lost to the master's
// limit on new connections from one address (max_anonymous_per_address,
// 32).
func TestConcurrentFirstCalls(t *testing.T) {
	m := startMaster(t, nil)
	c := mustDial(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const callers = 64
	start := make(chan struct{})
	errs := make(chan error, callers)
	var ready, wg sync.WaitGroup
	ready.Add(callers)
	for range callers {
		wg.Go(func() {
			ready.Done()
			<-start
			if _, err := c.Submit(ctx, jobs.Spec{Type: "nobody"}); err != nil {
				errs <- err
			}
		})
	}
	ready.Wait() // every caller is waiting for start
	close(start)
	wg.Wait()
	close(errs)
	text, err := drovertest.FetchMetrics(m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	evicted, _ := drovertest.MetricValue(text, "drover_connections_anonymous_evicted_per_address_total")
	t.Logf("%d first calls at once: %d failed, %v connections evicted", callers, len(errs), evicted)
	for err := range errs {
		t.Errorf("Submit: %v", err)
	}
	if evicted != 0 {
		t.Errorf("the master evicted %v of the client's connections, want none", evicted)
	}
}

func TestDialErrors(t *testing.T) {
	tests := []struct {
		addr string
		opts []Option
	}{
		{"127.0.0.1:1", []Option{WithTransport("carrier-pigeon")}},
		{"ftp://127.0.0.1:1", nil},
		{"ftp://127.0.0.1:1", []Option{WithTransport(XMLRPC)}},
		{"127.0.0.1:1", []Option{WithTLSFiles("/nonexistent/ca.pem", "", "")}},
		{"127.0.0.1:1", []Option{WithTLSFiles("", "cert.pem", "")}},
	}
	for _, tt := range tests {
		if c, err := Dial(tt.addr, tt.opts...); err == nil {
			c.Close()
			t.Errorf("Dial(%q, %d options) succeeded; want an error", tt.addr, len(tt.opts))
		}
	}
	// An address with no port, or another that cannot be dialed, is a bad
	// address: Dial refuses it (the first call would fail, as
	// ErrUnavailable, which is retried).
	for _, tr := range transports {
		for _, addr := range []string{"127.0.0.1", "master.example", "127.0.0.1:0", "127.0.0.1:7070,127.0.0.1"} {
			c, err := Dial(addr, WithTransport(tr))
			if err == nil {
				c.Close()
				t.Errorf("Dial(%q, %s) succeeded; want ErrBadRequest", addr, tr)
			} else if !errors.Is(err, ErrBadRequest) {
				t.Errorf("Dial(%q, %s): %v; want ErrBadRequest", addr, tr, err)
			}
		}
	}
	// An unreachable master is found by the first call, not by Dial.
	c, err := Dial("127.0.0.1:1", WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Status of nothing: err = %v; want ErrUnavailable", err)
	}
}

func TestJobsPages(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	specs := make([]jobs.Spec, 25)
	for i := range specs {
		// Delayed and of a type no worker has: they stay pending.
		specs[i] = jobs.Spec{Type: "later", Args: map[string]string{"i": strconv.Itoa(i)}, Delay: time.Hour}
	}
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			c := mustDial(t, m, WithTransport(tr))
			if _, err := c.Submit(ctx, specs...); err != nil {
				t.Fatal(err)
			}
			group := "g-" + string(tr)
			ids, err := c.Submit(ctx, groupOf(specs, group)...)
			if err != nil {
				t.Fatal(err)
			}
			cc := count(c, nil)

			var got []string
			for j, err := range c.Jobs(ctx, Query{Group: group, PageSize: 4}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, j.ID)
			}
			want := slices.Clone(ids)
			slices.Reverse(want) // newest first
			if !slices.Equal(got, want) {
				t.Errorf("Jobs, pages of 4 = %v; want %v", got, want)
			}
			if n := cc.calls(rpcapi.MasterListJobs); n < 7 {
				t.Errorf("Jobs made %d calls for 25 jobs in pages of 4; want at least 7", n)
			}

			// Breaking out of the loop stops the calls: 6 jobs take 2 pages.
			before := cc.calls(rpcapi.MasterListJobs)
			got = got[:0]
			for j, err := range c.Jobs(ctx, Query{Group: group, PageSize: 4, Order: OldestFirst}) {
				if err != nil {
					t.Fatal(err)
				}
				if got = append(got, j.ID); len(got) == 6 {
					break
				}
			}
			if !slices.Equal(got, ids[:6]) {
				t.Errorf("first 6 jobs oldest first = %v; want %v", got, ids[:6])
			}
			if n := cc.calls(rpcapi.MasterListJobs) - before; n != 2 {
				t.Errorf("a loop that broke after 6 jobs made %d calls; want 2", n)
			}

			// A page and its cursor continue where the iterator would.
			p, err := c.JobsPage(ctx, Query{Group: group, PageSize: 10, Order: OldestFirst})
			if err != nil || len(p.Jobs) != 10 || p.Next == "" {
				t.Fatalf("JobsPage = %d jobs, next %q, %v; want 10 and a cursor", len(p.Jobs), p.Next, err)
			}
			got = got[:0]
			for j, err := range c.Jobs(ctx, Query{Group: group, PageSize: 10, Order: OldestFirst, Cursor: p.Next}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, j.ID)
			}
			if !slices.Equal(got, ids[10:]) {
				t.Errorf("Jobs from the cursor = %v; want %v", got, ids[10:])
			}
		})
	}
}

// TestGroupsAndWorkersPages: Groups and Workers list every group and
// worker, over as many calls as their pages take (the master's default
// page is DefaultPageSize), the latest first.
func TestGroupsAndWorkersPages(t *testing.T) {
	const n = DefaultPageSize + 30
	m := startMaster(t, func(cfg *master.Config) { cfg.DeadAfter = time.Minute })
	ctx := context.Background()
	var groups, workers []string
	for i := range n {
		groups = append(groups, fmt.Sprintf("g%03d", i))
		workers = append(workers, fmt.Sprintf("w%03d", i))
	}
	specs := make([]jobs.Spec, n)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "nobody", Group: groups[i]} // no worker has it: they stay pending
	}
	m.Submit(specs...)
	for _, name := range workers {
		_, err := m.Client().Register(ctx, &rpcapi.RegisterArgs{Name: name, Types: []string{"t"}, Slots: 1, Mode: rpcapi.ModePull})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Reverse(groups) // the latest first
	slices.Reverse(workers)
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			c := mustDial(t, m, WithTransport(tr))
			cc := count(c, nil)
			got := names(t, c.Groups(ctx), func(g Group) string { return g.Name })
			if !slices.Equal(got, groups) || cc.calls(rpcapi.MasterListGroups) != 2 {
				t.Errorf("Groups = %v in %d calls; want %v in 2", got, cc.calls(rpcapi.MasterListGroups), groups)
			}
			got = names(t, c.Workers(ctx), func(w Worker) string { return w.Name })
			if !slices.Equal(got, workers) || cc.calls(rpcapi.MasterListWorkers) != 2 {
				t.Errorf("Workers = %v in %d calls; want %v in 2", got, cc.calls(rpcapi.MasterListWorkers), workers)
			}
		})
	}
}

// names returns the name of everything seq yields, failing the test at an
// error.
func names[T any](t *testing.T, seq iter.Seq2[T, error], name func(T) string) []string {
	t.Helper()
	var out []string
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, name(v))
	}
	return out
}

func groupOf(specs []jobs.Spec, group string) []jobs.Spec {
	out := slices.Clone(specs)
	for i := range out {
		out[i].Group = group
	}
	return out
}

func TestWaitSpansCalls(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			release := make(chan struct{})
			block := func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
				select {
				case <-release:
					return jobs.Result{}, nil
				case <-ctx.Done():
					return jobs.Result{}, ctx.Err()
				}
			}
			m := startWithWorker(t, tr, map[string]worker.HandlerFunc{"block": block})
			c := mustDial(t, m, WithTransport(tr), WithWaitPoll(50*time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := c.Submit(ctx,
				jobs.Spec{Type: "block", Group: "slow"},
				jobs.Spec{Type: "block", Group: "slow"}); err != nil {
				t.Fatal(err)
			}

			// A short ctx ends the wait with the counts so far.
			short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
			res, err := c.WaitGroup(short, "slow")
			cancelShort()
			if !errors.Is(err, context.DeadlineExceeded) || res.Done || res.Counts[jobs.Pending]+res.Counts[jobs.Running] != 2 {
				t.Errorf("WaitGroup(300ms) = %+v, %v; want 2 live jobs, not done, DeadlineExceeded", res, err)
			}

			// The jobs finish only once the third wait call is under way.
			cc := count(c, func(method string, n int) {
				if method == rpcapi.MasterWait && n == 3 {
					close(release)
				}
			})
			res, err = c.WaitGroup(ctx, "slow")
			if err != nil || !res.OK() || res.Counts[jobs.Succeeded] != 2 {
				t.Errorf("WaitGroup = %+v, %v; want both succeeded", res, err)
			}
			if n := cc.calls(rpcapi.MasterWait); n < 3 {
				t.Errorf("WaitGroup made %d calls; want at least 3", n)
			}
		})
	}
}

// TestWaitCountsWhenCtxEnds: a Wait whose ctx ends before the jobs are
// final returns the counts of its last answered call, though the wait
// poll (30 s) is longer than ctx: its first call returns at once, and the
// others before ctx's deadline.
func TestWaitCountsWhenCtxEnds(t *testing.T) {
	m := startMaster(t, nil)
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			c := mustDial(t, m, WithTransport(tr))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// No worker has the type: the jobs stay pending.
			group := "stuck-" + string(tr)
			ids, err := c.Submit(ctx, jobs.Spec{Type: "nobody", Group: group}, jobs.Spec{Type: "nobody", Group: group})
			if err != nil {
				t.Fatal(err)
			}
			// Once the first wait call has answered, one job is cancelled:
			// only a later call's counts show it.
			count(c, func(method string, n int) {
				if method == rpcapi.MasterWait && n == 2 {
					if _, err := c.Cancel(ctx, ids[0]); err != nil {
						t.Errorf("Cancel: %v", err)
					}
				}
			})
			want := map[jobs.State]int{jobs.Pending: 1, jobs.Cancelled: 1}
			check := func(what string, res WaitResult, err, wantErr error) {
				t.Helper()
				t.Logf("%s = %+v, %v", what, res, err)
				if !errors.Is(err, wantErr) || res.Done || !maps.Equal(res.Counts, want) {
					t.Errorf("%s = %+v, %v; want counts %v, not done, %v", what, res, err, want, wantErr)
				}
			}

			short, cancelShort := context.WithTimeout(ctx, time.Second)
			res, err := c.Wait(short, ids...)
			cancelShort()
			check("Wait(1s)", res, err, context.DeadlineExceeded)

			short, cancelShort = context.WithTimeout(ctx, time.Second)
			res, err = c.WaitGroup(short, group)
			cancelShort()
			check("WaitGroup(1s)", res, err, context.DeadlineExceeded)

			// A ctx with no deadline, cancelled while a call blocks.
			cancelled, cancelNow := context.WithCancel(context.Background())
			stop := time.AfterFunc(500*time.Millisecond, cancelNow)
			res, err = c.Wait(cancelled, ids...)
			stop.Stop()
			cancelNow()
			check("Wait(cancelled after 500ms)", res, err, context.Canceled)
		})
	}
}

func TestSchedules(t *testing.T) {
	m := startMaster(t, nil)
	c := mustDial(t, m)
	ctx := context.Background()
	ids, err := c.Submit(ctx, jobs.Spec{Type: "echo", Name: "nightly", Schedule: "@daily"})
	if err != nil || !slices.Equal(ids, []string{"schedule:nightly"}) {
		t.Fatalf("Submit(schedule) = %v, %v; want [schedule:nightly]", ids, err)
	}
	list, err := c.Schedules(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "nightly" || list[0].Paused {
		t.Fatalf("Schedules = %+v, %v; want nightly, not paused", list, err)
	}
	s, err := c.PauseSchedule(ctx, "nightly")
	if err != nil || !s.Paused {
		t.Errorf("PauseSchedule = %+v, %v; want paused", s, err)
	}
	s, err = c.ResumeSchedule(ctx, "nightly")
	if err != nil || s.Paused {
		t.Errorf("ResumeSchedule = %+v, %v; want not paused", s, err)
	}
}

func TestCloseEndsWait(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			m := startMaster(t, nil)
			c := mustDial(t, m, WithTransport(tr), WithWaitPoll(200*time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// No worker has the type: the job stays pending.
			ids, err := c.Submit(ctx, jobs.Spec{Type: "nobody"})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			var closer sync.WaitGroup
			defer closer.Wait()
			count(c, func(method string, n int) {
				if method == rpcapi.MasterWait && n == 2 {
					closer.Go(func() { c.Close() }) // while the call is in flight
				}
			})
			go func() { _, err := c.Wait(ctx, ids...); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
					t.Errorf("Wait after Close: err = %v; want ErrUnavailable before ctx ends", err)
				}
			case <-ctx.Done():
				t.Fatal("Wait did not return after Close")
			}
		})
	}
}
