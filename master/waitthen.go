package master

import (
	"slices"
	"strings"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// A wait for a group (wait_jobs with a group, drover wait --group) awaits
// the group's follow-up job too: a group whose jobs are all final is not
// done while its on_done is still to make the follow-up, nor while the
// follow-up runs. The follow-up is counted with the group's jobs in the
// reply, and named in its Then.

// waitThen adds group's follow-up job to r, a wait for the group whose
// view (readGroup) is g: its ID and state, its count, and its ID in
// r.Failed when it did not succeed. It clears r.Done while the group's
// follow-up is yet to be made or is not final. It must be called without
// mu.
func (c *core) waitThen(group string, g *rpcapi.GroupInfo, r *rpcapi.WaitReply) {
	if !g.Final {
		return
	}
	od := g.OnDone
	switch {
	case od != nil && od.Then != "":
		r.Then, r.ThenState = od.Then, od.ThenState
		if od.ThenState == "" {
			return // purged since: nothing left to wait for
		}
		r.Counts[od.ThenState]++
		if !od.ThenState.Final() {
			r.Done = false
		} else if od.ThenState != jobs.Succeeded {
			r.Failed = append(r.Failed, od.Then)
		}
	case od != nil && (od.State == onDoneDone || slices.Contains(od.Done, "then")):
		// No follow-up (and none to come), or its spec was refused.
		r.ThenError = thenError(od.Errors)
	case c.thenToCome(group):
		r.Done = false
	}
}

// thenError returns the reason the follow-up job was not made, from the
// on_done errors of its group; "" when none is about it.
func thenError(errs []string) string {
	for _, e := range errs {
		if s, ok := strings.CutPrefix(e, "then: "); ok {
			return s
		}
	}
	return ""
}

// thenToCome reports whether the final group g has a follow-up that its
// on_done has not made yet: one of its jobs in memory carries a Then, and
// its on_done is to run or running; or whether its on_done record has
// moved on since the caller's snapshot of it (which had neither a
// follow-up nor the end), so that the Wait looks again. (A group leaves
// memory only after its on_done is done; a group that was final before
// on_done records were kept runs none.)
func (c *core) thenToCome(g string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hooks
	if h == nil {
		return false
	}
	rec := h.recs[g]
	if rec != nil && (rec.State == onDoneDone || rec.did("then")) {
		// The caller's snapshot of the record (read before, without the
		// lock held since) had not come this far: on_done moved on, and
		// the save that moved it closed the channel the Wait took before
		// its snapshot, so it looks again at once.
		return true
	}
	if h.fired[g] && rec == nil {
		return false
	}
	for _, id := range c.groups[g] {
		if j := c.job(id); j != nil && j.Spec.Then != nil {
			return true
		}
	}
	return false
}

// wakeWaiters wakes the calls of Wait, which look again: a group's on_done
// record changed. The caller holds mu.
func (c *core) wakeWaiters() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}
