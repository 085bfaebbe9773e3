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

// scheduleFinal is told when a job reaches a final state. The caller holds
// mu; it must not block.
func (m *Master) scheduleFinal(j *jobs.Job) {}
