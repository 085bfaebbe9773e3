package master

import (
	"context"
	"fmt"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// ListSchedules implements rpcapi.MasterAPI. Schedules are not built yet:
// the list is empty.
func (m *Master) ListSchedules(ctx context.Context, _ *rpcapi.Empty, r *rpcapi.ListSchedulesReply) error {
	return nil
}

// PauseSchedule implements rpcapi.MasterAPI.
func (m *Master) PauseSchedule(ctx context.Context, a *rpcapi.ScheduleArgs, r *rpcapi.ScheduleInfo) error {
	return fmt.Errorf("%w: schedule %q", rpcapi.ErrNotFound, a.Name)
}

// ResumeSchedule implements rpcapi.MasterAPI.
func (m *Master) ResumeSchedule(ctx context.Context, a *rpcapi.ScheduleArgs, r *rpcapi.ScheduleInfo) error {
	return fmt.Errorf("%w: schedule %q", rpcapi.ErrNotFound, a.Name)
}

// upsertSchedules creates or replaces the schedules of specs (each has a
// Schedule and a Name) and reports, per spec, whether an identical
// schedule already existed. It is called without mu held.
func (m *Master) upsertSchedules(specs []jobs.Spec) ([]bool, error) {
	return nil, fmt.Errorf("%w: schedules are not supported by this master yet", rpcapi.ErrBadRequest)
}

// startScheduler starts firing the stored schedules; stopScheduler stops
// it. Start calls the first after loading the store, Close the second
// before closing the store.
func (m *Master) startScheduler() error { return nil }
func (m *Master) stopScheduler()        {}

// scheduleFinal is told when a job reaches a final state. The caller holds
// mu; it must not block.
func (m *Master) scheduleFinal(j *jobs.Job) {}
