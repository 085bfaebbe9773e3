package master

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/drover/drover/rpcapi"
)

// TestAPIRoutesInSecurityDoc: every endpoint the master routes under
// /api/v1/ has a row in the HTTP table of docs/security.md, with the
// roles the code gives it, and every API row there is routed, so a new
// endpoint cannot go out without its roles being decided and written
// down.
func TestAPIRoutesInSecurityDoc(t *testing.T) {
	b, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	rowRe := regexp.MustCompile("(?m)^\\| `((?:GET|POST) /api/v1/[^`]*)` \\| (.*) \\|$")
	doc := make(map[string][]rpcapi.Role)
	for _, m := range rowRe.FindAllStringSubmatch(string(b), -1) {
		cells := strings.Split(m[2], " | ")
		if len(cells) != 4 {
			t.Fatalf("row %q: want 4 role cells", m[0])
		}
		var roles []rpcapi.Role
		for i, r := range []rpcapi.Role{rpcapi.RoleAdmin, rpcapi.RoleClient, rpcapi.RoleWorker, rpcapi.RoleRead} {
			if cells[i] == "yes" {
				roles = append(roles, r)
			}
		}
		doc[m[1]] = roles
	}
	m, err := New(Config{Store: StoreMemory, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	routed := make(map[string]bool)
	for _, r := range m.api.routes() {
		pattern := strings.ReplaceAll(r.pattern, "...}", "}")
		routed[pattern] = true
		want, ok := doc[pattern]
		if !ok {
			t.Errorf("%s is routed but has no row in docs/security.md's HTTP table", pattern)
			continue
		}
		var got []rpcapi.Role
		for _, role := range []rpcapi.Role{rpcapi.RoleAdmin, rpcapi.RoleClient, rpcapi.RoleWorker, rpcapi.RoleRead} {
			if rpcapi.Allows(r.roles, role) {
				got = append(got, role)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: the code allows %v, docs/security.md %v", pattern, got, want)
		}
	}
	for p := range doc {
		if !routed[p] {
			t.Errorf("docs/security.md has a row for %s, which is not routed", p)
		}
	}
	if len(routed) < 15 {
		t.Fatalf("only %d routes", len(routed))
	}
}
