package master_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// A worker speaks only for itself (docs/protocol.md, "Authentication and
// TLS", register_worker, task_complete): these tests are the outside
// reproductions of issue 13, each of which did harm, now refused.

var transports = []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC}

// callerT dials addr over transport with token, closed at cleanup.
func callerT(t *testing.T, addr, transport, token string) rpcapi.MasterClient {
	t.Helper()
	c, err := rpcapi.NewCaller(addr, transport, rpcapi.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return rpcapi.MasterClient{C: c}
}

// wantFault fails the test unless err is the sentinel want.
func wantFault(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// workerByID returns the master's record of worker id.
func workerByID(t *testing.T, mc rpcapi.MasterClient, id string) rpcapi.WorkerInfo {
	t.Helper()
	r, err := mc.ListWorkers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range r.Workers {
		if w.ID == id {
			return w
		}
	}
	t.Fatalf("worker %s not listed", id)
	return rpcapi.WorkerInfo{}
}

// slowReap keeps a worker that never beats alive for the test's length.
var slowReap = master.Config{HeartbeatInterval: time.Second, DeadAfter: 30 * time.Second}

// TestForgedReportRefused: a task_complete naming another worker's ID (no
// secret, or the sender's own) is fault 6, and a report under the sender's
// own ID for an attempt leased to another worker is refused and counted;
// the job stays running on its worker, which then reports it itself.
func TestForgedReportRefused(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			m := startMaster(t, slowReap)
			mc := callerT(t, m.Addr(), tr, "")
			ctx := context.Background()
			fake := &fakeWorker{}
			victim, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: "victim", Addr: serveFake(t, fake), Types: []string{"echo"}, Slots: 1})
			if err != nil {
				t.Fatal(err)
			}
			forger, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: "forger", Types: []string{"other"}, Slots: 1, Mode: rpcapi.ModePull})
			if err != nil {
				t.Fatal(err)
			}
			id := submit(t, mc, jobs.Spec{Type: "echo"})[0]
			pollT(t, 10*time.Second, "the victim to get the job", func() bool { return len(fake.taskList()) == 1 })
			before := getJob(t, mc, id).Job
			forged := []rpcapi.Report{{JobID: id, Attempt: before.Attempt, Outcome: jobs.OK, Output: "forged"}}

			_, err = mc.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: victim.WorkerID, Reports: forged})
			wantFault(t, "the victim's ID without a secret", err, rpcapi.ErrUnauthorized)
			_, err = mc.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: victim.WorkerID, Secret: forger.Secret, Reports: forged})
			wantFault(t, "the victim's ID with the forger's secret", err, rpcapi.ErrUnauthorized)
			_, err = mc.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: "w404-nobody", Secret: forger.Secret, Reports: forged})
			wantFault(t, "an ID the master never gave", err, rpcapi.ErrUnknownWorker)
			if n := metricT(t, m.Addr(), "", "drover_worker_secret_refused_total"); n != 2 {
				t.Errorf("drover_worker_secret_refused_total %v, want 2", n)
			}
			cr, err := mc.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: forger.WorkerID, Secret: forger.Secret, Reports: forged})
			if err != nil || cr.Refused != 1 || cr.Accepted != 0 || cr.Dropped != 0 {
				t.Errorf("the victim's attempt under the forger's own ID: %+v %v, want refused", cr, err)
			}
			if n := metricT(t, m.Addr(), "", "drover_foreign_reports_refused_total"); n != 1 {
				t.Errorf("drover_foreign_reports_refused_total %v, want 1", n)
			}
			j := getJob(t, mc, id).Job
			if j.State != jobs.Running || j.Worker != victim.WorkerID || j.Attempt != before.Attempt ||
				len(j.Attempts) != 1 || j.Attempts[0].Output != "" || !j.Attempts[0].Ended.IsZero() {
				t.Fatalf("after the forgeries the job is %s on %s, attempts %+v; want still running on %s", j.State, j.Worker, j.Attempts, victim.WorkerID)
			}
			if v := workerByID(t, mc, victim.WorkerID); v.State != rpcapi.WorkerAlive || v.Running != 1 {
				t.Fatalf("victim after the forgeries: %s with %d running, want alive with its job", v.State, v.Running)
			}

			cr, err = mc.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: victim.WorkerID, Secret: victim.Secret,
				Reports: []rpcapi.Report{{JobID: id, Attempt: before.Attempt, Outcome: jobs.OK, Output: "real"}}})
			if err != nil || cr.Accepted != 1 {
				t.Fatalf("the victim's own report: %+v %v, want accepted", cr, err)
			}
			if j := getJob(t, mc, id).Job; j.State != jobs.Succeeded || j.Attempts[0].Output != "real" || j.Attempts[0].Worker != victim.WorkerID {
				t.Fatalf("job %s, attempts %+v; want succeeded with the victim's output", j.State, j.Attempts)
			}
		})
	}
}

