package master_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/xmlrpc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// roleToken is the token of role r in the role tests; its name is the
// role's.
func roleToken(r rpcapi.Role) string { return "tok-" + string(r) + "-5f0c9a17e3" }

func roleCreds() []rpcapi.Credential {
	var creds []rpcapi.Credential
	for _, r := range rpcapi.Roles {
		creds = append(creds, rpcapi.Credential{Name: string(r), Role: r, Token: roleToken(r)})
	}
	return creds
}

// startRoleMaster starts a master with one token of each role and a
// schedule "nightly" that does not fire during a test.
func startRoleMaster(t *testing.T) *master.Master {
	t.Helper()
	return startAPIMaster(t, master.Config{Tokens: roleCreds(), Jobs: []jobs.Spec{
		{Name: "nightly", Schedule: "@every 1h", Type: "nobody-runs-this", Key: "sched:nightly"}}})
}

// docRow is one row of a table of docs/security.md: its cells, without
// backticks, and the roles whose column says yes.
type docRow struct {
	cells []string
	roles map[rpcapi.Role]bool
}

// securityTable returns the rows of the table of docs/security.md whose
// header row is header. Every role cell must be "yes" or "—".
func securityTable(t *testing.T, header string) []docRow {
	t.Helper()
	b, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	at := slices.Index(lines, header)
	if at < 0 {
		t.Fatalf("docs/security.md has no table %q", header)
	}
	split := func(line string) []string {
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.ReplaceAll(strings.TrimSpace(c), "`", ""))
		}
		return cells
	}
	head := split(header)
	var rows []docRow
	for _, line := range lines[at+2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := split(line)
		if len(cells) != len(head) {
			t.Fatalf("docs/security.md: row %q has %d cells, the header %d", line, len(cells), len(head))
		}
		row := docRow{cells: cells, roles: make(map[rpcapi.Role]bool)}
		for i, h := range head {
			if r := rpcapi.Role(h); r.Valid() {
				switch cells[i] {
				case "yes":
					row.roles[r] = true
				case "—":
				default:
					t.Fatalf("docs/security.md: row %q, column %s: %q is neither yes nor —", line, h, cells[i])
				}
			}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		t.Fatalf("docs/security.md: table %q has no rows", header)
	}
	return rows
}

const rpcTableHeader = "| method | net/rpc | admin | client | worker | read |"

// roleFixture makes, with an admin client, what a call of the role tests
// acts on, and reads the master's state.
type roleFixture struct {
	t       *testing.T
	m       *master.Master // the master, for the HTTP tests
	admin   rpcapi.Caller
	n       int
	secrets map[string]string // by worker ID, from register_worker
}

func (f *roleFixture) call(method string, args, reply any) {
	f.t.Helper()
	if err := f.admin.Call(ctxT(f.t, 10*time.Second), method, args, reply); err != nil {
		f.t.Fatalf("admin %s: %v", method, err)
	}
}

func (f *roleFixture) uniq(prefix string) string {
	f.n++
	return fmt.Sprintf("%s-%d", prefix, f.n)
}

// register registers a pull worker of job type typ and returns its ID.
func (f *roleFixture) register(typ string) string {
	var r rpcapi.RegisterReply
	f.call(rpcapi.MasterRegister, &rpcapi.RegisterArgs{Name: f.uniq("w"), Mode: rpcapi.ModePull, Types: []string{typ}, Slots: 1}, &r)
	f.secrets[r.WorkerID] = r.Secret
	return r.WorkerID
}

func (f *roleFixture) submit(spec jobs.Spec) string {
	var r rpcapi.SubmitReply
	f.call(rpcapi.MasterSubmit, &rpcapi.SubmitArgs{Specs: []jobs.Spec{spec}}, &r)
	return r.IDs[0]
}

// job returns the job id, or nil when there is none.
func (f *roleFixture) job(id string) *jobs.Job {
	var r rpcapi.JobInfo
	err := f.admin.Call(ctxT(f.t, 10*time.Second), rpcapi.MasterGetJob, &rpcapi.GetJobArgs{ID: id}, &r)
	if errors.Is(err, rpcapi.ErrNotFound) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return &r.Job
}

