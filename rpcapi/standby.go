package rpcapi

import (
	"context"
	"errors"
	"strings"
)

// leaderAt is what a not_leader message says before the leader's address.
const leaderAt = "the leader is at "

// NewNotLeader returns ErrNotLeader with a message that names leader, the
// leader's RPC address (host:port), or says that no leader is known yet
// when leader is "".
func NewNotLeader(leader string) error {
	if leader == "" {
		return &remoteError{sentinel: ErrNotLeader, msg: ErrNotLeader.Msg + ": no leader is known yet"}
	}
	return &remoteError{sentinel: ErrNotLeader, msg: ErrNotLeader.Msg + ": " + leaderAt + leader}
}

// LeaderOf returns the leader's address that an ErrNotLeader error names,
// whether it was made here (NewNotLeader) or came over gob or XML-RPC,
// and "" when err is no such error or names no leader.
func LeaderOf(err error) string {
	if !errors.Is(err, ErrNotLeader) {
		return ""
	}
	msg := err.Error()
	i := strings.LastIndex(msg, leaderAt)
	if i < 0 {
		return ""
	}
	addr, _, _ := strings.Cut(msg[i+len(leaderAt):], " ")
	return strings.TrimRight(addr, ";,)")
}

// Standby is the MasterAPI of a standby master: every method changes
// nothing and returns NewNotLeader(s.Leader()), so a client knows to call
// the leader instead. Serve it with NewGoRPCHandlerOptions and
// NewXMLRPCHandler as a master's API.
type Standby struct {
	// Leader returns the leader's RPC address (host:port), or "" while
	// no leader is known. Nil: none is known. It is called once per call,
	// from the call's goroutine, and must be safe for concurrent use.
	Leader func() string
}

var _ MasterAPI = (*Standby)(nil)

// refuse is every call's answer.
func (s *Standby) refuse() error {
	if s.Leader == nil {
		return NewNotLeader("")
	}
	return NewNotLeader(s.Leader())
}

// Register implements MasterAPI: ErrNotLeader.
func (s *Standby) Register(context.Context, *RegisterArgs, *RegisterReply) error {
	return s.refuse()
}

// Heartbeat implements MasterAPI: ErrNotLeader.
func (s *Standby) Heartbeat(context.Context, *HeartbeatArgs, *HeartbeatReply) error {
	return s.refuse()
}

// Complete implements MasterAPI: ErrNotLeader.
func (s *Standby) Complete(context.Context, *CompleteArgs, *CompleteReply) error {
	return s.refuse()
}

// Logout implements MasterAPI: ErrNotLeader.
func (s *Standby) Logout(context.Context, *LogoutArgs, *Empty) error { return s.refuse() }

// Status implements MasterAPI: ErrNotLeader.
func (s *Standby) Status(context.Context, *Empty, *StatusReply) error { return s.refuse() }

// Submit implements MasterAPI: ErrNotLeader.
func (s *Standby) Submit(context.Context, *SubmitArgs, *SubmitReply) error { return s.refuse() }

// GetJob implements MasterAPI: ErrNotLeader.
func (s *Standby) GetJob(context.Context, *GetJobArgs, *JobInfo) error { return s.refuse() }

// ListJobs implements MasterAPI: ErrNotLeader.
func (s *Standby) ListJobs(context.Context, *ListJobsArgs, *ListJobsReply) error {
	return s.refuse()
}

// ListWorkers implements MasterAPI: ErrNotLeader.
func (s *Standby) ListWorkers(context.Context, *ListWorkersArgs, *ListWorkersReply) error {
	return s.refuse()
}

// Cancel implements MasterAPI: ErrNotLeader.
func (s *Standby) Cancel(context.Context, *CancelArgs, *CancelReply) error { return s.refuse() }

// PurgeJobs implements MasterAPI: ErrNotLeader.
func (s *Standby) PurgeJobs(context.Context, *PurgeArgs, *PurgeReply) error { return s.refuse() }

// Wait implements MasterAPI: ErrNotLeader, at once.
func (s *Standby) Wait(context.Context, *WaitArgs, *WaitReply) error { return s.refuse() }

// Fetch implements MasterAPI: ErrNotLeader, at once.
func (s *Standby) Fetch(context.Context, *FetchArgs, *FetchReply) error { return s.refuse() }

// ListSchedules implements MasterAPI: ErrNotLeader.
func (s *Standby) ListSchedules(context.Context, *Empty, *ListSchedulesReply) error {
	return s.refuse()
}

// PauseSchedule implements MasterAPI: ErrNotLeader.
func (s *Standby) PauseSchedule(context.Context, *ScheduleArgs, *ScheduleInfo) error {
	return s.refuse()
}

// ResumeSchedule implements MasterAPI: ErrNotLeader.
func (s *Standby) ResumeSchedule(context.Context, *ScheduleArgs, *ScheduleInfo) error {
	return s.refuse()
}

// GetGroup implements MasterAPI: ErrNotLeader.
func (s *Standby) GetGroup(context.Context, *GetGroupArgs, *GroupInfo) error { return s.refuse() }

// ListGroups implements MasterAPI: ErrNotLeader.
func (s *Standby) ListGroups(context.Context, *ListGroupsArgs, *ListGroupsReply) error {
	return s.refuse()
}

// ListQueues implements MasterAPI: ErrNotLeader.
func (s *Standby) ListQueues(context.Context, *ListQueuesArgs, *ListQueuesReply) error {
	return s.refuse()
}
