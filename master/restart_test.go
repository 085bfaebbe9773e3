package master

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// startOn starts a master on loopback with cfg (a data dir) and no
// worker, and returns it with a client.
func startOn(t testing.TB, cfg Config) (*Master, rpcapi.MasterClient) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.HeartbeatInterval, cfg.DeadAfter = 50*time.Millisecond, 10*time.Second
	cfg.Logger = quietLog()
	m := startT(t, cfg)
	c := rpcapi.NewClient(m.Addr())
	t.Cleanup(func() { c.Close() })
	return m, rpcapi.MasterClient{C: c}
}

// finishedInMemory returns the finished jobs in m's memory. It takes mu.
func finishedInMemory(m *Master) []*jobs.Job {
	m.core.mu.Lock()
	defer m.core.mu.Unlock()
	var out []*jobs.Job
	for j := range m.core.allJobs() {
		if j.State.Final() {
			out = append(out, j)
		}
	}
	return out
}

// TestRestartKeepsRetainJobs: a master restarted on a data dir that holds
// more finished jobs younger than retain than retain_jobs keeps in memory
// retain_jobs of them, as a running master does: a job whose unique_key
// still holds, and the ones that finished last; the rest is history: counted, readable by ID and in
// listings from the disk. Live jobs, unique keys, jobs-file keys and job
// IDs are as before the restart.
func TestRestartKeepsRetainJobs(t *testing.T) {
	dir := t.TempDir()
	const keep = 100
	fileJob := jobs.Spec{Type: "ok", Key: "file:jobs.toml:1"}
	cfg := Config{DataDir: dir, Retain: time.Hour, RetainJobs: keep, Jobs: []jobs.Spec{fileJob}}
	m, mc := retainCluster(t, cfg)
	ctx := context.Background()

	// The oldest: a job from the jobs file and a job whose unique key
	// holds for an hour, then 400 jobs, one in ten failing.
	first := runAll(t, mc, []jobs.Spec{{Type: "ok", UniqueKey: "u", UniqueFor: time.Hour}})
	ids := runAll(t, mc, okAndFail(400, 10))
	live, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "nobody"}, {Type: "nobody"}, {Type: "nobody"}}})
	if err != nil {
		t.Fatal(err)
	}
	before, err := mc.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := mc.ListAllJobs(ctx, rpcapi.ListJobsArgs{Limit: 1000})
	if err != nil || len(all) != 2+len(ids)+len(live.IDs) {
		t.Fatalf("listing before the restart: %d jobs, %v", len(all), err)
	}
	fileID := all[len(all)-1].ID
	if all[len(all)-1].Spec.Key != fileJob.Key {
		t.Fatalf("the oldest job is %+v, want the jobs file's", all[len(all)-1])
	}
	m.Close()

	m2, mc2 := startOn(t, cfg)

	// Memory: retain_jobs finished jobs, the unique job (which counts
	// toward them, as it does while the master runs) and the ones that
	// finished last. A retire pass changes nothing then.
	fin := finishedInMemory(m2)
	if len(fin) != keep {
		t.Fatalf("%d finished jobs in memory after the restart, want %d (retain_jobs, the unique job among them)", len(fin), keep)
	}
	if n := m2.core.retireJobs(m2.core.now()); n != 0 {
		t.Fatalf("a retire pass right after the load took %d jobs out of memory", n)
	}
	in := make(map[string]bool)
	var oldestIn time.Time
	for _, j := range fin {
		in[j.ID] = true
		if j.ID != first[0] && (oldestIn.IsZero() || j.Updated.Before(oldestIn)) {
			oldestIn = j.Updated
		}
	}
	if !in[first[0]] {
		t.Fatalf("job %s, whose unique key holds, is not in memory", first[0])
	}
	for _, j := range all {
		if j.State.Final() && !in[j.ID] && j.Updated.After(oldestIn) {
			t.Fatalf("job %s (finished %s) left memory, but job finished at %s stayed", j.ID, j.Updated, oldestIn)
		}
	}
	m2.core.mu.Lock()
	if m2.core.ret.finishedMem != len(fin) || m2.core.counts.of(jobs.Pending) != 3 || m2.core.queue.Len() != 3 {
		t.Errorf("finishedMem %d, pending %d, queued %d", m2.core.ret.finishedMem, m2.core.counts.of(jobs.Pending), m2.core.queue.Len())
	}
	m2.core.mu.Unlock()
	// The retire pass then holds memory at retain_jobs (the unique job
	// stays, an older one leaves in its place).
	eventually(t, m2, "finished jobs in memory at retain_jobs", func() bool { return m2.core.ret.finishedMem <= keep })

	// Counts, the IDs, and the jobs from the disk.
	after, err := mc2.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(after.Counts, before.Counts) {
		t.Fatalf("counts after the restart %v, before %v", after.Counts, before.Counts)
	}
	for _, id := range []string{ids[0], ids[1], fileID} {
		info, err := mc2.GetJob(ctx, id)
		want := all[slices.IndexFunc(all, func(j jobs.Job) bool { return j.ID == id })]
		if err != nil || info.Job.State != want.State || len(info.Job.Attempts) != 1 || !info.Job.Updated.Equal(want.Updated) {
			t.Fatalf("job %s after the restart: %+v, %v; want %+v", id, info, err, want)
		}
	}
	again, err := mc2.ListAllJobs(ctx, rpcapi.ListJobsArgs{Limit: 1000})
	if err != nil || len(again) != len(all) {
		t.Fatalf("listing after the restart: %d jobs, %v; want %d", len(again), err, len(all))
	}
	for i := range all {
		if again[i].ID != all[i].ID || again[i].State != all[i].State {
			t.Fatalf("listing after the restart: job %d is %s %s, was %s %s", i, again[i].ID, again[i].State, all[i].ID, all[i].State)
		}
	}
	r, err := mc2.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{
		{Type: "ok", UniqueKey: "u"}, fileJob, {Type: "nobody"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.IDs[0] != first[0] || !r.Existing[0] {
		t.Errorf("unique key after the restart: job %s (existing %v), want %s", r.IDs[0], r.Existing[0], first[0])
	}
	if r.IDs[1] != fileID || !r.Existing[1] {
		t.Errorf("jobs file key after the restart: job %s (existing %v), want %s", r.IDs[1], r.Existing[1], fileID)
	}
	if want := strconv.Itoa(len(all) + 1); r.IDs[2] != want {
		t.Errorf("first new job after the restart: ID %s, want %s", r.IDs[2], want)
	}
}

// TestRestartScheduleFireKept: the job of a schedule's last fire has left
// memory (by retain_jobs, or by retain); a restart does not take the fire
// for one whose job was never submitted, and submits nothing.
func TestRestartScheduleFireKept(t *testing.T) {
	for _, by := range []string{"retain_jobs", "retain", "purge"} {
		t.Run(by, func(t *testing.T) {
			fc := newFakeClock(t0)
			cfg := Config{DataDir: t.TempDir(), Retain: time.Hour, RetainJobs: 100}
			if by == "retain" {
				cfg.Retain = time.Second
			}
			m := startCronMaster(t, cfg, fc)
			submitSpecs(t, m, jobs.Spec{Name: "c", Schedule: "*/10 * * * *", Type: "x"})
			advance(t, m, fc, 10*time.Minute)
			fire := scheduleInfo(t, m, "c").LastJob
			if fire == "" {
				t.Fatal("the schedule did not fire")
			}
			cancelJob(t, m, fire)
			var fired time.Time
			m.core.mu.Lock()
			fired = m.core.job(fire).Updated
			m.core.mu.Unlock()
			if by == "retain_jobs" || by == "purge" {
				// 150 jobs that finish after it.
				specs := specsOf(150, jobs.Spec{Type: "x"})
				r := submitSpecs(t, m, specs...)
				var cr rpcapi.CancelReply
				if err := m.wire.Cancel(context.Background(), &rpcapi.CancelArgs{IDs: r.IDs}, &cr); err != nil || len(cr.Cancelled) != len(specs) {
					t.Fatalf("cancel: %d, %v", len(cr.Cancelled), err)
				}
			} else {
				testproc.Poll(t, 10*time.Second, "the fire's job to be older than retain", func() bool {
					return time.Since(fired) > 2*cfg.Retain
				})
			}
			if by == "purge" {
				// Purge every finished job: all but the fire's go.
				eventually(t, m, "jobs leave memory", func() bool { return m.core.ret.finishedMem <= cfg.RetainJobs })
				n, err := m.Purge(context.Background(), PurgeFilter{All: true})
				if err != nil || n != 150 {
					t.Fatalf("purge: %d, %v; want the 150 jobs that are not the fire's", n, err)
				}
				if n, err := m.core.sweepHistory(time.Now().Add(365 * 24 * time.Hour)); err != nil || n != 0 {
					t.Fatalf("history sweep a year on: %d deleted, %v; want the fire's job kept", n, err)
				}
			}
			var st rpcapi.StatusReply
			if err := m.wire.Status(context.Background(), nil, &st); err != nil {
				t.Fatal(err)
			}
			m.Close()

			m = startCronMaster(t, cfg, fc)
			if by != "purge" && m.core.job(fire) != nil {
				t.Fatalf("the fire's job %s is in memory after the restart: the test does not test", fire)
			}
			settle(t, m)
			if info := scheduleInfo(t, m, "c"); info.LastJob != fire {
				t.Fatalf("after the restart the schedule's last job is %q, want %s", info.LastJob, fire)
			}
			var st2 rpcapi.StatusReply
			if err := m.wire.Status(context.Background(), nil, &st2); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(st.Counts, st2.Counts) {
				t.Fatalf("counts %v after the restart, %v before: the fire was submitted again", st2.Counts, st.Counts)
			}
		})
	}
}

// TestRestartKeepsFailedNotice: a failed job whose job_failed notice was
// not sent before the master stopped stays in memory at the restart,
// however many jobs finished after it, and its notice is sent.
func TestRestartKeepsFailedNotice(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Retain: time.Hour, RetainJobs: 100}
	m, mc := retainCluster(t, cfg)
	failed := runAll(t, mc, []jobs.Spec{{Type: "fail"}})
	specs := specsOf(150, jobs.Spec{Type: "ok"})
	runAll(t, mc, specs)
	m.Close()

	// What a master that stopped before the notice went out leaves.
	st, err := jobs.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(onDoneRecord{State: onDonePending, Since: time.Now(), Attempt: 1})
	if err := st.SaveMeta(metaNotify, "job/"+failed[0], rec); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	posts := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct{ ID string }
		json.NewDecoder(r.Body).Decode(&b)
		posts <- b.ID
	}))
	t.Cleanup(srv.Close)
	cfg.Notify = Notify{Webhooks: []Webhook{{URL: srv.URL, Events: []string{EventJobFailed}}}}
	m2, _ := startOn(t, cfg)
	select {
	case id := <-posts:
		if want := fmt.Sprintf("%s/%s/1", EventJobFailed, failed[0]); id != want {
			t.Fatalf("notice %q, want %q", id, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the job_failed notice was not sent after the restart")
	}
	eventually(t, m2, "the finished jobs in memory at retain_jobs", func() bool { return m2.core.ret.finishedMem <= 100 })
}

// BenchmarkLoad measures a master's load of a bolt store of finished jobs
// older than retain, and a few pending ones (the store opened once): per
// stored job.
func BenchmarkLoad(b *testing.B) {
	const old, live = 50000, 500
	dir := b.TempDir()
	st, err := jobs.OpenBolt(dir)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Now().Add(-2 * time.Hour).UTC()
	batch := make([]*jobs.Job, 0, 5000)
	for seq := uint64(1); seq <= old+live; seq++ {
		j := &jobs.Job{Seq: seq, ID: strconv.FormatUint(seq, 10), State: jobs.Pending, Submitted: at, Updated: at,
			Spec: jobs.Spec{Type: "noop", Args: map[string]string{"url": "https://example.com/" + strconv.FormatUint(seq, 10)}}}
		j.Note(at, "submitted")
		if seq <= old {
			j.Lease("w1-abcd", at)
			j.Finish(jobs.Report{Attempt: 1, Outcome: jobs.OK, Result: jobs.Result{Output: "ok"}}, at, jobs.Backoff{})
		}
		if batch = append(batch, j); len(batch) == cap(batch) {
			if err := st.Save(jobs.Records(batch...)); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := st.Save(jobs.Records(batch...)); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	s, err := jobs.OpenBolt(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		m, err := New(Config{StoreImpl: s, Logger: quiet, Listen: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		m.core.store = s
		if err := m.core.load(); err != nil {
			b.Fatal(err)
		}
		if m.core.byseq.len() != live {
			b.Fatalf("%d jobs in memory, want %d", m.core.byseq.len(), live)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(old+live), "ns/job")
}