// TestForeignWorkerCallsRefused: logout_worker, heartbeat and fetch_tasks
// for another worker's ID, without a secret, with another registration's
// or with a made-up one, are fault 6 and change nothing: the worker stays
// alive, not draining, its last heartbeat as it was. Its own calls work.
func TestForeignWorkerCallsRefused(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			m := startMaster(t, slowReap)
			mc := callerT(t, m.Addr(), tr, "")
			ctx := context.Background()
			reg := func(name string) *rpcapi.RegisterReply {
				r, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: name, Types: []string{"t"}, Slots: 1, Mode: rpcapi.ModePull})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			victim, other := reg("victim"), reg("other")
			before := workerByID(t, mc, victim.WorkerID)
			id := victim.WorkerID
			for _, secret := range []string{"", other.Secret, strings.Repeat("0", 64)} {
				err := mc.Logout(ctx, &rpcapi.LogoutArgs{WorkerID: id, Secret: secret})
				wantFault(t, "logout_worker", err, rpcapi.ErrUnauthorized)
				_, err = mc.Heartbeat(ctx, &rpcapi.HeartbeatArgs{WorkerID: id, Secret: secret, Draining: true})
				wantFault(t, "heartbeat", err, rpcapi.ErrUnauthorized)
				_, err = mc.Fetch(ctx, &rpcapi.FetchArgs{WorkerID: id, Secret: secret, Timeout: 10 * time.Millisecond})
				wantFault(t, "fetch_tasks", err, rpcapi.ErrUnauthorized)
			}
			after := workerByID(t, mc, id)
			if after.State != rpcapi.WorkerAlive || !after.LastHeartbeat.Equal(before.LastHeartbeat) {
				t.Fatalf("victim after refused calls: %s, last heartbeat %s (was %s); want alive and untouched",
					after.State, after.LastHeartbeat, before.LastHeartbeat)
			}
			if n := metricT(t, m.Addr(), "", "drover_worker_secret_refused_total"); n != 9 {
				t.Errorf("drover_worker_secret_refused_total %v, want 9", n)
			}
			if hb, err := mc.Heartbeat(ctx, &rpcapi.HeartbeatArgs{WorkerID: id, Secret: victim.Secret}); err != nil || hb.Status != rpcapi.BeatOK {
				t.Fatalf("the victim's own beat: %+v %v", hb, err)
			}
			if err := mc.Logout(ctx, &rpcapi.LogoutArgs{WorkerID: id, Secret: victim.Secret}); err != nil {
				t.Fatalf("the victim's own logout: %v", err)
			}
			if w := workerByID(t, mc, id); w.State != rpcapi.WorkerDead {
				t.Fatalf("victim after its logout: %s, want dead", w.State)
			}
		})
	}
}

// TestReRegisterNewSecret: every registration gets a new ID and a new
// secret of 256 random bits; one registration's secret is no good for
// another's ID.
func TestReRegisterNewSecret(t *testing.T) {
	m := startMaster(t, slowReap)
	for _, tr := range transports {
		mc := callerT(t, m.Addr(), tr, "")
		ctx := context.Background()
		var regs []*rpcapi.RegisterReply
		for range 2 {
			r, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: "same", Types: []string{"t"}, Slots: 1, Mode: rpcapi.ModePull})
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(r.Secret) {
				t.Fatalf("%s: secret %q, want 64 hex digits", tr, r.Secret)
			}
			regs = append(regs, r)
		}
		if regs[0].WorkerID == regs[1].WorkerID || regs[0].Secret == regs[1].Secret {
			t.Fatalf("%s: two registrations got %+v and %+v, want different IDs and secrets", tr, regs[0], regs[1])
		}
		_, err := mc.Heartbeat(ctx, &rpcapi.HeartbeatArgs{WorkerID: regs[1].WorkerID, Secret: regs[0].Secret})
		wantFault(t, tr+": the new ID with the old secret", err, rpcapi.ErrUnauthorized)
		if hb, err := mc.Heartbeat(ctx, &rpcapi.HeartbeatArgs{WorkerID: regs[1].WorkerID, Secret: regs[1].Secret}); err != nil || hb.Status != rpcapi.BeatOK {
			t.Fatalf("%s: the new ID with its secret: %+v %v", tr, hb, err)
		}
	}
}

