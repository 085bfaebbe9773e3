package master_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

const httpTableHeader = "| endpoint | admin | client | worker | read |"

// httpCell prepares one request of the HTTP role tests: its method, path
// and body, the status it gets when allowed, and, for one that changes
// something, took, which reports whether it did.
type httpCell func(f *roleFixture) (method, path, body string, ok int, took func() bool)

func getCell(path string) httpCell {
	return func(*roleFixture) (string, string, string, int, func() bool) { return "GET", path, "", 200, nil }
}

// httpCells has a cell for every row of the HTTP table of
// docs/security.md, by its first cell.
var httpCells = map[string]httpCell{
	"GET /api/v1/status":    getCell("/api/v1/status"),
	"GET /api/v1/queues":    getCell("/api/v1/queues"),
	"GET /api/v1/jobs":      getCell("/api/v1/jobs"),
	"GET /api/v1/jobs/{id}": getCell("/api/v1/jobs/1"),
	// Job 1 never ran: an allowed read gets as far as the missing attempt.
	"GET /api/v1/jobs/{id}/attempts/{n}/log": func(*roleFixture) (string, string, string, int, func() bool) {
		return "GET", "/api/v1/jobs/1/attempts/1/log", "", 404, nil
	},
	// A master that runs alone: an allowed read gets as far as "not a member".
	"GET /api/v1/cluster": func(*roleFixture) (string, string, string, int, func() bool) {
		return "GET", "/api/v1/cluster", "", 404, nil
	},
	"POST /api/v1/cluster/members": func(*roleFixture) (string, string, string, int, func() bool) {
		return "POST", "/api/v1/cluster/members", `{"id": "m4", "raft": "127.0.0.1:1", "rpc": "127.0.0.1:2"}`, 404, nil
	},
	"POST /api/v1/cluster/members/{id}/remove": func(*roleFixture) (string, string, string, int, func() bool) {
		return "POST", "/api/v1/cluster/members/m4/remove", "", 404, nil
	},
	"GET /api/v1/workers":       getCell("/api/v1/workers"),
	"GET /api/v1/groups":        getCell("/api/v1/groups"),
	"GET /api/v1/schedules":     getCell("/api/v1/schedules"),
	"GET /api/v1/whoami":        getCell("/api/v1/whoami"),
	"GET /api/v1/events":        getCell("/api/v1/events"),
	"GET /metrics":              getCell("/metrics"),
	"GET /api/v1/groups/{name}": getCell("/api/v1/groups/base"),
	"GET / (the dashboard and its files)": func(f *roleFixture) (string, string, string, int, func() bool) {
		f.n++
		return "GET", []string{"/", "/app.js", "/app.css"}[f.n%3], "", 200, nil
	},
	"GET /api/v1/workers/{id}": func(f *roleFixture) (string, string, string, int, func() bool) {
		return "GET", "/api/v1/workers/" + f.register(f.uniq("t")), "", 200, nil
	},
	"POST /api/v1/jobs": func(f *roleFixture) (string, string, string, int, func() bool) {
		g := f.uniq("g")
		return "POST", "/api/v1/jobs", `{"type": "nobody-runs-this", "group": "` + g + `"}`, 201,
			func() bool { return strings.Contains(f.snapshot(), `"`+g+`"`) }
	},
	"POST /api/v1/jobs/{id}/cancel": func(f *roleFixture) (string, string, string, int, func() bool) {
		id := f.submit(jobs.Spec{Type: "nobody-runs-this"})
		return "POST", "/api/v1/jobs/" + id + "/cancel", "", 200, func() bool { return f.job(id).State == jobs.Cancelled }
	},
	"POST /api/v1/jobs/{id}/retry": func(f *roleFixture) (string, string, string, int, func() bool) {
		id := f.submit(jobs.Spec{Type: "nobody-runs-this"})
		f.call(rpcapi.MasterCancel, &rpcapi.CancelArgs{IDs: []string{id}}, new(rpcapi.CancelReply))
		return "POST", "/api/v1/jobs/" + id + "/retry", "", 200, func() bool { return f.job(id).State == jobs.Pending }
	},
	"POST /api/v1/purge": func(f *roleFixture) (string, string, string, int, func() bool) {
		typ := f.uniq("t")
		id := f.submit(jobs.Spec{Type: typ})
		f.call(rpcapi.MasterCancel, &rpcapi.CancelArgs{IDs: []string{id}}, new(rpcapi.CancelReply))
		return "POST", "/api/v1/purge", `{"type": "` + typ + `"}`, 200, func() bool { return f.job(id) == nil }
	},
	"POST /api/v1/workers/{id}/drain": func(f *roleFixture) (string, string, string, int, func() bool) {
		id := f.register(f.uniq("t"))
		return "POST", "/api/v1/workers/" + id + "/drain", "", 200,
			func() bool { return f.workerState(id) == rpcapi.WorkerDraining }
	},
}

// httpDo sends a request with token and returns its status, its
// Content-Type and the start of its body (the first event of a stream).
func httpDo(t *testing.T, m *master.Master, token, method, path, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t, 10*time.Second), method, "http://"+m.Addr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b []byte
	if ct := res.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/event-stream") {
		line, _ := bufio.NewReader(res.Body).ReadString('\n')
		b = []byte(line)
	} else if b, err = io.ReadAll(res.Body); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Content-Type"), string(b)
}

