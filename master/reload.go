package master

import (
	"context"
	"fmt"
	"maps"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// SetLimits replaces the dispatch limits of a running master: limits
// bound each limit key as Config.Limits does, typeLimits each type as
// Config.TypeLimits, and def the limit keys not in limits, as
// Config.DefaultLimit. The new limits bound every dispatch from the call
// on; jobs already running keep running and count against them, so a
// type lowered below its running count gets nothing more until it drops
// under. A limit with a negative concurrency or a bad rate is an error
// naming it, and nothing changes. Safe for concurrent use, before or
// after Start.
func (m *Master) SetLimits(limits, typeLimits map[string]Limit, def Limit) error {
	for name, l := range limits {
		if err := l.check(); err != nil {
			return fmt.Errorf("master: limits %q: %w", name, err)
		}
	}
	for name, l := range typeLimits {
		if err := l.check(); err != nil {
			return fmt.Errorf("master: type_limits %q: %w", name, err)
		}
	}
	if err := def.check(); err != nil {
		return fmt.Errorf("master: default_limit: %w", err)
	}
	m.core.setLimits(limits, typeLimits, def)
	m.disp.kick() // a raised limit may let waiting jobs go now
	return nil
}

// SubmitJobsFile submits specs, the jobs and schedules of a jobs file, as
// Start does with Config.Jobs: a spec whose Key is known keeps its job (a
// schedule is updated), the others are new. It waits for the store to be
// loaded (or ctx to end), and returns how many specs were new and how
// many known. Every spec must carry a Key; a spec that does not, or that
// is invalid, is an error and nothing is submitted.
func (m *Master) SubmitJobsFile(ctx context.Context, specs []jobs.Spec) (added, known int, err error) {
	for i := range specs {
		if specs[i].Key == "" {
			return 0, 0, fmt.Errorf("master: jobs file: job %d (type %q) has no key", i+1, specs[i].Type)
		}
	}
	if err := m.core.awaitReady(ctx); err != nil {
		return 0, 0, err
	}
	return m.submitJobsFile(ctx, specs)
}

// submitJobsFile is SubmitJobsFile once the store is loaded.
func (m *Master) submitJobsFile(ctx context.Context, specs []jobs.Spec) (added, known int, err error) {
	var reply rpcapi.SubmitReply
	if err := m.wire.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs}, &reply); err != nil {
		return 0, 0, fmt.Errorf("master: jobs file: %w", err)
	}
	for _, e := range reply.Existing {
		if !e {
			added++
		}
	}
	return added, len(reply.IDs) - added, nil
}

// setLimits puts new limits in force and counts the running jobs against
// them again (without type limits they were not counted by type).
func (c *core) setLimits(limits, typeLimits map[string]Limit, def Limit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lim := &c.lim
	lim.keyLimits, lim.typeLimits, lim.defaultLimit = maps.Clone(limits), maps.Clone(typeLimits), def
	for _, l := range lim.lanes {
		l.limited = !lim.typeLimits[l.typ].zero() || (l.key != "" && !lim.keyLimit(l.key).zero())
	}
	lim.runningType, lim.runningKey = make(map[string]int), make(map[string]int)
	for j := range c.allJobs() {
		if j.State == jobs.Running {
			lim.account(j, jobs.Pending)
		}
	}
}
