package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/xmlrpc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// The tokens of the submitter tests: two client tokens, alice and bob,
// and an admin, root.
const (
	aliceToken = "tok-alice-0b7e55c1d2"
	bobToken   = "tok-bob-9d41f2a6c8e0"
	rootToken  = "tok-root-3c8a1e7f09b"
)

func ownerCreds() []rpcapi.Credential {
	return []rpcapi.Credential{
		{Name: "alice", Role: rpcapi.RoleClient, Token: aliceToken},
		{Name: "bob", Role: rpcapi.RoleClient, Token: bobToken},
		{Name: "root", Role: rpcapi.RoleAdmin, Token: rootToken},
	}
}

// ownerClients are one master client per token of ownerCreds, over one
// transport.
type ownerClients struct {
	alice, bob, root rpcapi.MasterClient
}

func dialOwners(t *testing.T, addr, transport string) ownerClients {
	t.Helper()
	dial := func(tok string) rpcapi.MasterClient {
		c, err := rpcapi.NewCaller(addr, transport, rpcapi.WithToken(tok))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return rpcapi.MasterClient{C: c}
	}
	return ownerClients{alice: dial(aliceToken), bob: dial(bobToken), root: dial(rootToken)}
}

func submitAs(t *testing.T, mc rpcapi.MasterClient, specs ...jobs.Spec) []string {
	t.Helper()
	return submit(t, mc, specs...)
}

func jobState(t *testing.T, mc rpcapi.MasterClient, id string) jobs.State {
	t.Helper()
	return getJob(t, mc, id).Job.State
}

// cancelAs cancels ids with mc and returns the reply and the error.
func cancelAs(mc rpcapi.MasterClient, ids ...string) (*rpcapi.CancelReply, error) {
	ctx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	return mc.Cancel(ctx, &rpcapi.CancelArgs{IDs: ids})
}

func cancelGroupAs(mc rpcapi.MasterClient, g string) (*rpcapi.CancelReply, error) {
	ctx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	return mc.Cancel(ctx, &rpcapi.CancelArgs{Group: g})
}

// wantOwnRefusal checks that err is the refusal of a client token's cancel
// of a job it did not submit.
func wantOwnRefusal(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, rpcapi.ErrForbidden) || !strings.Contains(err.Error(), "only the jobs it submitted") {
		t.Fatalf("%s: err = %v; want ErrForbidden: only the jobs it submitted", what, err)
	}
}

// TestClientCancelOwn: on a master with client_cancel "own", over both
// transports, a job records the token that submitted it; a client
// token's cancel of a job another token submitted is refused with the
// permission fault and changes nothing, the job runs on; its submitter's
// cancel and an admin's cancel work.
func TestClientCancelOwn(t *testing.T) {
	m := startAPIMaster(t, master.Config{Tokens: ownerCreds(), ClientCancel: master.ClientCancelOwn})
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		t.Run(transport, func(t *testing.T) {
			c := dialOwners(t, m.Addr(), transport)
			ids := submitAs(t, c.alice, jobs.Spec{Type: "nobody-runs-this"}, jobs.Spec{Type: "nobody-runs-this"})
			own := submitAs(t, c.bob, jobs.Spec{Type: "nobody-runs-this"})[0]
			for _, id := range ids {
				if by := getJob(t, c.bob, id).Job.Submitter; by != "alice" {
					t.Fatalf("job %s: submitter %q, want alice", id, by)
				}
			}
			before := getJob(t, c.root, ids[0]).Job

			_, err := cancelAs(c.bob, ids[0])
			wantOwnRefusal(t, "bob cancels alice's job", err)
			// One foreign job refuses the whole call: bob's own job stays.
			_, err = cancelAs(c.bob, own, ids[0])
			wantOwnRefusal(t, "bob cancels his job and alice's", err)
			after := getJob(t, c.root, ids[0]).Job
			if after.State != jobs.Pending || len(after.Events) != len(before.Events) {
				t.Fatalf("alice's job after bob's refused cancels: %s, events %v; want pending, unchanged", after.State, after.Events)
			}
			if s := jobState(t, c.root, own); s != jobs.Pending {
				t.Fatalf("bob's job after his refused cancel: %s, want pending", s)
			}

			if r, err := cancelAs(c.alice, ids[0]); err != nil || !slices.Equal(r.Cancelled, ids[:1]) {
				t.Fatalf("alice cancels her job: %+v, %v", r, err)
			}
			if r, err := cancelAs(c.root, ids[1]); err != nil || !slices.Equal(r.Cancelled, ids[1:]) {
				t.Fatalf("admin cancels alice's job: %+v, %v", r, err)
			}
			if r, err := cancelAs(c.bob, own); err != nil || !slices.Equal(r.Cancelled, []string{own}) {
				t.Fatalf("bob cancels his job: %+v, %v", r, err)
			}
			for _, id := range append(ids, own) {
				if s := jobState(t, c.root, id); s != jobs.Cancelled {
					t.Fatalf("job %s: %s, want cancelled", id, s)
				}
			}
		})
	}
}

