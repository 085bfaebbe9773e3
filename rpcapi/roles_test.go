package rpcapi

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/internal/xmlrpc"
	"github.com/drover/drover/jobs"
)

// TestMethodRolesCoverServers: every method the servers serve, over gob
// (the method table) and XML-RPC (system.listMethods' names), has a row
// in the roles table, and every row is a served method, so a new method
// cannot go out without its roles being decided.
func TestMethodRolesCoverServers(t *testing.T) {
	gh, err := NewGoRPCHandler(newFakeMaster("g"), &fakeWorker{name: "w"})
	if err != nil {
		t.Fatal(err)
	}
	served := make(map[string]string) // net/rpc name (or system.*) -> transport
	for name := range gh.(*goServer).methods {
		served[name] = "gob"
	}
	xh := NewXMLRPCHandler(newFakeMaster("x"), &fakeWorker{name: "w"}, XMLRPCOptions{}).(*xmlHandler)
	if len(xh.names) < 20 {
		t.Fatalf("system.listMethods lists only %d methods", len(xh.names))
	}
	for _, name := range xh.names {
		g, ok := goNames[name]
		if !ok && !strings.HasPrefix(name, "system.") {
			t.Errorf("XML-RPC method %s has no net/rpc name in xmlNames", name)
			continue
		}
		if ok {
			name = g
		}
		if _, dup := served[name]; !dup {
			served[name] = "xmlrpc"
		}
	}
	for name, transport := range served {
		if _, ok := methodRoles[name]; !ok {
			t.Errorf("%s (served over %s) has no row in methodRoles: decide which roles may call it", name, transport)
		}
	}
	for name := range methodRoles {
		if _, ok := served[name]; !ok {
			t.Errorf("methodRoles has a row for %s, which no server serves", name)
		}
	}
}

// TestKeyring: each token proves its own identity, an unknown one none; an
// empty keyring lets anyone in as an admin; bad sets are refused with
// errors that name the credential and never show a token.
func TestKeyring(t *testing.T) {
	creds := []Credential{
		{Name: "ops", Role: RoleAdmin, Token: "tok-admin-1"},
		{Name: "ci", Role: RoleClient, Token: "tok-client-2"},
		{Name: "fleet", Role: RoleWorker, Token: "tok-worker-3"},
		{Name: "grafana", Role: RoleRead, Token: "tok-read-4"},
	}
	k, err := NewKeyring(creds)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range creds {
		if id, ok := k.Lookup(c.Token); !ok || id != (Identity{Name: c.Name, Role: c.Role}) {
			t.Errorf("Lookup(%s's token) = %+v, %v", c.Name, id, ok)
		}
	}
	for _, bad := range []string{"", "tok-admin-", "tok-admin-1 ", "tok-read-44", "TOK-READ-4"} {
		if id, ok := k.Lookup(bad); ok {
			t.Errorf("Lookup(%q) = %+v; want no match", bad, id)
		}
	}
	if id, ok := (*Keyring)(nil).Lookup("anything"); !ok || id.Role != RoleAdmin {
		t.Errorf("empty keyring: Lookup = %+v, %v; want an admin", id, ok)
	}
	if n := k.Count(); n[RoleAdmin] != 1 || n[RoleRead] != 1 || k.Len() != 4 {
		t.Errorf("Count = %v, Len = %d", n, k.Len())
	}

	for _, tc := range []struct {
		creds []Credential
		want  string
	}{
		{[]Credential{{"a", "reader", "secret-1"}}, `token 1 (a): unknown role "reader" (want admin, client, worker or read)`},
		{[]Credential{{"a", RoleRead, ""}}, `token 1 (a): empty token`},
		{[]Credential{{"a", RoleRead, " secret-1"}}, `token 1 (a): the token starts or ends with white space`},
		{[]Credential{{"a", RoleRead, "secret\x01-1"}}, `token 1 (a): a control character`},
		{[]Credential{{"", RoleRead, "secret-1"}}, `token 1: name "": want 1 to 64`},
		{[]Credential{{"a b", RoleRead, "secret-1"}}, `token 1: name "a b": want 1 to 64`},
		{[]Credential{{"a", RoleRead, "secret-1"}, {"a", RoleClient, "secret-2"}}, `tokens 1 and 2 have the same name "a"`},
		{[]Credential{{"a", RoleRead, "secret-1"}, {"b", RoleClient, "secret-2"}, {"c", RoleAdmin, "secret-1"}},
			`tokens 1 (a) and 3 (c) are the same token`},
	} {
		_, err := NewKeyring(tc.creds)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewKeyring(%v): %v; want %q", tc.creds[0].Name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows a token: %v", err)
		}
	}
}