// TestHTTPRolesMatrix requests every endpoint of the HTTP table of
// docs/security.md (the JSON API, its event stream, metrics and the
// dashboard) with a token of every role. A request the table allows gets
// its usual status and takes effect; one it does not gets 403, the API's
// JSON error with code forbidden under /api/v1/ and text elsewhere, and
// leaves the master's state as it was. The table's API rows must be
// docs/api.md's endpoints.
func TestHTTPRolesMatrix(t *testing.T) {
	m := startRoleMaster(t)
	rows := securityTable(t, httpTableHeader)
	checkHTTPTableCoversAPIDoc(t, rows)
	admin, err := rpcapi.NewCaller(m.Addr(), rpcapi.TransportGob, rpcapi.WithToken(roleToken(rpcapi.RoleAdmin)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	f := &roleFixture{t: t, m: m, admin: admin, secrets: make(map[string]string)}
	f.submit(jobs.Spec{Type: "nobody-runs-this", Group: "base"}) // job 1
	for _, row := range rows {
		cell, ok := httpCells[row.cells[0]]
		if !ok {
			t.Errorf("no cell for %q in httpCells: add one", row.cells[0])
			continue
		}
		for _, role := range rpcapi.Roles {
			method, path, body, want, took := cell(f)
			what := fmt.Sprintf("%s %s with the %s token", method, path, role)
			before := f.snapshot()
			status, ct, got := httpDo(t, m, roleToken(role), method, path, body)
			if row.roles[role] {
				if status != want {
					t.Errorf("%s: %d %s; want %d", what, status, got, want)
				} else if took != nil && !took() {
					t.Errorf("%s: %d, but it took no effect", what, status)
				}
				continue
			}
			checkHTTPForbidden(t, what, path, status, ct, got)
			if after := f.snapshot(); after != before {
				t.Errorf("%s: refused, but the master's state changed:\nbefore %s\nafter  %s", what, before, after)
			}
			if took != nil && took() {
				t.Errorf("%s: refused, but it took effect", what)
			}
		}
		// Without a token, or with an unknown one: 401, as before roles.
		method, path, body, _, _ := cell(f)
		for _, tok := range []string{"", "tok-nobody"} {
			if status, _, got := httpDo(t, m, tok, method, path, body); status != 401 {
				t.Errorf("%s %s with token %q: %d %s; want 401", method, path, tok, status, got)
			}
		}
	}
}

// checkHTTPForbidden checks a refusal for the role: 403, with the API's
// JSON error under /api/v1/ and a text one elsewhere, naming the token.
func checkHTTPForbidden(t *testing.T, what, path string, status int, ct, body string) {
	t.Helper()
	if status != 403 || !strings.Contains(body, "may not call") {
		t.Errorf("%s: %d %s; want 403 may not call", what, status, body)
		return
	}
	if !strings.HasPrefix(path, "/api/v1/") {
		if !strings.HasPrefix(ct, "text/plain") || !strings.HasPrefix(body, "drover: ") {
			t.Errorf("%s: refusal %q %q; want drover: in text/plain", what, ct, body)
		}
		return
	}
	var e apiErr
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != "forbidden" {
		t.Errorf("%s: refusal %s; want the JSON error forbidden", what, body)
	}
}

// checkHTTPTableCoversAPIDoc checks that the API rows of the HTTP table
// are the endpoints of docs/api.md.
func checkHTTPTableCoversAPIDoc(t *testing.T, rows []docRow) {
	t.Helper()
	var table []string
	for _, r := range rows {
		if strings.Contains(r.cells[0], "/api/v1/") {
			table = append(table, r.cells[0])
		}
	}
	b, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	var doc []string
	for _, m := range regexp.MustCompile("(?m)^\\| `((?:GET|POST) /api/v1/[^`]*)` \\|").FindAllStringSubmatch(string(b), -1) {
		doc = append(doc, m[1])
	}
	slices.Sort(table)
	slices.Sort(doc)
	if len(doc) < 10 || !slices.Equal(table, doc) {
		t.Errorf("docs/security.md's HTTP table lists\n%v\nbut docs/api.md's endpoints are\n%v", table, doc)
	}
}

// TestWhoami: GET /api/v1/whoami says the token's name and role and which
// of the dashboard's actions it may take; a master without tokens says
// admin, without auth.
func TestWhoami(t *testing.T) {
	m := startRoleMaster(t)
	all := []string{"cancel", "delete_schedule", "drain", "pause_resume", "purge", "retry", "run_schedule", "submit"}
	for _, tc := range []struct {
		role rpcapi.Role
		can  []string
	}{
		{rpcapi.RoleAdmin, all},
		{rpcapi.RoleClient, []string{"cancel", "submit"}},
		{rpcapi.RoleWorker, nil},
		{rpcapi.RoleRead, nil},
	} {
		status, _, body := httpDo(t, m, roleToken(tc.role), "GET", "/api/v1/whoami", "")
		var me struct {
			Name string          `json:"name"`
			Role rpcapi.Role     `json:"role"`
			Auth bool            `json:"auth"`
			Can  map[string]bool `json:"can"`
		}
		if err := json.Unmarshal([]byte(body), &me); err != nil || status != 200 {
			t.Fatalf("whoami as %s: %d %s", tc.role, status, body)
		}
		var can []string
		for _, a := range all {
			if me.Can[a] {
				can = append(can, a)
			}
		}
		if me.Name != string(tc.role) || me.Role != tc.role || !me.Auth || len(me.Can) != len(all) || !slices.Equal(can, tc.can) {
			t.Errorf("whoami as %s: %s; want may %v", tc.role, body, tc.can)
		}
		if strings.Contains(body, roleToken(tc.role)) {
			t.Errorf("whoami shows the token: %s", body)
		}
	}
	open := startAPIMaster(t, master.Config{})
	status, _, body := httpDo(t, open, "", "GET", "/api/v1/whoami", "")
	if status != 200 || !strings.Contains(body, `"role":"admin"`) || !strings.Contains(body, `"auth":false`) || !strings.Contains(body, `"submit":true`) {
		t.Errorf("whoami of a master without tokens: %d %s", status, body)
	}
}
