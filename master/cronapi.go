package master

// The master's side of its schedules (cron.go runs them): the wire's
// schedule calls, upserting schedule specs from a submit, starting and
// stopping the scheduler.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/robfig/cron/v3"
)

// ListSchedules implements rpcapi.MasterAPI: the schedules by name.
func (api *wire) ListSchedules(ctx context.Context, _ *rpcapi.Empty, r *rpcapi.ListSchedulesReply) error {
	s := api.sched
	if s == nil {
		return nil
	}
	return s.do(func() {
		r.Schedules = make([]rpcapi.ScheduleInfo, 0, len(s.entries))
		for _, name := range slices.Sorted(maps.Keys(s.entries)) {
			r.Schedules = append(r.Schedules, s.entries[name].info())
		}
	})
}

// PauseSchedule implements rpcapi.MasterAPI. A paused schedule does not
// fire (a queued fire is dropped) until it is resumed; the pause is
// stored, so it outlasts a restart and a reload of the jobs file.
func (api *wire) PauseSchedule(ctx context.Context, a *rpcapi.ScheduleArgs, r *rpcapi.ScheduleInfo) error {
	if api.sched == nil {
		return errNoSchedule(a.Name)
	}
	return api.sched.setPaused(a.Name, true, r)
}

// ResumeSchedule implements rpcapi.MasterAPI. The schedule fires again
// from its next instant after now.
func (api *wire) ResumeSchedule(ctx context.Context, a *rpcapi.ScheduleArgs, r *rpcapi.ScheduleInfo) error {
	if api.sched == nil {
		return errNoSchedule(a.Name)
	}
	return api.sched.setPaused(a.Name, false, r)
}

// upsertSpecs creates or replaces the schedules of specs (each has a
// Schedule and a Name) and reports, per spec, whether an identical
// schedule already existed. It is called without the core's lock held. A
// bad cron expression is an rpcapi.ErrBadRequest naming the field, and
// then no schedule of specs is changed.
func (s *scheduler) upsertSpecs(specs []jobs.Spec) ([]bool, error) {
	now := s.now()
	parsed := make([]cron.Schedule, len(specs))
	seen := make(map[string]bool, len(specs))
	for i := range specs {
		sp := &specs[i]
		if seen[sp.Name] {
			return nil, fmt.Errorf("%w: schedule %q appears twice", rpcapi.ErrBadRequest, sp.Name)
		}
		seen[sp.Name] = true
		if err := CheckSchedule(sp.Schedule, sp.Timezone); err != nil {
			return nil, fmt.Errorf("%w: schedule %q: %v", rpcapi.ErrBadRequest, sp.Name, err)
		}
		c, err := parseSchedule(sp.Schedule, sp.Timezone)
		if err != nil {
			return nil, fmt.Errorf("%w: schedule %q: %v", rpcapi.ErrBadRequest, sp.Name, err)
		}
		if c.Next(now).IsZero() {
			return nil, fmt.Errorf("%w: schedule %q: schedule %q never fires", rpcapi.ErrBadRequest, sp.Name, sp.Schedule)
		}
		parsed[i] = c
	}
	existing := make([]bool, len(specs))
	var err error
	if derr := s.do(func() { err = s.upsert(specs, parsed, existing) }); derr != nil {
		return nil, derr
	}
	if err != nil {
		return nil, err
	}
	return existing, nil
}

// startScheduler starts firing the stored schedules; stopScheduler stops
// it. Start calls the first after loading the store, Close the second
// before closing the store. m.sched itself exists from the top of Start
// (newMasterScheduler), since reports served while the store loads poke
// it. A test may set m.sched (with a fake clock) before Start.
func (m *Master) startScheduler() error {
	return m.sched.start(m.core, m.core.store, m.log)
}

// newMasterScheduler gives the master its scheduler on the master's
// clock, not yet started, unless a test set one, and hands it to the
// parts that call it: the wire service, the operator and the core.
func (m *Master) newMasterScheduler() {
	c := m.core
	if m.sched == nil {
		m.sched = newScheduler(c.clock)
	}
	if m.sched.up.IsZero() {
		m.sched.up = m.sched.now()
	}
	m.wire.setScheduler(m.sched)
	m.ops.setScheduler(m.sched)
	c.mu.Lock()
	c.fires = m.sched
	c.mu.Unlock()
}

func (m *Master) stopScheduler() {
	if m.sched != nil {
		m.sched.stop()
	}
}

// scheduleFinal is told when a job reaches a final state. The caller holds
// mu; it must not block.
func (c *core) scheduleFinal(j *jobs.Job) {
	if strings.HasPrefix(j.Spec.Key, schedKeyPrefix) {
		c.noteFire(j)
		if c.fires != nil {
			c.fires.poke()
		}
	}
}

// lastFireKeys returns the keys of the schedules' latest fire jobs (see
// core.lastFires).
func (s *scheduler) lastFireKeys() map[string]bool {
	keys := make(map[string]bool)
	s.do(func() {
		for _, e := range s.entries {
			if !e.LastFire.IsZero() {
				keys[fireKey(e.name, e.LastFire)] = true
			}
		}
	})
	return keys
}
