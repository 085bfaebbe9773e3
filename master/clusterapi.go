package master

import (
	"fmt"
	"net/http"
	"time"

	"github.com/drover/drover/rpcapi"
)

// ClusterControl is the raft group a master leads, as its JSON API shows
// and changes it (package cluster implements it; docs/ha.md).
type ClusterControl interface {
	// Status is what GET /api/v1/cluster answers.
	Status() any
	// AddMember adds a member that started to join the group; an error
	// wrapping rpcapi.ErrBadRequest is the caller's mistake.
	AddMember(id, raft, rpc string) error
	// RemoveMember removes the member id.
	RemoveMember(id string) error
}

// clusterMember is the body of POST /api/v1/cluster/members.
type clusterMember struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
	RPC  string `json:"rpc"`
}

// apiCluster answers the raft group's status when the master leads one.
func (a httpAPI) apiCluster(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	if err := a.inCluster(); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.cluster.Status())
}

func (a httpAPI) apiAddMember(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	if err := a.inCluster(); err != nil {
		return err
	}
	var m clusterMember
	if err := a.decodeBody(w, r, &m, false, `a member as JSON, such as {"id": "m4", "raft": "10.0.0.4:7071", "rpc": "10.0.0.4:7070"}`); err != nil {
		return err
	}
	a.members.Add(1)
	defer a.members.Done()
	if err := a.cluster.AddMember(m.ID, m.Raft, m.RPC); err != nil {
		return err
	}
	a.log.WithField("member", m.ID).Warn("cluster: member added")
	return writeFlushed(w, a.cluster.Status())
}

func (a httpAPI) apiRemoveMember(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	if err := a.inCluster(); err != nil {
		return err
	}
	id := r.PathValue("id")
	a.members.Add(1)
	defer a.members.Done()
	if err := a.cluster.RemoveMember(id); err != nil {
		return err
	}
	a.log.WithField("member", id).Warn("cluster: member removed")
	return writeFlushed(w, a.cluster.Status())
}

// writeFlushed writes v as a 200 JSON reply and sends it at once: the
// master may close (Close waits for the member calls, not for their
// connections' last writes).
func writeFlushed(w http.ResponseWriter, v any) error {
	err := writeJSON(w, http.StatusOK, v)
	if f, ok := w.(http.Flusher); ok && err == nil {
		f.Flush()
	}
	return err
}

// memberCallsWait bounds how long Close waits for the member calls to
// answer: raft's own bound on a membership change (10 s), and a margin.
const memberCallsWait = 12 * time.Second

// waitMemberCalls waits until no call that adds or removes a member runs,
// or memberCallsWait.
func (a httpAPI) waitMemberCalls() {
	done := make(chan struct{})
	go func() {
		a.members.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(memberCallsWait):
		a.log.Warn("master stopping: a call that adds or removes a member did not answer in time")
	}
}

func (a httpAPI) inCluster() error {
	if a.cluster == nil {
		return fmt.Errorf("%w: this master is not a member of a cluster", rpcapi.ErrNotFound)
	}
	return nil
}