// TestClientCancelOwnRunningJobRunsOn: bob's refused cancel of alice's
// running job leaves it running on its worker, which finishes it.
func TestClientCancelOwnRunningJobRunsOn(t *testing.T) {
	m := startAPIMaster(t, master.Config{Tokens: ownerCreds(), ClientCancel: master.ClientCancelOwn})
	c := dialOwners(t, m.Addr(), rpcapi.TransportGob)
	ctx := ctxT(t, 20*time.Second)
	reg, err := c.root.Register(ctx, &rpcapi.RegisterArgs{Name: "puller", Mode: rpcapi.ModePull, Types: []string{"pulled"}, Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := submitAs(t, c.alice, jobs.Spec{Type: "pulled"})[0]
	fetched, err := c.root.Fetch(ctx, &rpcapi.FetchArgs{WorkerID: reg.WorkerID, Secret: reg.Secret, Max: 1, Timeout: 5 * time.Second})
	if err != nil || len(fetched.Tasks) != 1 {
		t.Fatalf("fetch: %+v, %v", fetched, err)
	}
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		_, err := cancelAs(dialOwners(t, m.Addr(), transport).bob, id)
		wantOwnRefusal(t, transport+": bob cancels alice's running job", err)
	}
	if s := jobState(t, c.root, id); s != jobs.Running {
		t.Fatalf("alice's job after bob's refused cancels: %s, want running", s)
	}
	// The worker was told nothing: its report is taken.
	task := fetched.Tasks[0]
	if _, err := c.root.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: reg.WorkerID, Secret: reg.Secret,
		Reports: []rpcapi.Report{{JobID: task.JobID, Attempt: task.Attempt, Outcome: jobs.OK, Output: "ran on"}}}); err != nil {
		t.Fatal(err)
	}
	if j := getJob(t, c.root, id).Job; j.State != jobs.Succeeded {
		t.Fatalf("alice's job: %s, want succeeded", j.State)
	}
}

// TestClientCancelOwnGroup: a client token's cancel of a group cancels
// the group's live jobs it submitted and counts the others as skipped; a
// cancel that would leave every live job of the group is refused. An
// admin cancels them all.
func TestClientCancelOwnGroup(t *testing.T) {
	m := startAPIMaster(t, master.Config{Tokens: ownerCreds(), ClientCancel: master.ClientCancelOwn})
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		t.Run(transport, func(t *testing.T) {
			c := dialOwners(t, m.Addr(), transport)
			g := "g-" + transport
			alices := submitAs(t, c.alice, jobs.Spec{Type: "nobody-runs-this", Group: g}, jobs.Spec{Type: "nobody-runs-this", Group: g})
			bobs := submitAs(t, c.bob, jobs.Spec{Type: "nobody-runs-this", Group: g})

			r, err := cancelGroupAs(c.bob, g)
			if err != nil || !slices.Equal(r.Cancelled, bobs) || r.Skipped != 2 {
				t.Fatalf("bob cancels group %s: %+v, %v; want his job cancelled and 2 skipped", g, r, err)
			}
			_, err = cancelGroupAs(c.bob, g)
			wantOwnRefusal(t, "bob cancels the group again", err)
			for _, id := range alices {
				if s := jobState(t, c.root, id); s != jobs.Pending {
					t.Fatalf("alice's job %s after bob's group cancels: %s, want pending", id, s)
				}
			}
			r, err = cancelGroupAs(c.root, g)
			if err != nil || !slices.Equal(r.Cancelled, alices) || r.Skipped != 0 {
				t.Fatalf("admin cancels group %s: %+v, %v; want alice's jobs cancelled, none skipped", g, r, err)
			}
		})
	}
}