// running submits a job of a new type for a new pull worker and waits
// until it is leased to it.
func (f *roleFixture) running() (workerID, jobID string) {
	typ := f.uniq("t")
	workerID = f.register(typ)
	jobID = f.submit(jobs.Spec{Type: typ})
	pollT(f.t, 10*time.Second, "the job to be leased", func() bool { return f.job(jobID).State == jobs.Running })
	return workerID, jobID
}

func (f *roleFixture) workerState(id string) string {
	var r rpcapi.ListWorkersReply
	f.call(rpcapi.MasterListWorkers, &rpcapi.ListWorkersArgs{Limit: rpcapi.MaxPageSize}, &r)
	for _, w := range r.Workers {
		if w.ID == id {
			return w.State
		}
	}
	return ""
}

func (f *roleFixture) paused(name string) bool {
	var r rpcapi.ListSchedulesReply
	f.call(rpcapi.MasterSchedules, &rpcapi.Empty{}, &r)
	for _, s := range r.Schedules {
		if s.Name == name {
			return s.Paused
		}
	}
	f.t.Fatalf("no schedule %q", name)
	return false
}

// snapshot is the master's state as the API shows it: status, workers,
// schedules and every job with its timeline.
func (f *roleFixture) snapshot() string {
	var st rpcapi.StatusReply
	var ws rpcapi.ListWorkersReply
	var ss rpcapi.ListSchedulesReply
	var js rpcapi.ListJobsReply
	f.call(rpcapi.MasterStatus, &rpcapi.Empty{}, &st)
	f.call(rpcapi.MasterListWorkers, &rpcapi.ListWorkersArgs{Limit: rpcapi.MaxPageSize}, &ws)
	f.call(rpcapi.MasterSchedules, &rpcapi.Empty{}, &ss)
	f.call(rpcapi.MasterListJobs, &rpcapi.ListJobsArgs{Limit: rpcapi.MaxPageSize}, &js)
	b, err := json.Marshal([]any{st, ws, ss, js})
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// rpcCell prepares one call of the role tests: its args and reply, and,
// for a call that changes something, took, which reports whether it did.
type rpcCell func(f *roleFixture) (args, reply any, took func() bool)

// rpcCells has a cell for every master method of the contract, by its
// net/rpc name.
var rpcCells = map[string]rpcCell{
	rpcapi.MasterRegister: func(f *roleFixture) (any, any, func() bool) {
		a := &rpcapi.RegisterArgs{Name: f.uniq("reg"), Mode: rpcapi.ModePull, Types: []string{"t"}, Slots: 1}
		return a, new(rpcapi.RegisterReply), func() bool { return strings.Contains(f.snapshot(), `"`+a.Name+`"`) }
	},
	rpcapi.MasterHeartbeat: func(f *roleFixture) (any, any, func() bool) {
		id := f.register(f.uniq("t"))
		return &rpcapi.HeartbeatArgs{WorkerID: id, Secret: f.secrets[id], Draining: true}, new(rpcapi.HeartbeatReply),
			func() bool { return f.workerState(id) == rpcapi.WorkerDraining }
	},
	rpcapi.MasterFetch: func(f *roleFixture) (any, any, func() bool) {
		wid, jid := f.running()
		return &rpcapi.FetchArgs{WorkerID: wid, Secret: f.secrets[wid], Max: 1, Timeout: 5 * time.Second}, new(rpcapi.FetchReply), func() bool {
			return slices.ContainsFunc(f.job(jid).Events, func(e jobs.Event) bool { return strings.HasPrefix(e.Text, "fetched by") })
		}
	},
	rpcapi.MasterComplete: func(f *roleFixture) (any, any, func() bool) {
		wid, jid := f.running()
		f.call(rpcapi.MasterFetch, &rpcapi.FetchArgs{WorkerID: wid, Secret: f.secrets[wid], Max: 1, Timeout: 5 * time.Second}, new(rpcapi.FetchReply))
		return &rpcapi.CompleteArgs{WorkerID: wid, Secret: f.secrets[wid], Reports: []rpcapi.Report{{JobID: jid, Attempt: 1, Outcome: jobs.OK}}},
			new(rpcapi.CompleteReply), func() bool { return f.job(jid).State == jobs.Succeeded }
	},
	rpcapi.MasterLogout: func(f *roleFixture) (any, any, func() bool) {
		id := f.register(f.uniq("t"))
		return &rpcapi.LogoutArgs{WorkerID: id, Secret: f.secrets[id]}, new(rpcapi.Empty), func() bool { return f.workerState(id) == rpcapi.WorkerDead }
	},
	rpcapi.MasterSubmit: func(f *roleFixture) (any, any, func() bool) {
		g := f.uniq("g")
		return &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "nobody-runs-this", Group: g}}}, new(rpcapi.SubmitReply),
			func() bool { return strings.Contains(f.snapshot(), `"`+g+`"`) }
	},
	rpcapi.MasterCancel: func(f *roleFixture) (any, any, func() bool) {
		id := f.submit(jobs.Spec{Type: "nobody-runs-this"})
		return &rpcapi.CancelArgs{IDs: []string{id}}, new(rpcapi.CancelReply), func() bool { return f.job(id).State == jobs.Cancelled }
	},
	rpcapi.MasterPurge: func(f *roleFixture) (any, any, func() bool) {
		// No group: a group's jobs stay until its end has been handled,
		// which happens after the cancel returns.
		typ := f.uniq("t")
		id := f.submit(jobs.Spec{Type: typ})
		f.call(rpcapi.MasterCancel, &rpcapi.CancelArgs{IDs: []string{id}}, new(rpcapi.CancelReply))
		return &rpcapi.PurgeArgs{Type: typ}, new(rpcapi.PurgeReply), func() bool { return f.job(id) == nil }
	},
	rpcapi.MasterPause: func(f *roleFixture) (any, any, func() bool) {
		f.call(rpcapi.MasterResume, &rpcapi.ScheduleArgs{Name: "nightly"}, new(rpcapi.ScheduleInfo))
		return &rpcapi.ScheduleArgs{Name: "nightly"}, new(rpcapi.ScheduleInfo), func() bool { return f.paused("nightly") }
	},
	rpcapi.MasterResume: func(f *roleFixture) (any, any, func() bool) {
		f.call(rpcapi.MasterPause, &rpcapi.ScheduleArgs{Name: "nightly"}, new(rpcapi.ScheduleInfo))
		return &rpcapi.ScheduleArgs{Name: "nightly"}, new(rpcapi.ScheduleInfo), func() bool { return !f.paused("nightly") }
	},
	rpcapi.MasterWait: func(f *roleFixture) (any, any, func() bool) {
		return &rpcapi.WaitArgs{Group: "base", Timeout: time.Millisecond}, new(rpcapi.WaitReply), nil
	},
	rpcapi.MasterStatus: func(f *roleFixture) (any, any, func() bool) {
		return &rpcapi.Empty{}, new(rpcapi.StatusReply), nil
	},
	rpcapi.MasterGetJob: func(f *roleFixture) (any, any, func() bool) {
		return &rpcapi.GetJobArgs{ID: "1"}, new(rpcapi.JobInfo), nil
	},
	rpcapi.MasterListJobs: func(f *roleFixture) (any, any, func() bool) {
		return &rpcapi.ListJobsArgs{}, new(rpcapi.ListJobsReply), nil
	},
	rpcapi.MasterListWorkers: func(f *roleFixture) (any, any, func() bool) {
		return &rpcapi.ListWorkersArgs{}, new(rpcapi.ListWorkersReply), nil
	},
	rpcapi.MasterSchedules: func(f *roleFixture) (any, any, func() bool) {
		return &rpcapi.Empty{}, new(rpcapi.ListSchedulesReply), nil
	},
	rpcapi.MasterGetGroup: func(f *roleFixture) (any, any, func() bool) {
		return &rpcapi.GetGroupArgs{Name: "base"}, new(rpcapi.GroupInfo), nil
	},
	rpcapi.MasterListGroups: func(f *roleFixture) (any, any, func() bool) {
		return &rpcapi.ListGroupsArgs{}, new(rpcapi.ListGroupsReply), nil
	},
	rpcapi.MasterListQueues: func(f *roleFixture) (any, any, func() bool) {
		return &rpcapi.ListQueuesArgs{}, new(rpcapi.ListQueuesReply), nil
	},
}

