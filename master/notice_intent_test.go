package master_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
)

// intentStore is a memory store that checks, at each write of a job's
// failed state, that the pending record of its job_failed notice is in
// the store already: a master that stops right after that write must find
// the record at its next start, or the notice is lost (README, "Webhooks
// and email": a notice is sent "until it is sent, across restarts").
type intentStore struct {
	*jobs.MemStore
	mu      sync.Mutex
	failed  map[string]bool // jobs whose failed state was written
	missing []string
}

func (s *intentStore) Save(batch []jobs.Record) error {
	s.mu.Lock()
	for _, r := range batch {
		j, err := jobs.DecodeRecord(r.Data)
		if err != nil || j.State != jobs.Failed || s.failed[j.ID] {
			continue
		}
		s.failed[j.ID] = true
		v, err := s.GetMeta("notify", "job/"+j.ID)
		var rec struct{ Attempt int }
		if err != nil || v == nil || json.Unmarshal(v, &rec) != nil || rec.Attempt != j.Attempt {
			s.missing = append(s.missing, fmt.Sprintf("job %s attempt %d: record %q (%v)", j.ID, j.Attempt, v, err))
		}
	}
	s.mu.Unlock()
	return s.MemStore.Save(batch)
}

// TestJobFailedNoticeRecordedFirst: every job's failed state reaches the
// store after the pending record of its job_failed notice, and the notices
// are sent and their records deleted as before.
func TestJobFailedNoticeRecordedFirst(t *testing.T) {
	failed := newHookServer(t)
	st := &intentStore{MemStore: jobs.NewMemStore(), failed: make(map[string]bool)}
	m := startMaster(t, master.Config{StoreImpl: st, Notify: master.Notify{Webhooks: []master.Webhook{
		{URL: failed.URL, Events: []string{master.EventJobFailed}}}}})
	startWorker(t, m.Addr(), "a", 4, workHandlers())
	mc := client(t, m.Addr())
	specs := make([]jobs.Spec, 20)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "bad"}
	}
	ids := submit(t, mc, specs...)
	for range ids {
		select {
		case <-failed.posts:
		case <-time.After(20 * time.Second):
			t.Fatal("a job_failed notice did not come")
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.failed) != len(ids) || len(st.missing) > 0 {
		t.Fatalf("%d of %d failures written; written before their notice's record: %v", len(st.failed), len(ids), st.missing)
	}
}
