package master

// The ID of a group's follow-up job (then), reserved when the master
// accepts the Then that counts: the one of the group's first job that has
// one. The submit of that job reserves the ID (SubmitReply.ThenIDs) and
// keeps it in the job's record (jobs.Job.ThenID), durable before the
// submit is acknowledged; the follow-up is made with it when the group
// ends (submitThen). The reserved Seq is taken just below the job's own,
// so the store's high-water mark, which covers the job, covers it too: no
// other job gets the ID, also after a restart. Until the follow-up is
// made, a lookup of the ID answers a not-found that says so (notFound).

import (
	"context"
	"fmt"
	"strconv"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// thenIDKey carries the ID reserved for a follow-up into the submit that
// makes it.
type thenIDKey struct{}

// withThenID returns ctx for the submit of a follow-up whose ID id was
// reserved ("": none, a job submitted before IDs were reserved).
func withThenID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, thenIDKey{}, id)
}

// reservedSeq returns the Seq of the ID withThenID put in ctx, or 0.
func reservedSeq(ctx context.Context) uint64 {
	id, _ := ctx.Value(thenIDKey{}).(string)
	seq, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return 0
	}
	return seq
}

// reserveThen reserves an ID for the follow-up of the group of s when s's
// Then is the one that counts: the group has no job with a Then yet (in
// memory, or earlier in this batch) and its on_done has not run. It takes
// the Seq before the job's own and notes the reservation in b and in the
// reply; it returns the ID, or "". The caller holds mu.
func (c *core) reserveThen(b *submitBatch, s *jobs.Spec) string {
	h, g := c.hooks, s.Group
	if h == nil || s.Then == nil || g == "" || h.fired[g] {
		return ""
	}
	if _, taken := h.thenOf[g]; taken {
		return ""
	}
	if len(c.groups[g]) == 0 {
		if _, left := c.leftOnDone(g); left {
			return "" // the group ended and left memory: its on_done ran
		}
	}
	c.seq++
	id := strconv.FormatUint(c.seq, 10)
	h.thenOf[g], h.thenRes[id] = id, g
	b.reply.ThenIDs = append(b.reply.ThenIDs, rpcapi.FollowUp{Group: g, ID: id})
	return id
}

// thenUnreserved notes that the group of s, a follow-up job being made
// with its reserved ID, has a job with a Then when s has one: its own
// follow-up gets no reserved ID (one taken now would sort after s), and no
// later job of the group reserves one. The caller holds mu.
func (c *core) thenUnreserved(s *jobs.Spec) {
	h := c.hooks
	if h == nil || s.Then == nil || s.Group == "" {
		return
	}
	if _, taken := h.thenOf[s.Group]; !taken {
		h.thenOf[s.Group] = ""
	}
}

// releaseThens drops the reservations of b, whose submit failed. The
// caller holds mu.
func (c *core) releaseThens(b *submitBatch) {
	if c.hooks == nil {
		return
	}
	for _, f := range b.reply.ThenIDs {
		delete(c.hooks.thenOf, f.Group)
		delete(c.hooks.thenRes, f.ID)
	}
}

// loadThens notes, for every group in memory, whether a job of it has a
// Then, and the IDs reserved for follow-ups not made yet. startHooks
// calls it with mu held.
func (h *hooks) loadThens() {
	c := h.core
	for g := range c.groupNames() {
		for _, id := range c.groupJobs(g) {
			j := c.job(id)
			if j.Spec.Then == nil {
				continue
			}
			h.thenOf[g] = j.ThenID
			if j.ThenID != "" && c.job(j.ThenID) == nil {
				h.thenRes[j.ThenID] = g
			}
			break
		}
	}
}

// thenDone forgets group g's reservation once its on_done has made the
// follow-up (made: its ID) or the master refused it (made is ""): a
// refused follow-up's ID stays reserved, unused, and a lookup of it says
// so. The caller holds mu.
func (h *hooks) thenDone(g, made string) {
	delete(h.thenOf, g)
	if made != "" {
		delete(h.thenRes, made)
	}
}

// made implements hookCore: whether job id is in memory or in the store
// (a follow-up made before a restart, which has left memory since). It
// must be called without mu.
func (c *core) made(id string) bool {
	j, _, err := c.findJob(id)
	return err == nil && j != nil
}

// notFound is the error of a lookup of job id that is neither in memory
// nor in the store: one that says so when id is reserved for a group's
// follow-up.
func (c *core) notFound(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.hooks; h != nil {
		if g, ok := h.thenRes[id]; ok {
			r := h.recs[g]
			switch {
			case r == nil || !r.did("then"):
				return fmt.Errorf("%w: job %q is the follow-up of group %q, not made yet: it is made when every job of the group is final",
					rpcapi.ErrNotFound, id, g)
			case r.Then != id:
				return fmt.Errorf("%w: job %q was reserved for the follow-up of group %q, which the master did not make (see the group's then_error)",
					rpcapi.ErrNotFound, id, g)
			}
		}
	}
	return fmt.Errorf("%w: job %q", rpcapi.ErrNotFound, id)
}
