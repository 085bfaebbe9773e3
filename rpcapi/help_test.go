package rpcapi

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/drover/drover/internal/xmlrpc"
)

// docMembers returns the member names of the table that follows the line
// starting with heading in docs/protocol.md: every `name` of each row's
// first cell.
func docMembers(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading)
	if !ok {
		t.Fatalf("docs/protocol.md has no %q", heading)
	}
	var names []string
	inTable := false
	for line := range strings.SplitSeq(rest, "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cell := strings.Split(line, "|")[1]
		for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(cell, -1) {
			names = append(names, m[1])
		}
	}
	if len(names) == 0 {
		t.Fatalf("no members in the table after %q", heading)
	}
	return names
}

// xmlCallT posts one call to the XML-RPC endpoint at url and returns its
// result, or its fault.
func xmlCallT(t *testing.T, url, method string, params ...any) (any, *xmlrpc.Fault) {
	t.Helper()
	code, body := post(t, url, call(method, params...))
	if code != http.StatusOK {
		t.Fatalf("%s: HTTP %d %s", method, code, body)
	}
	v, err := xmlrpc.DecodeResponse(bytes.NewReader([]byte(body)), xmlrpc.Limits{})
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		return nil, f
	}
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return v, nil
}

// TestMethodHelp: system.methodHelp describes a method's params and
// result with every member docs/protocol.md lists for the objects they
// carry (Spec in submit_jobs, Report in task_complete, Task in
// assign_task); a bad argument is a protocol fault that names wire types,
// an unknown method fault 2.
func TestMethodHelp(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle(XMLRPCPath, NewXMLRPCHandler(newFakeMaster("x"), &fakeWorker{}, XMLRPCOptions{}))
	srv := startServer(t, "127.0.0.1:0", mux)
	url := "http://" + srv.addr + XMLRPCPath

	for _, tc := range []struct{ method, object, heading string }{
		{"submit_jobs", "Spec", "**Spec** is what a client submits"},
		{"task_complete", "Report", "**Report** is one finished attempt"},
		{"assign_task", "Task", "**Task** is a job handed to a worker"},
	} {
		v, f := xmlCallT(t, url, "system.methodHelp", tc.method)
		if f != nil {
			t.Fatalf("methodHelp %s: fault %d %s", tc.method, f.Code, f.String)
		}
		help := v.(string)
		_, obj, ok := strings.Cut(help, " "+tc.object+": {")
		if !ok {
			t.Fatalf("methodHelp %s does not describe %s:\n%s", tc.method, tc.object, help)
		}
		obj, _, _ = strings.Cut(obj, "}")
		for _, m := range docMembers(t, tc.heading) {
			if !regexp.MustCompile(`(^|, )` + m + `: `).MatchString(obj) {
				t.Errorf("methodHelp %s: %s lacks member %q: {%s}", tc.method, tc.object, m, obj)
			}
		}
	}
	v, _ := xmlCallT(t, url, "system.methodHelp", "wait_jobs")
	for _, want := range []string{"Params {ids: [string], group: string, timeout: double (seconds)}",
		"Result {done: boolean, counts: struct of int, failed: [string], failed_more: int, then: string, then_state: string, then_error: string}"} {
		if h, _ := v.(string); !strings.Contains(h, want) {
			t.Errorf("methodHelp wait_jobs lacks %q:\n%s", want, h)
		}
	}

	for _, tc := range []struct {
		name   string
		params []any
		code   int
		msg    string
	}{
		{"a struct", []any{map[string]any{"name": "get_job"}}, FaultInvalidParams,
			"system.methodHelp: takes one string param (a method name), got a struct"},
		{"an int", []any{int64(1)}, FaultInvalidParams, "system.methodHelp: takes one string param (a method name), got an int"},
		{"no params", nil, FaultInvalidParams, "system.methodHelp: takes one string param (a method name), got 0 params"},
		{"unknown method", []any{"nope"}, FaultNotFound, `rpcapi: not found: no method "nope"`},
	} {
		_, f := xmlCallT(t, url, "system.methodHelp", tc.params...)
		if f == nil || f.Code != tc.code || f.String != tc.msg {
			t.Errorf("methodHelp with %s: fault %+v; want %d %q", tc.name, f, tc.code, tc.msg)
		}
	}
}