// TestRPCRolesMatrix calls every method of the table of docs/security.md
// with a token of every role over both transports, against a real master.
// A call the table allows must succeed and take effect; one it does not
// must get ErrForbidden (fault 7 over XML-RPC) and leave the master's
// state as it was. The table must list exactly the methods the master
// serves: system.listMethods over XML-RPC, and the contract's methods
// (rpcapi.MasterAPI, from which the gob method table is built).
func TestRPCRolesMatrix(t *testing.T) {
	m := startRoleMaster(t)
	rows := securityTable(t, rpcTableHeader)
	checkRPCTableCoversServer(t, m, rows)

	admin, err := rpcapi.NewCaller(m.Addr(), rpcapi.TransportGob, rpcapi.WithToken(roleToken(rpcapi.RoleAdmin)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	f := &roleFixture{t: t, admin: admin, secrets: make(map[string]string)}
	f.submit(jobs.Spec{Type: "nobody-runs-this", Group: "base"}) // job 1, for the reads
	cells := 0
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		for _, role := range rpcapi.Roles {
			c, err := rpcapi.NewCaller(m.Addr(), transport, rpcapi.WithToken(roleToken(role)))
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range rows {
				xmlName, goName, allowed := row.cells[0], row.cells[1], row.roles[role]
				if goName == "—" {
					checkIntrospection(t, m, role, xmlName, allowed)
					cells++
					continue
				}
				cell, ok := rpcCells[goName]
				if !ok {
					t.Errorf("no cell for %s in rpcCells: add one", goName)
					continue
				}
				checkRPCCell(t, f, c, cell, fmt.Sprintf("%s %s with the %s token", transport, xmlName, role), goName, allowed)
				cells++
			}
			c.Close()
		}
	}
	t.Logf("%d cells checked (%d methods × %d roles × 2 transports)", cells, len(rows), len(rpcapi.Roles))
}

// checkRPCCell makes one call of the matrix and checks its outcome.
func checkRPCCell(t *testing.T, f *roleFixture, c rpcapi.Caller, cell rpcCell, what, method string, allowed bool) {
	t.Helper()
	args, reply, took := cell(f)
	before := f.snapshot()
	err := c.Call(ctxT(t, 10*time.Second), method, args, reply)
	if allowed {
		if err != nil {
			t.Errorf("%s: %v; want it served", what, err)
		} else if took != nil && !took() {
			t.Errorf("%s: served, but it took no effect", what)
		}
		return
	}
	if !errors.Is(err, rpcapi.ErrForbidden) || !strings.Contains(err.Error(), "may not call") {
		t.Errorf("%s: %v; want ErrForbidden", what, err)
	}
	if after := f.snapshot(); after != before {
		t.Errorf("%s: refused, but the master's state changed:\nbefore %s\nafter  %s", what, before, after)
	}
	if took != nil && took() {
		t.Errorf("%s: refused, but it took effect", what)
	}
}

// checkRPCTableCoversServer checks that the rows of the RPC table are the
// methods the master serves over XML-RPC and over gob.
func checkRPCTableCoversServer(t *testing.T, m *master.Master, rows []docRow) {
	t.Helper()
	var docXML, docGo []string
	for _, r := range rows {
		docXML = append(docXML, r.cells[0])
		if r.cells[1] != "—" {
			docGo = append(docGo, r.cells[1])
		}
	}
	v, err := roleXMLCall(t, m, roleToken(rpcapi.RoleRead), "system.listMethods")
	if err != nil {
		t.Fatal(err)
	}
	var served []string
	for _, n := range v.([]any) {
		served = append(served, n.(string))
	}
	var contract []string
	typ := reflect.TypeOf((*rpcapi.MasterAPI)(nil)).Elem()
	for i := range typ.NumMethod() {
		contract = append(contract, "Master."+typ.Method(i).Name)
	}
	for _, l := range [][]string{docXML, docGo, served, contract} {
		slices.Sort(l)
	}
	if !slices.Equal(docXML, served) {
		t.Errorf("docs/security.md lists the XML-RPC methods\n%v\nbut the master serves\n%v", docXML, served)
	}
	if !slices.Equal(docGo, contract) {
		t.Errorf("docs/security.md lists the net/rpc methods\n%v\nbut the contract (rpcapi.MasterAPI) has\n%v", docGo, contract)
	}
}

// checkIntrospection calls an XML-RPC introspection method.
func checkIntrospection(t *testing.T, m *master.Master, role rpcapi.Role, method string, allowed bool) {
	t.Helper()
	var params []any
	if method != "system.listMethods" {
		params = []any{"get_job"}
	}
	_, err := roleXMLCall(t, m, roleToken(role), method, params...)
	var fault *xmlrpc.Fault
	switch {
	case allowed && err != nil:
		t.Errorf("%s with the %s token: %v", method, role, err)
	case !allowed && (!errors.As(err, &fault) || fault.Code != rpcapi.FaultForbidden):
		t.Errorf("%s with the %s token: %v; want fault %d", method, role, err, rpcapi.FaultForbidden)
	}
}

// roleXMLCall posts one XML-RPC call to the master with token.
func roleXMLCall(t *testing.T, m *master.Master, token, method string, params ...any) (any, error) {
	t.Helper()
	var body bytes.Buffer
	if err := xmlrpc.EncodeCall(&body, method, params...); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", "http://"+m.Addr()+rpcapi.XMLRPCPath, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%s: HTTP %d %s", method, res.StatusCode, b)
	}
	return xmlrpc.DecodeResponse(res.Body, xmlrpc.Limits{})
}

