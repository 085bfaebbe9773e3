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
func (m *Master) broadcastTargets(s *jobs.Spec) []string {
	var names []string
	for _, w := range m.reg.byType[s.Type] {
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
func (m *Master) expandBroadcast(p *jobs.Job, targets []string, now time.Time) []*jobs.Job {
	copies := make([]*jobs.Job, 0, len(targets))
	for _, name := range targets {
		m.seq++
		s := p.Spec
		s.Broadcast, s.Group, s.Key, s.UniqueKey, s.UniqueFor, s.Then = false, "", "", "", 0, nil
		s.Args = cloneArgs(p.Spec.Args)
		s.Tags = slices.Clone(p.Spec.Tags)
		c := &jobs.Job{ID: strconv.FormatUint(m.seq, 10), Seq: m.seq, Spec: s, State: jobs.Pending,
			Submitted: now, Updated: now, NotBefore: p.NotBefore, Parent: p.ID, Pin: name, Submitter: p.Submitter}
		c.Log(now, "copy %d of broadcast job %s, for worker %s", len(copies)+1, p.ID, name)
		p.Children = append(p.Children, c.ID)
		copies = append(copies, c)
	}
	p.State = jobs.Running
	p.Log(now, "broadcast to %d workers: %s", len(targets), strings.Join(targets, ", "))
	return copies
}

// childFinal settles the broadcast job of copy c once every copy is final.
// The caller holds mu.
func (m *Master) childFinal(c *jobs.Job) {
	p := m.job(c.Parent)
	if p == nil || p.State.Final() {
		return
	}
	ok, final := 0, 0
	for _, id := range p.Children {
		switch k := m.job(id); {
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
	m.apply(jobChange{kind: changeSettle, job: p.ID, at: m.now(), ok: ok, n: len(p.Children)})
}

// abandonPinned fails the pending copies pinned to a worker name that no
// live worker has any more. The caller holds mu.
func (m *Master) abandonPinned(name string, now time.Time) {
	for _, w := range m.reg.workers {
		if w.name == name && w.state != rpcapi.WorkerDead {
			return
		}
	}
	for _, l := range m.lim.lanes {
		if l.pin != name {
			continue
		}
		for {
			id, _, _, ok := m.queue.Head(l.name)
			if !ok {
				break
			}
			m.queue.Remove(id)
			m.apply(jobChange{kind: changeAbandon, job: id, at: now, why: fmt.Sprintf("worker %s, its broadcast target, left", name)})
		}
	}
	// Copies waiting out a retry backoff are in the delayed heap; find
	// them through their parents.
	for j := range m.allJobs() {
		if j.Pin == name && j.State == jobs.Pending {
			m.apply(jobChange{kind: changeAbandon, job: j.ID, at: now, why: fmt.Sprintf("worker %s, its broadcast target, left", name)})
		}
	}
}