// TestClientCancelAny: by default (client_cancel "any") a client token
// cancels a job another token submitted, over both transports.
func TestClientCancelAny(t *testing.T) {
	m := startAPIMaster(t, master.Config{Tokens: ownerCreds()})
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		c := dialOwners(t, m.Addr(), transport)
		g := "any-" + transport
		ids := submitAs(t, c.alice, jobs.Spec{Type: "nobody-runs-this"}, jobs.Spec{Type: "nobody-runs-this", Group: g})
		if r, err := cancelAs(c.bob, ids[0]); err != nil || !slices.Equal(r.Cancelled, ids[:1]) {
			t.Fatalf("%s: bob cancels alice's job: %+v, %v", transport, r, err)
		}
		if r, err := cancelGroupAs(c.bob, g); err != nil || !slices.Equal(r.Cancelled, ids[1:]) || r.Skipped != 0 {
			t.Fatalf("%s: bob cancels alice's group: %+v, %v", transport, r, err)
		}
	}
}

// TestClientCancelOwnRawXMLRPC: the refusal is XML-RPC fault 7 to a plain
// XML-RPC client, and get_job's job has the member submitter.
func TestClientCancelOwnRawXMLRPC(t *testing.T) {
	m := startAPIMaster(t, master.Config{Tokens: ownerCreds(), ClientCancel: master.ClientCancelOwn})
	c := dialOwners(t, m.Addr(), rpcapi.TransportGob)
	id := submitAs(t, c.alice, jobs.Spec{Type: "nobody-runs-this"})[0]

	v, err := roleXMLCall(t, m, bobToken, "get_job", map[string]any{"id": id})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := v.(map[string]any)["job"].(map[string]any)
	if job["submitter"] != "alice" {
		t.Fatalf("get_job: job %v; want submitter alice", job)
	}
	_, err = roleXMLCall(t, m, bobToken, "cancel_jobs", map[string]any{"ids": []any{id}})
	var fault *xmlrpc.Fault
	if !errors.As(err, &fault) || fault.Code != rpcapi.FaultForbidden {
		t.Fatalf("bob's cancel_jobs: %v; want fault %d", err, rpcapi.FaultForbidden)
	}
	v, err = roleXMLCall(t, m, aliceToken, "cancel_jobs", map[string]any{"ids": []any{id}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := v.(map[string]any)["cancelled"].([]any); len(got) != 1 || got[0] != id {
		t.Fatalf("alice's cancel_jobs: %v", v)
	}
}

// TestClientCancelOwnHTTP: the JSON API shows the submitter in a job's
// detail and refuses bob's cancel of alice's job with 403.
func TestClientCancelOwnHTTP(t *testing.T) {
	m := startAPIMaster(t, master.Config{Tokens: ownerCreds(), ClientCancel: master.ClientCancelOwn})
	c := dialOwners(t, m.Addr(), rpcapi.TransportGob)
	id := submitAs(t, c.alice, jobs.Spec{Type: "nobody-runs-this"})[0]
	api := newHTTPAPI(t, m)
	do := func(method, path, token string) (int, map[string]any) {
		t.Helper()
		api.token = token
		code, b := api.do(method, path, "")
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return code, body
	}
	if code, body := do("GET", "jobs/"+id, bobToken); code != http.StatusOK || body["submitter"] != "alice" {
		t.Fatalf("GET job: %d %v; want submitter alice", code, body)
	}
	if code, body := do("POST", "jobs/"+id+"/cancel", bobToken); code != http.StatusForbidden {
		t.Fatalf("bob's POST cancel: %d %v; want 403", code, body)
	}
	if s := jobState(t, c.root, id); s != jobs.Pending {
		t.Fatalf("after bob's refused cancel: %s, want pending", s)
	}
	if code, body := do("POST", "jobs/"+id+"/cancel", aliceToken); code != http.StatusOK || body["state"] != string(jobs.Cancelled) {
		t.Fatalf("alice's POST cancel: %d %v; want 200, cancelled", code, body)
	}
}

// TestSubmitterOfMastersOwnJobs: a schedule's fire has the submitter
// "schedule:NAME", which no client token owns; a group's follow-up job
// has the submitter of the group's job that carried it, who may cancel
// it.
func TestSubmitterOfMastersOwnJobs(t *testing.T) {
	m := startAPIMaster(t, master.Config{Tokens: ownerCreds(), ClientCancel: master.ClientCancelOwn})
	c := dialOwners(t, m.Addr(), rpcapi.TransportGob)

	submitAs(t, c.root, jobs.Spec{Name: "tick", Schedule: "@every 1s", Type: "nobody-runs-this"}) // an admin's (docs/security.md)
	var fire string
	pollT(t, 10*time.Second, "the schedule to fire", func() bool {
		r, err := c.root.ListSchedules(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range r.Schedules {
			if s.Name == "tick" {
				fire = s.LastJob
			}
		}
		return fire != ""
	})
	if by := getJob(t, c.root, fire).Job.Submitter; by != "schedule:tick" {
		t.Fatalf("fire %s: submitter %q, want schedule:tick", fire, by)
	}
	_, err := cancelAs(c.alice, fire)
	wantOwnRefusal(t, "alice cancels a fire of a schedule", err)
	if _, err := c.root.PauseSchedule(context.Background(), "tick"); err != nil {
		t.Fatal(err)
	}

	then := &jobs.Spec{Type: "nobody-runs-this"}
	g := submitAs(t, c.alice, jobs.Spec{Type: "nobody-runs-this", Group: "with-then", Then: then})
	if _, err := cancelAs(c.alice, g...); err != nil {
		t.Fatal(err)
	}
	var follow string
	pollT(t, 10*time.Second, "the follow-up job", func() bool {
		gi, err := c.root.GetGroup(context.Background(), "with-then")
		if err != nil {
			t.Fatal(err)
		}
		if gi.OnDone != nil {
			follow = gi.OnDone.Then
		}
		return follow != ""
	})
	if by := getJob(t, c.root, follow).Job.Submitter; by != "alice" {
		t.Fatalf("follow-up %s: submitter %q, want alice", follow, by)
	}
	_, err = cancelAs(c.bob, follow)
	wantOwnRefusal(t, "bob cancels alice's follow-up", err)
	if r, err := cancelAs(c.alice, follow); err != nil || len(r.Cancelled) != 1 {
		t.Fatalf("alice cancels her follow-up: %+v, %v", r, err)
	}
}

// TestSubmitterSurvivesRestart: a master restarted on its data dir still
// knows who submitted each job, so "own" holds across the restart.
func TestSubmitterSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := master.Config{DataDir: dir, Tokens: ownerCreds(), ClientCancel: master.ClientCancelOwn}
	m1 := startAPIMaster(t, cfg)
	id := submitAs(t, dialOwners(t, m1.Addr(), rpcapi.TransportGob).alice, jobs.Spec{Type: "nobody-runs-this"})[0]
	m1.Close()

	m2 := startAPIMaster(t, cfg)
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		c := dialOwners(t, m2.Addr(), transport)
		if by := getJob(t, c.bob, id).Job.Submitter; by != "alice" {
			t.Fatalf("%s: after the restart job %s has submitter %q, want alice", transport, id, by)
		}
		_, err := cancelAs(c.bob, id)
		wantOwnRefusal(t, transport+": bob cancels alice's job after the restart", err)
	}
	c := dialOwners(t, m2.Addr(), rpcapi.TransportXMLRPC)
	if r, err := cancelAs(c.alice, id); err != nil || len(r.Cancelled) != 1 {
		t.Fatalf("alice cancels her job after the restart: %+v, %v", r, err)
	}
}