// target is a server that records every request it gets.
type target struct {
	mu   sync.Mutex
	reqs []string // "METHOD PATH?QUERY auth=AUTHORIZATION"
}

func (g *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.reqs = append(g.reqs, r.Method+" "+r.URL.RequestURI()+" auth="+r.Header.Get("Authorization"))
	g.mu.Unlock()
	http.Error(w, "no", http.StatusTeapot)
}

func (g *target) got() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.reqs)
}

// TestRegisterAddrNoForgery: register_worker with an addr of the caller's
// choosing (another path, a query, user info, a host the call did not
// come from) is fault 3, and the master sends that target nothing, token
// or not; a worker's own address is called at the fixed path only.
func TestRegisterAddrNoForgery(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			tg := &target{}
			srv := httptest.NewServer(tg)
			t.Cleanup(srv.Close)
			hostport := strings.TrimPrefix(srv.URL, "http://")
			_, port, _ := strings.Cut(hostport, ":")
			const token = "master-token"
			m := startMaster(t, master.Config{Token: token})
			mc := callerT(t, m.Addr(), tr, token)
			ctx := context.Background()
			for _, c := range []struct{ addr, transport string }{
				{srv.URL + "/internal/admin?x=1", rpcapi.TransportXMLRPC}, // the reproduction
				{srv.URL + "/internal/admin", rpcapi.TransportXMLRPC},
				{srv.URL + "/RPC2?x=1", rpcapi.TransportXMLRPC},
				{srv.URL + "/RPC2#top", rpcapi.TransportXMLRPC},
				{"http://drover:pw@" + hostport, rpcapi.TransportXMLRPC},
				{hostport + "/internal/admin", rpcapi.TransportGob},
				{srv.URL + "/RPC2", rpcapi.TransportGob},
				{"10.1.2.3:" + port, rpcapi.TransportGob},
				{"http://example.com:" + port, rpcapi.TransportXMLRPC},
				{"ftp://" + hostport, rpcapi.TransportXMLRPC},
			} {
				_, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: "ssrf", Addr: c.addr, Transport: c.transport, Types: []string{"ssrf"}, Slots: 1})
				wantFault(t, "register "+c.transport+" at "+c.addr, err, rpcapi.ErrBadRequest)
			}
			_, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: "ssrf", Addr: "10.1.2.3:" + port, Types: []string{"ssrf"}, Slots: 1})
			if err == nil || !strings.Contains(err.Error(), "(127.0.0.1)") {
				t.Errorf("a foreign host: %v, want an error naming the address the call came from", err)
			}
			id := submit(t, mc, jobs.Spec{Type: "ssrf"})[0]
			if w := getJob(t, mc, id).Waiting; !strings.Contains(w, `no live worker has type "ssrf"`) {
				t.Fatalf("job waits: %q, want no worker for it", w)
			}
			if got := tg.got(); len(got) != 0 {
				t.Fatalf("the target got %q", got)
			}

			// The same server as a worker's own endpoint: the master calls
			// it, at /RPC2 only, whatever path the addr had.
			if _, err := mc.Register(ctx, &rpcapi.RegisterArgs{Name: "own", Addr: srv.URL + "/", Transport: rpcapi.TransportXMLRPC,
				Types: []string{"ssrf"}, Slots: 1}); err != nil {
				t.Fatal(err)
			}
			pollT(t, 10*time.Second, "the master to call the worker's endpoint", func() bool { return len(tg.got()) > 0 })
			for _, r := range tg.got() {
				if r != "POST /RPC2 auth=Bearer "+token {
					t.Errorf("the endpoint got %q, want POST /RPC2 with the token", r)
				}
			}
		})
	}
}
