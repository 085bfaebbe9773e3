package cluster

import (
	"errors"
	"fmt"

	"github.com/drover/drover/internal/raftstore"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// control is the group as the leader's master shows and changes it
// (master.ClusterControl).
type control struct{ rn *raftstore.Node }

var _ master.ClusterControl = control{}

func (c control) Status() any { return c.rn.Status() }

// AddMember checks the member (its fields, and that neither its ID nor
// one of its addresses is a member's already) and adds it.
func (c control) AddMember(id, raftAddr, rpc string) error {
	nm := raftstore.Member{ID: id, Raft: raftAddr, RPC: rpc}
	if err := raftstore.CheckMember(nm); err != nil {
		return fmt.Errorf("%w: %v", rpcapi.ErrBadRequest, err)
	}
	for _, m := range c.rn.Members() {
		switch {
		case m.ID == id:
			return fmt.Errorf("%w: member %q is in the group already (raft %s)", rpcapi.ErrBadRequest, id, m.Raft)
		case m.Raft == raftAddr:
			return fmt.Errorf("%w: raft address %s is member %q's", rpcapi.ErrBadRequest, raftAddr, m.ID)
		case m.RPC == rpc:
			return fmt.Errorf("%w: rpc address %s is member %q's", rpcapi.ErrBadRequest, rpc, m.ID)
		}
	}
	return c.wrap(c.rn.AddMember(nm))
}

// RemoveMember removes the member id.
func (c control) RemoveMember(id string) error {
	if _, ok := c.member(id); !ok {
		return fmt.Errorf("%w: no member %q in the group", rpcapi.ErrNotFound, id)
	}
	return c.wrap(c.rn.RemoveMember(id))
}

// member returns the member id of the group, if it is one.
func (c control) member(id string) (raftstore.Member, bool) {
	for _, m := range c.rn.Members() {
		if m.ID == id {
			return m, true
		}
	}
	return raftstore.Member{}, false
}

// wrap makes "not the leader" unavailable: the call may go to the leader.
func (c control) wrap(err error) error {
	if errors.Is(err, raftstore.ErrNotLeader) {
		return fmt.Errorf("%w: %v", rpcapi.ErrUnavailable, err)
	}
	return err
}
