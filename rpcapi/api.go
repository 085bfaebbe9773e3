package rpcapi

import "context"

// MasterAPI is the master's side of the contract. Both transports call it.
// Implementations must be safe for concurrent use; Wait blocks up to its
// timeout, every other method returns promptly.
type MasterAPI interface {
	Register(ctx context.Context, args *RegisterArgs, reply *RegisterReply) error
	Heartbeat(ctx context.Context, args *HeartbeatArgs, reply *HeartbeatReply) error
	Complete(ctx context.Context, args *CompleteArgs, reply *CompleteReply) error
	Logout(ctx context.Context, args *LogoutArgs, reply *Empty) error
	Status(ctx context.Context, args *Empty, reply *StatusReply) error
	Submit(ctx context.Context, args *SubmitArgs, reply *SubmitReply) error
	GetJob(ctx context.Context, args *GetJobArgs, reply *JobInfo) error
	ListJobs(ctx context.Context, args *ListJobsArgs, reply *ListJobsReply) error
	ListWorkers(ctx context.Context, args *ListWorkersArgs, reply *ListWorkersReply) error
	Cancel(ctx context.Context, args *CancelArgs, reply *CancelReply) error
	// PurgeJobs deletes finished jobs now (purge_jobs). It is not named
	// Purge: (*master.Master).Purge is the in-process call it wraps.
	PurgeJobs(ctx context.Context, args *PurgeArgs, reply *PurgeReply) error
	Wait(ctx context.Context, args *WaitArgs, reply *WaitReply) error
	Fetch(ctx context.Context, args *FetchArgs, reply *FetchReply) error
	ListSchedules(ctx context.Context, args *Empty, reply *ListSchedulesReply) error
	PauseSchedule(ctx context.Context, args *ScheduleArgs, reply *ScheduleInfo) error
	ResumeSchedule(ctx context.Context, args *ScheduleArgs, reply *ScheduleInfo) error
	GetGroup(ctx context.Context, args *GetGroupArgs, reply *GroupInfo) error
	ListGroups(ctx context.Context, args *ListGroupsArgs, reply *ListGroupsReply) error
	ListQueues(ctx context.Context, args *ListQueuesArgs, reply *ListQueuesReply) error
}

// WorkerAPI is the worker's side of the contract: what the master calls.
// Implementations must be safe for concurrent use and must not block on job
// execution.
type WorkerAPI interface {
	Assign(ctx context.Context, args *AssignArgs, reply *AssignReply) error
	Cancel(ctx context.Context, args *WorkerCancelArgs, reply *Empty) error
	Ping(ctx context.Context, args *Empty, reply *PingReply) error
	ReadLog(ctx context.Context, args *ReadLogArgs, reply *ReadLogReply) error
}
