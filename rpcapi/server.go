package rpcapi

import (
	"context"
	"fmt"
	"net/http"
	"net/rpc"
)

// GoRPCPath is where net/rpc (gob) is served, over an HTTP CONNECT.
const GoRPCPath = "/_goRPC_"

// NewGoRPCHandler returns an http.Handler serving the given APIs over
// net/rpc at GoRPCPath. Either may be nil. It never touches
// rpc.DefaultServer.
func NewGoRPCHandler(m MasterAPI, w WorkerAPI) (http.Handler, error) {
	s := rpc.NewServer()
	if m != nil {
		if err := s.RegisterName("Master", &MasterService{api: m}); err != nil {
			return nil, fmt.Errorf("rpcapi: %w", err)
		}
	}
	if w != nil {
		if err := s.RegisterName("Worker", &WorkerService{api: w}); err != nil {
			return nil, fmt.Errorf("rpcapi: %w", err)
		}
	}
	return s, nil
}

// MasterService adapts a MasterAPI to net/rpc's method shape. Its methods
// are for net/rpc only.
type MasterService struct{ api MasterAPI }

func (s *MasterService) Register(a *RegisterArgs, r *RegisterReply) error {
	return encode(s.api.Register(context.Background(), a, r))
}
func (s *MasterService) Heartbeat(a *HeartbeatArgs, r *HeartbeatReply) error {
	return encode(s.api.Heartbeat(context.Background(), a, r))
}
func (s *MasterService) Complete(a *CompleteArgs, r *CompleteReply) error {
	return encode(s.api.Complete(context.Background(), a, r))
}
func (s *MasterService) Logout(a *LogoutArgs, r *Empty) error {
	return encode(s.api.Logout(context.Background(), a, r))
}
func (s *MasterService) Status(a *Empty, r *StatusReply) error {
	return encode(s.api.Status(context.Background(), a, r))
}
func (s *MasterService) Submit(a *SubmitArgs, r *SubmitReply) error {
	return encode(s.api.Submit(context.Background(), a, r))
}
func (s *MasterService) GetJob(a *GetJobArgs, r *JobInfo) error {
	return encode(s.api.GetJob(context.Background(), a, r))
}
func (s *MasterService) ListJobs(a *ListJobsArgs, r *ListJobsReply) error {
	return encode(s.api.ListJobs(context.Background(), a, r))
}
func (s *MasterService) ListWorkers(a *Empty, r *ListWorkersReply) error {
	return encode(s.api.ListWorkers(context.Background(), a, r))
}
func (s *MasterService) Cancel(a *CancelArgs, r *CancelReply) error {
	return encode(s.api.Cancel(context.Background(), a, r))
}
func (s *MasterService) Wait(a *WaitArgs, r *WaitReply) error {
	return encode(s.api.Wait(context.Background(), a, r))
}

// WorkerService adapts a WorkerAPI to net/rpc's method shape.
type WorkerService struct{ api WorkerAPI }

func (s *WorkerService) Assign(a *AssignArgs, r *AssignReply) error {
	return encode(s.api.Assign(context.Background(), a, r))
}
func (s *WorkerService) Cancel(a *WorkerCancelArgs, r *Empty) error {
	return encode(s.api.Cancel(context.Background(), a, r))
}
func (s *WorkerService) Ping(a *Empty, r *PingReply) error {
	return encode(s.api.Ping(context.Background(), a, r))
}
func (s *MasterService) Fetch(a *FetchArgs, r *FetchReply) error {
	return encode(s.api.Fetch(context.Background(), a, r))
}
func (s *MasterService) ListSchedules(a *Empty, r *ListSchedulesReply) error {
	return encode(s.api.ListSchedules(context.Background(), a, r))
}
func (s *MasterService) PauseSchedule(a *ScheduleArgs, r *ScheduleInfo) error {
	return encode(s.api.PauseSchedule(context.Background(), a, r))
}
func (s *MasterService) ResumeSchedule(a *ScheduleArgs, r *ScheduleInfo) error {
	return encode(s.api.ResumeSchedule(context.Background(), a, r))
}