// ctxT returns a context that ends after d or with the test.
func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestScheduleSpecNeedsAdmin: a submit_jobs with a schedule creates or
// replaces the schedule of its name, which docs/security.md gives to
// admin only. A client token is refused on both transports, and neither a
// new schedule nor a change to an existing one (nor the batch's other
// job) comes of it; an admin token may.
func TestScheduleSpecNeedsAdmin(t *testing.T) {
	m := startRoleMaster(t)
	ctx := ctxT(t, 30*time.Second)
	schedules := func() string {
		t.Helper()
		c, err := rpcapi.NewCaller(m.Addr(), rpcapi.TransportGob, rpcapi.WithToken(roleToken(rpcapi.RoleRead)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var ls rpcapi.ListSchedulesReply
		if err := c.Call(ctx, rpcapi.MasterSchedules, &rpcapi.Empty{}, &ls); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, s := range ls.Schedules {
			fmt.Fprintf(&b, "%s %s %s %v;", s.Name, s.Schedule, s.Spec.Type, s.Spec.Args)
		}
		return b.String()
	}
	before := schedules()
	batch := []jobs.Spec{{Type: "plain"},
		{Name: "nightly", Schedule: "@every 1s", Type: "echo", Args: map[string]string{"text": "replaced"}}}
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		for _, specs := range [][]jobs.Spec{batch, {{Name: "new", Schedule: "@every 1s", Type: "echo"}}} {
			c, err := rpcapi.NewCaller(m.Addr(), transport, rpcapi.WithToken(roleToken(rpcapi.RoleClient)))
			if err != nil {
				t.Fatal(err)
			}
			var r rpcapi.SubmitReply
			err = c.Call(ctx, rpcapi.MasterSubmit, &rpcapi.SubmitArgs{Specs: specs}, &r)
			c.Close()
			if !errors.Is(err, rpcapi.ErrForbidden) || !strings.Contains(err.Error(), "schedule") {
				t.Errorf("%s: a client's schedule spec: %v; want ErrForbidden naming the schedule", transport, err)
			}
			if after := schedules(); after != before {
				t.Errorf("%s: schedules after a refused submit:\n%s\nwant\n%s", transport, after, before)
			}
		}
	}
	if js, _, err := m.Jobs(ctx, master.JobQuery{Type: "plain"}); err != nil || len(js) != 0 {
		t.Errorf("the refused batch's plain job: %d jobs, %v; want none", len(js), err)
	}
	admin, err := rpcapi.NewCaller(m.Addr(), rpcapi.TransportXMLRPC, rpcapi.WithToken(roleToken(rpcapi.RoleAdmin)))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var r rpcapi.SubmitReply
	if err := admin.Call(ctx, rpcapi.MasterSubmit, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Name: "new", Schedule: "@every 1h", Type: "echo"}}}, &r); err != nil {
		t.Fatalf("an admin's schedule spec: %v", err)
	}
	if after := schedules(); !strings.Contains(after, "new @every 1h echo") {
		t.Errorf("schedules after an admin's submit: %s; want schedule new", after)
	}
}