// roleServer serves a fake master and worker on both transports behind
// an Auth with one token of each role, named after it.
func roleServer(t *testing.T) (*testServer, *fakeMaster, *Auth) {
	t.Helper()
	var creds []Credential
	for _, r := range Roles {
		creds = append(creds, Credential{Name: string(r) + "-tok", Role: r, Token: "secret-" + string(r)})
	}
	k, err := NewKeyring(creds)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuth(k)
	fm := newFakeMaster("r")
	gh, err := NewGoRPCHandler(fm, &fakeWorker{name: "w"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(GoRPCPath, a.Require(gh))
	mux.Handle(XMLRPCPath, a.Require(NewXMLRPCHandler(fm, &fakeWorker{name: "w"}, XMLRPCOptions{})))
	return startServer(t, "127.0.0.1:0", mux), fm, a
}

// TestForbiddenOverTheWire: on both transports, a token whose role may not
// make a call gets ErrForbidden, saying which token, role and method,
// and the call never reaches the API; a role that may, reaches it; a
// wrong token is still 401.
func TestForbiddenOverTheWire(t *testing.T) {
	srv, fm, _ := roleServer(t)
	submit := &SubmitArgs{Specs: []jobs.Spec{{Type: "t", Key: "k"}}}
	for _, transport := range []string{TransportGob, TransportXMLRPC} {
		call := func(token, method string, args, reply any) error {
			c, err := NewCaller(srv.addr, transport, WithToken(token))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			return c.Call(ctxT(t, 5*time.Second), method, args, reply)
		}
		before := fm.submits()
		for _, tok := range []string{"secret-read", "secret-worker"} {
			err := call(tok, MasterSubmit, submit, new(SubmitReply))
			role := strings.TrimPrefix(tok, "secret-")
			want := `token "` + role + `-tok" of role ` + role + ` may not call submit_jobs (Master.Submit); allowed: admin, client`
			if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: submit with the %s token: %v; want ErrForbidden %q", transport, role, err, want)
			}
		}
		if n := fm.submits(); n != before {
			t.Errorf("%s: refused submits reached the API (%d calls)", transport, n-before)
		}
		for _, tok := range []string{"secret-client", "secret-admin"} {
			if err := call(tok, MasterSubmit, submit, new(SubmitReply)); err != nil {
				t.Errorf("%s: submit with %s: %v", transport, tok, err)
			}
		}
		if n := fm.submits(); n != before+2 {
			t.Errorf("%s: allowed submits: %d reached the API, want 2", transport, n-before)
		}
		if err := call("secret-worker", MasterStatus, &Empty{}, new(StatusReply)); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s: status with the worker token: %v; want ErrForbidden", transport, err)
		}
		if err := call("secret-read", MasterStatus, &Empty{}, new(StatusReply)); err != nil {
			t.Errorf("%s: status with the read token: %v", transport, err)
		}
		if err := call("secret-nope", MasterStatus, &Empty{}, new(StatusReply)); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: status with an unknown token: %v; want ErrUnauthorized", transport, err)
		}
	}
}

// TestForbiddenFaultCode: over XML-RPC a refusal is fault 7, and the
// introspection methods are open to every role.
func TestForbiddenFaultCode(t *testing.T) {
	srv, _, _ := roleServer(t)
	post := func(token, method string) (any, error) {
		var body bytes.Buffer
		body.WriteString(`<?xml version="1.0"?><methodCall><methodName>` + method + `</methodName><params></params></methodCall>`)
		req, err := http.NewRequest("POST", "http://"+srv.addr+XMLRPCPath, &body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/xml")
		req.SetBasicAuth("drover", token)
		code, b := testnet.Do(t, req)
		if code != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", method, code, b)
		}
		return xmlrpc.DecodeResponse(bytes.NewReader(b), xmlrpc.Limits{})
	}
	_, err := post("secret-read", "purge_jobs")
	var f *xmlrpc.Fault
	if !errors.As(err, &f) || f.Code != 7 ||
		!strings.Contains(f.String, `token "read-tok" of role read may not call purge_jobs (Master.PurgeJobs); allowed: admin`) {
		t.Errorf("purge_jobs with the read token: %v; want fault 7", err)
	}
	for _, r := range Roles {
		if v, err := post("secret-"+string(r), "system.listMethods"); err != nil {
			t.Errorf("system.listMethods with the %s token: %v", r, err)
		} else if names, _ := v.([]any); len(names) < 20 {
			t.Errorf("system.listMethods with the %s token: %v", r, v)
		}
	}
}

// TestReplacedTokensOnOpenConnection: a gob connection keeps its token,
// not its role: once the tokens are replaced, its next call is checked
// against the new ones (a changed role applies, a removed token is
// refused as unauthorized, a restored one works again).
func TestReplacedTokensOnOpenConnection(t *testing.T) {
	srv, _, a := roleServer(t)
	c := NewClient(srv.addr, WithToken("secret-client"))
	defer c.Close()
	submit := func() error {
		return c.Call(ctxT(t, 5*time.Second), MasterSubmit, &SubmitArgs{Specs: []jobs.Spec{{Type: "t", Key: "k"}}}, new(SubmitReply))
	}
	if err := submit(); err != nil {
		t.Fatal(err)
	}
	old := a.Keyring()
	set := func(creds ...Credential) {
		k, err := NewKeyring(creds)
		if err != nil {
			t.Fatal(err)
		}
		a.Set(k)
	}
	set(Credential{Name: "demoted", Role: RoleRead, Token: "secret-client"})
	if err := submit(); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), `token "demoted" of role read`) {
		t.Errorf("submit after the token became read: %v; want ErrForbidden", err)
	}
	set(Credential{Name: "other", Role: RoleAdmin, Token: "secret-other"})
	if err := submit(); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "no longer accepted") {
		t.Errorf("submit after the token was removed: %v; want ErrUnauthorized", err)
	}
	a.Set(old)
	if err := submit(); err != nil {
		t.Errorf("submit after the token came back: %v", err)
	}
}
