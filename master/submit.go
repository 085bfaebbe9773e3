package master

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// MaxSubmit is the default bound on the specs in one Submit call.
const MaxSubmit = 100000

var _ rpcapi.MasterAPI = wire{}

// Submit implements rpcapi.MasterAPI. The new jobs are durable when it
// returns; a spec whose Key is already known returns the existing job's ID.
// One invalid spec fails the whole batch and nothing is created.
func (api wire) Submit(ctx context.Context, a *rpcapi.SubmitArgs, r *rpcapi.SubmitReply) error {
	m := api.m
	if len(a.Specs) == 0 {
		return fmt.Errorf("%w: submit of no jobs", rpcapi.ErrBadRequest)
	}
	if len(a.Specs) > m.cfg.MaxSubmit {
		return fmt.Errorf("%w: %d jobs in one submit; at most %d (max_submit)", rpcapi.ErrBadRequest, len(a.Specs), m.cfg.MaxSubmit)
	}
	for i := range a.Specs {
		if err := a.Specs[i].Validate(); err != nil {
			return fmt.Errorf("%w: job %d: %v", rpcapi.ErrBadRequest, i+1, err)
		}
		n := len(a.Specs[i].Input)
		for k, v := range a.Specs[i].Args {
			n += len(k) + len(v)
		}
		if t := a.Specs[i].Then; t != nil {
			tn := 0
			for k, v := range t.Args {
				tn += len(k) + len(v)
			}
			if tn > m.cfg.MaxArgsBytes {
				return fmt.Errorf("%w: job %d: then: args of %d bytes; at most %d (max_args_bytes)", rpcapi.ErrBadRequest, i+1, tn, m.cfg.MaxArgsBytes)
			}
		}
		if n > m.cfg.MaxArgsBytes {
			return fmt.Errorf("%w: job %d: args of %d bytes; at most %d (max_args_bytes)", rpcapi.ErrBadRequest, i+1, n, m.cfg.MaxArgsBytes)
		}
	}
	r.IDs = make([]string, len(a.Specs))
	r.Existing = make([]bool, len(a.Specs))
	// Specs with a schedule are schedules, not jobs: the scheduler keeps
	// them (and answers with "schedule:NAME").
	var scheds []int
	for i := range a.Specs {
		if a.Specs[i].Schedule != "" {
			scheds = append(scheds, i)
		}
	}
	if len(scheds) > 0 {
		specs := make([]jobs.Spec, len(scheds))
		for k, i := range scheds {
			specs[k] = a.Specs[i]
		}
		existing, err := m.upsertSchedules(specs)
		if err != nil {
			return err
		}
		for k, i := range scheds {
			r.IDs[i], r.Existing[i] = "schedule:"+a.Specs[i].Name, existing[k]
		}
	}
	now := m.now()
	var fresh []*jobs.Job
	var reserved []string
	// The jobs are built before the lock is taken, in one allocation: only
	// their Seq, their ID and the keys they take need the lock.
	// So are their first events.
	slab := make([]jobs.Job, 0, len(a.Specs)-len(scheds))
	evs := make([]jobs.Event, cap(slab))
	for i := range a.Specs {
		s := &a.Specs[i]
		if s.Schedule != "" {
			continue
		}
		k := len(slab)
		slab = slab[:k+1]
		j := &slab[k]
		j.Spec, j.State, j.Submitted, j.Updated = *s, jobs.Pending, now, now
		j.Spec.Args = cloneArgs(s.Args)
		j.Spec.Tags = slices.Clone(s.Tags)
		j.Events = evs[k : k : k+1]
		j.Note(now, "submitted")
		if nb := now.Add(s.Delay); s.Delay > 0 || s.RunAt.After(now) {
			if s.RunAt.After(nb) {
				nb = s.RunAt
			}
			j.NotBefore = nb
			j.Log(now, "held until %s", nb.Format(time.RFC3339))
		}
	}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return fmt.Errorf("%w: master shutting down", rpcapi.ErrUnavailable)
	}
	var uniq []string // unique keys taken by this batch
	var bErr error    // a broadcast nobody can run
	k := -1
	for i, s := range a.Specs {
		if s.Schedule != "" {
			continue
		}
		k++
		if s.Key != "" {
			if id, ok := m.keys[s.Key]; ok {
				r.IDs[i], r.Existing[i] = id, true
				continue
			}
		}
		if id := m.uniqueHolder(s.UniqueKey, now); id != "" {
			r.IDs[i], r.Existing[i] = id, true
			continue
		}
		m.seq++
		j := &slab[k]
		j.ID, j.Seq = strconv.FormatUint(m.seq, 10), m.seq
		if s.Key != "" {
			m.keys[s.Key] = j.ID // reserved until committed
			reserved = append(reserved, s.Key)
		}
		if s.UniqueKey != "" {
			uniq = append(uniq, s.UniqueKey)
			m.pendingUnique[s.UniqueKey] = j.ID // reserved until committed
		}
		r.IDs[i] = j.ID
		fresh = append(fresh, j)
		if s.Broadcast {
			targets := m.broadcastTargets(&j.Spec)
			if len(targets) == 0 {
				bErr = fmt.Errorf("%w: job %d: broadcast: no live worker has type %q with tags %v",
					rpcapi.ErrBadRequest, i+1, s.Type, s.Tags)
				break
			}
			fresh = append(fresh, m.expandBroadcast(j, targets, now)...)
		}
	}
	if bErr != nil {
		for _, k := range reserved {
			delete(m.keys, k)
		}
		for _, u := range uniq {
			delete(m.pendingUnique, u)
		}
		m.mu.Unlock()
		return bErr
	}
	m.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}

	err := m.commit.addFresh(jobs.Records(fresh...)).wait()
	m.mu.Lock()
	for _, u := range uniq {
		delete(m.pendingUnique, u)
	}
	if err != nil {
		for _, k := range reserved {
			delete(m.keys, k)
		}
		m.mu.Unlock()
		return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	for _, j := range fresh {
		m.insert(j)
		if j.State == jobs.Pending {
			m.enqueue(j)
		}
	}
	for _, j := range fresh[max(0, len(fresh)-recentChanges):] {
		m.noteChange(j, j.State)
	}
	m.bump()
	m.metrics.submitted.Add(float64(len(fresh)))
	m.mu.Unlock()
	m.log.WithField("jobs", len(fresh)).Debug("jobs submitted")
	m.kick()
	return nil
}

// uniqueHolder returns the job that holds unique key u now: one in
// flight in a submit, pending or running, or succeeded less than its
// unique_for ago. The caller holds mu.
func (m *Master) uniqueHolder(u string, now time.Time) string {
	if u == "" {
		return ""
	}
	if id, ok := m.pendingUnique[u]; ok {
		return id
	}
	j := m.job(m.unique[u])
	switch {
	case j == nil:
		return ""
	case !j.State.Final():
		return j.ID
	case j.State == jobs.Succeeded && now.Before(j.Updated.Add(j.Spec.UniqueFor)):
		return j.ID
	}
	return ""
}

func cloneArgs(a map[string]string) map[string]string {
	if len(a) == 0 {
		return nil
	}
	c := make(map[string]string, len(a))
	for k, v := range a {
		c[k] = v
	}
	return c
}
