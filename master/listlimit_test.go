package master_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// TestListLimitNegative: a negative limit is refused by every listing,
// over gob (bad_request, as protocol.md's list_jobs and list_workers say)
// and in the JSON API (400, api.md's paging: 1 to 1000), and changes
// nothing; it never means "everything". (examples' TestPythonContract
// checks XML-RPC's fault 3, cmd/drover the CLI's exit 2.)
func TestListLimitNegative(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	mc := client(t, m.Addr())
	ctx := context.Background()
	if _, err := mc.ListJobs(ctx, &rpcapi.ListJobsArgs{Limit: -1}); !errors.Is(err, rpcapi.ErrBadRequest) || !strings.Contains(err.Error(), "limit -1") {
		t.Errorf("list_jobs limit -1: %v; want bad_request naming the limit", err)
	}
	if _, err := mc.ListWorkersPage(ctx, &rpcapi.ListWorkersArgs{Limit: -1}); !errors.Is(err, rpcapi.ErrBadRequest) {
		t.Errorf("list_workers limit -1: %v; want bad_request", err)
	}
	if _, err := mc.ListGroups(ctx, &rpcapi.ListGroupsArgs{Limit: -1}); !errors.Is(err, rpcapi.ErrBadRequest) {
		t.Errorf("list_groups limit -1: %v; want bad_request", err)
	}
	api := newHTTPAPI(t, m)
	for _, path := range []string{"jobs?limit=-1", "workers?limit=-1", "groups?limit=-1"} {
		if code, body := api.do("GET", path, ""); code != 400 || !strings.Contains(string(body), "limit") {
			t.Errorf("GET %s: %d %s; want 400 naming the limit", path, code, body)
		}
	}
}
