package master

import (
	"context"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestWaitGroupFollowUpAfterMemory: once a group and its follow-up job
// have left memory (retain), wait_jobs on the group and get_group still
// name the follow-up with its state, read from disk, and a follow-up that
// failed is still in the wait's failed list.
func TestWaitGroupFollowUpAfterMemory(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Retain: time.Second, RetainJobs: 100, HistoryJobs: 100}
	m, mc := retainCluster(t, cfg)
	ctx := context.Background()
	runAll(t, mc, []jobs.Spec{{Type: "ok", Group: "good", Then: &jobs.Spec{Type: "ok"}}, {Type: "ok", Group: "good"},
		{Type: "ok", Group: "bad", Then: &jobs.Spec{Type: "fail"}}})
	var before map[string]*rpcapi.WaitReply
	eventually(t, m, "the follow-ups made", func() bool {
		return m.core.onDoneStatus("good") != nil && m.core.onDoneStatus("good").State == onDoneDone &&
			m.core.onDoneStatus("bad") != nil && m.core.onDoneStatus("bad").State == onDoneDone
	})
	before = map[string]*rpcapi.WaitReply{}
	for _, g := range []string{"good", "bad"} {
		w, err := mc.Wait(ctx, &rpcapi.WaitArgs{Group: g, Timeout: 10 * time.Second})
		if err != nil || !w.Done || w.Then == "" {
			t.Fatalf("wait %s in memory: %+v, %v", g, w, err)
		}
		before[g] = w
	}
	eventually(t, m, "the groups and their follow-ups leave memory", func() bool {
		return len(m.core.groups) == 0 && len(m.core.left) == 0 && m.core.byseq.len() == 0
	})
	for g, want := range map[string]jobs.State{"good": jobs.Succeeded, "bad": jobs.Failed} {
		w, err := mc.Wait(ctx, &rpcapi.WaitArgs{Group: g, Timeout: time.Second})
		if err != nil || !w.Done || w.Then != before[g].Then || w.ThenState != want || w.Counts[want] == 0 {
			t.Errorf("wait %s from disk: %+v, %v; want done, then %s %s", g, w, err, before[g].Then, want)
		}
		if want == jobs.Failed && (len(w.Failed) != 1 || w.Failed[0] != w.Then) {
			t.Errorf("wait %s from disk: failed %v; want the follow-up %s", g, w.Failed, w.Then)
		}
		var v apiGroup
		apiGetJSON(t, m, "groups/"+g, &v)
		if v.OnDone == nil || v.OnDone.Then != before[g].Then || v.OnDone.ThenState != want {
			t.Errorf("group %s from disk: on_done %+v; want then %s %s", g, v.OnDone, before[g].Then, want)
		}
	}
}
