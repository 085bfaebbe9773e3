package master

import (
	"context"
	"iter"
	"maps"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The core as its parts see it. The scheduler (cron.go), the group
// callbacks and notices (groups.go, grouptasks.go), the dispatcher
// (dispatch.go, send.go) and the registry and reaper (registry.go) hold no
// *Master: they reach the core through the narrow interfaces schedCore,
// hookCore, dispatchCore and registryCore, which Master implements here
// (and with its own methods job, apply, deadline, bump, writeHeld,
// abandonPinned and kick).

var (
	_ schedCore    = (*Master)(nil)
	_ hookCore     = (*Master)(nil)
	_ dispatchCore = (*Master)(nil)
	_ registryCore = (*Master)(nil)
)

// jobOfKey implements schedCore: the ID of the job with key, if any.
func (m *Master) jobOfKey(key string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.keys.byKey[key]
	return id, ok
}

// jobLive implements schedCore: whether job id is in memory and not final.
func (m *Master) jobLive(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.job(id)
	return j != nil && !j.State.Final()
}

func (m *Master) lock()   { m.mu.Lock() }
func (m *Master) unlock() { m.mu.Unlock() }

// groupJobs implements hookCore. The caller holds mu.
func (m *Master) groupJobs(g string) []string { return m.groups[g] }

// groupNames implements hookCore. The caller holds mu.
func (m *Master) groupNames() iter.Seq[string] { return maps.Keys(m.groups) }

// groupClosed implements hookCore. The caller holds mu.
func (m *Master) groupClosed(g string, at time.Time) { m.ret.groupClosed(g, at) }

// persist implements hookCore: a fresh snapshot of job id for the next
// commit, whose batch it returns (nil if the job is not in memory). The
// caller holds mu.
func (m *Master) persist(id string) *batch {
	if j := m.job(id); j != nil {
		return m.commit.add(j)
	}
	return nil
}

// maxArgsBytes implements hookCore.
func (m *Master) maxArgsBytes() int { return m.cfg.MaxArgsBytes }

// submit implements hookCore: one job through the wire service's Submit,
// with its checks; it returns the job's ID (the existing one for a known
// key).
func (m *Master) submit(ctx context.Context, spec jobs.Spec) (string, error) {
	var r rpcapi.SubmitReply
	if err := m.rpc().Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{spec}}, &r); err != nil {
		return "", err
	}
	return r.IDs[0], nil
}

// graceEnd implements dispatchCore: until when dispatch is held after a
// crash (see recoveryGrace; zero when it is not). The caller holds mu.
func (m *Master) graceEnd() time.Time { return m.graceUntil }

// pendingQueue implements dispatchCore. The caller holds mu.
func (m *Master) pendingQueue() *jobs.Queue { return m.queue }

// laneLimits implements dispatchCore. The caller holds mu.
func (m *Master) laneLimits() *limits { return &m.lim }

// pickWorker implements dispatchCore: the registry's choice of a worker
// for lane l. The caller holds mu.
func (m *Master) pickWorker(l *lane, now time.Time) (*workerRec, int, time.Time) {
	return m.reg.pickWorker(l, now)
}
