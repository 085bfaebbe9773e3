package cluster

// notLeader answers every call of the master contract with ErrUnavailable
// naming the leader, until the wire has a fault of its own for it.

import (
	"context"
	"fmt"

	"github.com/drover/drover/rpcapi"
)

type notLeader struct{ leader func() string }

func (s notLeader) err() error {
	if l := s.leader(); l != "" {
		return fmt.Errorf("%w: not leader: the leader is at %s", rpcapi.ErrUnavailable, l)
	}
	return fmt.Errorf("%w: not leader: no leader is known yet", rpcapi.ErrUnavailable)
}

func (s notLeader) Register(context.Context, *rpcapi.RegisterArgs, *rpcapi.RegisterReply) error {
	return s.err()
}

func (s notLeader) Heartbeat(context.Context, *rpcapi.HeartbeatArgs, *rpcapi.HeartbeatReply) error {
	return s.err()
}

func (s notLeader) Complete(context.Context, *rpcapi.CompleteArgs, *rpcapi.CompleteReply) error {
	return s.err()
}

func (s notLeader) Logout(context.Context, *rpcapi.LogoutArgs, *rpcapi.Empty) error {
	return s.err()
}

func (s notLeader) Status(context.Context, *rpcapi.Empty, *rpcapi.StatusReply) error {
	return s.err()
}

func (s notLeader) Submit(context.Context, *rpcapi.SubmitArgs, *rpcapi.SubmitReply) error {
	return s.err()
}

func (s notLeader) GetJob(context.Context, *rpcapi.GetJobArgs, *rpcapi.JobInfo) error {
	return s.err()
}

func (s notLeader) ListJobs(context.Context, *rpcapi.ListJobsArgs, *rpcapi.ListJobsReply) error {
	return s.err()
}

func (s notLeader) ListWorkers(context.Context, *rpcapi.ListWorkersArgs, *rpcapi.ListWorkersReply) error {
	return s.err()
}

func (s notLeader) Cancel(context.Context, *rpcapi.CancelArgs, *rpcapi.CancelReply) error {
	return s.err()
}

func (s notLeader) PurgeJobs(context.Context, *rpcapi.PurgeArgs, *rpcapi.PurgeReply) error {
	return s.err()
}

func (s notLeader) Wait(context.Context, *rpcapi.WaitArgs, *rpcapi.WaitReply) error {
	return s.err()
}

func (s notLeader) Fetch(context.Context, *rpcapi.FetchArgs, *rpcapi.FetchReply) error {
	return s.err()
}

func (s notLeader) ListSchedules(context.Context, *rpcapi.Empty, *rpcapi.ListSchedulesReply) error {
	return s.err()
}

func (s notLeader) PauseSchedule(context.Context, *rpcapi.ScheduleArgs, *rpcapi.ScheduleInfo) error {
	return s.err()
}

func (s notLeader) ResumeSchedule(context.Context, *rpcapi.ScheduleArgs, *rpcapi.ScheduleInfo) error {
	return s.err()
}

func (s notLeader) GetGroup(context.Context, *rpcapi.GetGroupArgs, *rpcapi.GroupInfo) error {
	return s.err()
}

func (s notLeader) ListGroups(context.Context, *rpcapi.ListGroupsArgs, *rpcapi.ListGroupsReply) error {
	return s.err()
}

func (s notLeader) ListQueues(context.Context, *rpcapi.ListQueuesArgs, *rpcapi.ListQueuesReply) error {
	return s.err()
}
