package master

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// errDisk is what a failing recordingStore returns.
var errDisk = errors.New("test: disk failing")

// recordingStore is a test double for counting: a MemStore whose writes
// are noted, call by call, and which fails every write while failing is
// set.
type recordingStore struct {
	*jobs.MemStore
	failing atomic.Bool

	mu    sync.Mutex // guards calls
	calls []storeCall
}

// storeCall is one write call: its method, the Seqs and the meta records
// it wrote.
type storeCall struct {
	op    string
	seqs  []uint64
	metas []jobs.MetaRecord
}

var _ jobs.JointSaver = (*recordingStore)(nil)

func newRecordingStore() *recordingStore { return &recordingStore{MemStore: jobs.NewMemStore()} }

func (s *recordingStore) note(op string, batch []jobs.Record, metas []jobs.MetaRecord) error {
	c := storeCall{op: op, metas: slices.Clone(metas)}
	for _, r := range batch {
		c.seqs = append(c.seqs, r.Seq)
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if s.failing.Load() {
		return errDisk
	}
	return nil
}

func (s *recordingStore) Save(batch []jobs.Record) error {
	if err := s.note("Save", batch, nil); err != nil {
		return err
	}
	return s.MemStore.Save(batch)
}

func (s *recordingStore) SaveMeta(bucket, key string, val []byte) error {
	if err := s.note("SaveMeta", nil, []jobs.MetaRecord{{Bucket: bucket, Key: key, Val: val}}); err != nil {
		return err
	}
	return s.MemStore.SaveMeta(bucket, key, val)
}

func (s *recordingStore) SaveMetas(recs []jobs.MetaRecord) error {
	if err := s.note("SaveMetas", nil, recs); err != nil {
		return err
	}
	return s.MemStore.SaveMetas(recs)
}

func (s *recordingStore) SaveWithMetas(batch []jobs.Record, metas []jobs.MetaRecord) error {
	if err := s.note("SaveWithMetas", batch, metas); err != nil {
		return err
	}
	return s.MemStore.SaveWithMetas(batch, metas)
}

// Close keeps the records readable after the master closed its store.
func (s *recordingStore) Close() error { return nil }

// take returns the calls noted so far and forgets them.
func (s *recordingStore) take() []storeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// schedRecordIn returns schedule name's record as the store holds it.
func schedRecordIn(t testing.TB, ms jobs.MetaStore, name string) schedRecord {
	t.Helper()
	v, err := ms.GetMeta(schedBucket, name)
	if err != nil || v == nil {
		t.Fatalf("schedule %s's record: %q, %v", name, v, err)
	}
	var r schedRecord
	if err := json.Unmarshal(v, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// storedKeys returns the Keys of the jobs the store holds.
func storedKeys(t testing.TB, s jobs.Store) []string {
	t.Helper()
	var keys []string
	err := jobs.LoadJobs(s, func(j *jobs.Job) error { keys = append(keys, j.Spec.Key); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestFireIsOneStoreWrite: a fire's job and its schedule's record
// (LastFire) are written by one store call, and the master's API shows
// both: the job, and the schedule's last fire and job.
func TestFireIsOneStoreWrite(t *testing.T) {
	fc := newFakeClock(t0)
	st := newRecordingStore()
	m := startCronMaster(t, Config{StoreImpl: st}, fc)
	submitSpecs(t, m, jobs.Spec{Name: "tick", Schedule: "@every 1m", Overlap: jobs.OverlapAllow, Type: "nobody-runs-this"})
	for i, at := range []string{"2026-01-15T10:01:00Z", "2026-01-15T10:02:00Z"} {
		st.take()
		advance(t, m, fc, time.Minute)
		info := scheduleInfo(t, m, "tick")
		if !info.LastFire.Equal(utc(at)) || info.LastJob == "" {
			t.Fatalf("fire %d: schedule %+v", i+1, info)
		}
		var job rpcapi.JobInfo
		if err := m.wire.GetJob(context.Background(), &rpcapi.GetJobArgs{ID: info.LastJob}, &job); err != nil {
			t.Fatal(err)
		}
		if job.Job.Spec.Key != fireKey("tick", utc(at)) {
			t.Fatalf("fire %d: job %s has key %q", i+1, info.LastJob, job.Job.Spec.Key)
		}
		var writes []storeCall // the calls that wrote the job or the schedule's record
		for _, c := range st.take() {
			if slices.Contains(c.seqs, job.Job.Seq) || slices.ContainsFunc(c.metas, func(r jobs.MetaRecord) bool { return r.Key == "tick" }) {
				writes = append(writes, c)
			}
		}
		if len(writes) != 1 || writes[0].op != "SaveWithMetas" || len(writes[0].metas) != 1 {
			t.Fatalf("fire %d: the job and the schedule's record were written by %+v, want one SaveWithMetas", i+1, writes)
		}
		var rec schedRecord
		if err := json.Unmarshal(writes[0].metas[0].Val, &rec); err != nil || !rec.LastFire.Equal(utc(at)) {
			t.Fatalf("fire %d: the record written with the job: %+v, %v", i+1, rec, err)
		}
		if rec := schedRecordIn(t, st, "tick"); !rec.LastFire.Equal(utc(at)) || !rec.Through.Equal(utc(at)) {
			t.Fatalf("fire %d: stored record %+v", i+1, rec)
		}
	}
}

// TestFireLostWhenStoreFails: a fire whose commit fails leaves neither
// its job nor its record in the store, and is logged as lost; the
// instant is not fired again, and the next one fires once the store
// works again. A run now says the store failed.
func TestFireLostWhenStoreFails(t *testing.T) {
	fc := newFakeClock(t0)
	st := newRecordingStore()
	log, hook := logtest.NewNullLogger()
	m := startCronMaster(t, Config{StoreImpl: st}, fc)
	m.sched.do(func() { m.sched.log = log }) // the scheduler's lines only
	submitSpecs(t, m, jobs.Spec{Name: "tick", Schedule: "@every 1m", Overlap: jobs.OverlapAllow, Type: "nobody-runs-this"})
	before := schedRecordIn(t, st, "tick")

	st.failing.Store(true)
	st.take()
	advance(t, m, fc, time.Minute)
	if len(st.take()) == 0 {
		t.Fatal("the fire wrote nothing: the failing store was not tried")
	}
	wantTimes(t, m, "tick")
	if info := scheduleInfo(t, m, "tick"); !info.LastFire.IsZero() || info.LastJob != "" {
		t.Fatalf("after a lost fire: %+v", info)
	}
	if keys := storedKeys(t, st); len(keys) != 0 {
		t.Fatalf("the store holds jobs %q after a lost fire", keys)
	}
	if rec := schedRecordIn(t, st, "tick"); !rec.LastFire.IsZero() || !rec.Through.Equal(before.Through) {
		t.Fatalf("the store's record after a lost fire: %+v, was %+v", rec, before)
	}
	lost := 0
	for _, e := range hook.AllEntries() {
		if e.Message == "fire lost: store failing" {
			lost++
			if at, _ := e.Data["instant"].(time.Time); !at.Equal(utc("2026-01-15T10:01:00Z")) || e.Level != logrus.ErrorLevel {
				t.Fatalf("lost fire logged as %v %v", e.Level, e.Data)
			}
		}
	}
	if lost != 1 {
		t.Fatalf("%d lost fires logged, want 1", lost)
	}
	if _, err := m.sched.runNow("tick"); !errors.Is(err, rpcapi.ErrUnavailable) || !strings.Contains(err.Error(), "store failed") {
		t.Fatalf("run now on a failing store: %v", err)
	}
	wantTimes(t, m, "tick")

	st.failing.Store(false)
	advance(t, m, fc, time.Minute)
	wantTimes(t, m, "tick", "2026-01-15T10:02:00Z")
	if keys := storedKeys(t, st); !slices.Equal(keys, []string{fireKey("tick", utc("2026-01-15T10:02:00Z"))}) {
		t.Fatalf("the store holds jobs %q", keys)
	}
	if rec := schedRecordIn(t, st, "tick"); !rec.LastFire.Equal(utc("2026-01-15T10:02:00Z")) {
		t.Fatalf("the store's record: %+v", rec)
	}
}

// TestFireOwedWhenSubmitFails: a fire whose submit fails for another
// reason than the store (a broadcast nobody can run) is recorded alone,
// owed, and retried with backoff; no job is made meanwhile.
func TestFireOwedWhenSubmitFails(t *testing.T) {
	fc := newFakeClock(t0)
	st := newRecordingStore()
	log, hook := logtest.NewNullLogger()
	m := startCronMaster(t, Config{StoreImpl: st}, fc)
	m.sched.do(func() { m.sched.log = log })
	submitSpecs(t, m, jobs.Spec{Name: "b", Schedule: "@every 1h", Type: "nobody-runs-this", Broadcast: true})
	advance(t, m, fc, time.Hour)
	at := utc("2026-01-15T11:00:00Z")
	if rec := schedRecordIn(t, st, "b"); !rec.LastFire.Equal(at) {
		t.Fatalf("the owed fire is not recorded: %+v", rec)
	}
	if info := scheduleInfo(t, m, "b"); !info.LastFire.Equal(at) || info.LastJob != "" {
		t.Fatalf("schedule %+v", info)
	}
	notSubmitted := func() int {
		n := 0
		for _, e := range hook.AllEntries() {
			if e.Message == "fire not submitted" {
				n++
			}
		}
		return n
	}
	if n := notSubmitted(); n != 1 {
		t.Fatalf("%d failed submits logged, want 1", n)
	}
	advance(t, m, fc, time.Second) // the first backoff
	if n := notSubmitted(); n != 2 {
		t.Fatalf("%d failed submits logged after the backoff, want 2", n)
	}
	if keys := storedKeys(t, st); len(keys) != 0 {
		t.Fatalf("the store holds jobs %q", keys)
	}
}

// TestFireOnAStoreWithoutJointSaver: on a store that cannot write jobs
// and meta records in one call, a fire's batch writes the job with Save,
// then the record with SaveMetas.
func TestFireOnAStoreWithoutJointSaver(t *testing.T) {
	fc := newFakeClock(t0)
	rs := newRecordingStore()
	st := struct {
		jobs.Store
		jobs.MetaStore
	}{rs, rs}
	if _, ok := any(st).(jobs.JointSaver); ok {
		t.Fatal("the store is a JointSaver")
	}
	m := startCronMaster(t, Config{StoreImpl: st}, fc)
	submitSpecs(t, m, jobs.Spec{Name: "tick", Schedule: "@every 1m", Overlap: jobs.OverlapAllow, Type: "nobody-runs-this"})
	rs.take()
	advance(t, m, fc, time.Minute)
	at := utc("2026-01-15T10:01:00Z")
	info := scheduleInfo(t, m, "tick")
	if !info.LastFire.Equal(at) || info.LastJob == "" {
		t.Fatalf("schedule %+v", info)
	}
	var ops []string
	for _, c := range rs.take() {
		ops = append(ops, c.op)
	}
	if !slices.Equal(ops, []string{"Save", "SaveMetas"}) {
		t.Fatalf("the fire's writes: %v, want Save then SaveMetas", ops)
	}
	if rec := schedRecordIn(t, rs, "tick"); !rec.LastFire.Equal(at) {
		t.Fatalf("the store's record: %+v", rec)
	}
	if keys := storedKeys(t, rs); !slices.Equal(keys, []string{fireKey("tick", at)}) {
		t.Fatalf("the store holds jobs %q", keys)
	}
}
