package master

import (
	"context"
	"fmt"
	"time"

	"github.com/drover/drover/rpcapi"
)

// PurgeJobs implements rpcapi.MasterAPI (purge_jobs, POST /api/v1/purge):
// it deletes the finished jobs that a selects, from memory and from the
// store, now, and says how many in r. Live jobs are never touched.
func (api wire) PurgeJobs(ctx context.Context, a *rpcapi.PurgeArgs, r *rpcapi.PurgeReply) error {
	m := api.m
	f, err := purgeFilter(a, m.now())
	if err != nil {
		return err
	}
	n, err := m.Purge(ctx, f)
	if err != nil {
		return err
	}
	r.Purged = n
	return nil
}

// purgeFilter checks a and turns it into a PurgeFilter: a purge needs a
// filter, or All alone; OlderThan keeps the jobs that finished after
// now - OlderThan.
func purgeFilter(a *rpcapi.PurgeArgs, now time.Time) (PurgeFilter, error) {
	filtered := a.State != "" || a.Type != "" || a.Group != "" || a.OlderThan != 0
	switch {
	case a.OlderThan < 0:
		return PurgeFilter{}, fmt.Errorf("%w: purge older_than %s: want 0 or more", rpcapi.ErrBadRequest, a.OlderThan)
	case a.All && filtered:
		return PurgeFilter{}, fmt.Errorf("%w: purge all takes no other filter (state, type, group, older_than)", rpcapi.ErrBadRequest)
	case !a.All && !filtered:
		return PurgeFilter{}, fmt.Errorf("%w: purge needs a filter: state, type, group or older_than (or all for every finished job)", rpcapi.ErrBadRequest)
	case a.State != "" && !a.State.Final():
		return PurgeFilter{}, fmt.Errorf("%w: purge state %q: want succeeded, failed or cancelled", rpcapi.ErrBadRequest, a.State)
	}
	f := PurgeFilter{State: a.State, Type: a.Type, Group: a.Group}
	if a.OlderThan > 0 {
		f.Before = now.Add(-a.OlderThan)
	}
	return f, nil
}
