package master

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Broadcast jobs: a job with Spec.Broadcast is not run itself. At
// submission it gets one copy per live worker that has its type and tags,
// each pinned to that worker by name (names survive re-registration, IDs do
// not). The broadcast job is running while its copies live and ends
// succeeded when every copy succeeded, failed otherwise. A copy whose
// worker leaves (logs out or is reaped, with no other live worker of that
// name) fails without running.

// broadcastTargets returns the names of the live workers that can run
// spec, sorted. The caller holds mu.
func (c *core) broadcastTargets(s *jobs.Spec) []string {
	var names []string
	for _, w := range c.reg.byType[s.Type] {
		if w.state == rpcapi.WorkerAlive && w.hasTags(s.Tags) && !slices.Contains(names, w.name) {
			names = append(names, w.name)
		}
	}
	slices.Sort(names)
	return names
}

// expandBroadcast makes the copies of the broadcast job p (new, not yet
// committed), one per target worker, and marks p running. The caller holds
// mu and allocates sequence numbers through m.seq.
func (c *core) expandBroadcast(p *jobs.Job, targets []string, now time.Time) []*jobs.Job {
	copies := make([]*jobs.Job, 0, len(targets))
	for _, name := range targets {
		c.seq++
		s := p.Spec
		s.Broadcast, s.Group, s.Key, s.UniqueKey, s.UniqueFor, s.Then = false, "", "", "", 0, nil
		s.Args = cloneArgs(p.Spec.Args)
		s.Tags = slices.Clone(p.Spec.Tags)
		cp := &jobs.Job{ID: strconv.FormatUint(c.seq, 10), Seq: c.seq, Spec: s, State: jobs.Pending,
			Submitted: now, Updated: now, NotBefore: p.NotBefore, Parent: p.ID, Pin: name, Submitter: p.Submitter}
		cp.Log(now, "copy %d of broadcast job %s, for worker %s", len(copies)+1, p.ID, name)
		p.Children = append(p.Children, cp.ID)
		copies = append(copies, cp)
	}
	p.State = jobs.Running
	p.Log(now, "broadcast to %d workers: %s", len(targets), strings.Join(targets, ", "))
	return copies
}

// childFinal settles the broadcast job of copy c once every copy is final.
// The caller holds mu.
func (c *core) childFinal(cp *jobs.Job) {
	p := c.job(cp.Parent)
	if p == nil || p.State.Final() {
		return
	}
	ok, final := 0, 0
	for _, id := range p.Children {
		switch k := c.job(id); {
		case k == nil:
		case k.State == jobs.Succeeded:
			ok++
			final++
		case k.State.Final():
			final++
		}
	}
	if final < len(p.Children) {
		return
	}
	c.apply(jobChange{kind: changeSettle, job: p.ID, at: c.now(), ok: ok, n: len(p.Children)})
}

// abandonPinned fails the pending copies pinned to a worker name that no
// live worker has any more. The caller holds mu.
func (c *core) abandonPinned(name string, now time.Time) {
	for _, w := range c.reg.workers {
		if w.name == name && w.state != rpcapi.WorkerDead {
			return
		}
	}
	why := fmt.Sprintf("worker %s, its broadcast target, left", name)
	for _, l := range c.lim.lanes {
		if l.pin != name {
			continue
		}
		for {
			id, _, _, ok := c.queue.Head(l.name)
			if !ok {
				break
			}
			c.queue.Remove(id)
			c.apply(jobChange{kind: changeAbandon, job: id, at: now, why: why})
		}
		// Copies waiting out a retry backoff are delayed in the lane: a
		// walk of the delayed jobs, not of every job, and none when the
		// lane has no delayed copy.
		for _, j := range c.queue.DelayedJobs(l.name) {
			if j.Pin == name && j.State == jobs.Pending {
				c.apply(jobChange{kind: changeAbandon, job: j.ID, at: now, why: why})
			}
		}
	}
}
