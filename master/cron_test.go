package master

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// startCronMaster starts a master on loopback whose scheduler runs on fc
// (the system clock when fc is nil). Without a DataDir it keeps its jobs
// in memory.
func startCronMaster(t testing.TB, cfg Config, fc *fakeClock) *Master {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.DataDir == "" {
		cfg.Store = StoreMemory
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval, cfg.DeadAfter = 100*time.Millisecond, 3*time.Second
	}
	cfg.Logger = testLog(t, "master")
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fc != nil {
		m.sched = newScheduler(fc)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	awaitReadyT(m)
	t.Cleanup(func() { m.Close() })
	return m
}

// settle makes the scheduler do everything due at the clock's time, and
// returns once it has.
func settle(t testing.TB, m *Master) {
	t.Helper()
	if err := m.sched.do(func() { m.sched.fireDue(m.sched.now()) }); err != nil {
		t.Fatal(err)
	}
}

// advance moves fc by d and settles m.
func advance(t testing.TB, m *Master, fc *fakeClock, d time.Duration) {
	t.Helper()
	fc.Advance(d)
	settle(t, m)
}

// firedJobs returns the jobs schedule name has submitted, oldest first.
func firedJobs(m *Master, name string) []*jobs.Job {
	m.core.mu.Lock()
	defer m.core.mu.Unlock()
	var out []*jobs.Job
	for j := range m.core.allJobs() {
		if strings.HasPrefix(j.Spec.Key, schedKeyPrefix+name+"@") {
			out = append(out, j.Clone())
		}
	}
	return out
}

// fireTimes returns the instants of schedule name's jobs, from their keys.
func fireTimes(t testing.TB, m *Master, name string) []string {
	t.Helper()
	var out []string
	for _, j := range firedJobs(m, name) {
		out = append(out, strings.TrimPrefix(j.Spec.Key, schedKeyPrefix+name+"@"))
	}
	return out
}

func submitSpecs(t testing.TB, m *Master, specs ...jobs.Spec) *rpcapi.SubmitReply {
	t.Helper()
	var r rpcapi.SubmitReply
	if err := m.wire.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: specs}, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func scheduleInfo(t testing.TB, m *Master, name string) rpcapi.ScheduleInfo {
	t.Helper()
	var r rpcapi.ListSchedulesReply
	if err := m.wire.ListSchedules(context.Background(), &rpcapi.Empty{}, &r); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Schedules {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no schedule %q in %+v", name, r.Schedules)
	return rpcapi.ScheduleInfo{}
}

func cancelJob(t testing.TB, m *Master, id string) {
	t.Helper()
	var r rpcapi.CancelReply
	if err := m.wire.Cancel(context.Background(), &rpcapi.CancelArgs{IDs: []string{id}}, &r); err != nil || len(r.Errors) > 0 {
		t.Fatalf("cancel %s: %v %v", id, err, r.Errors)
	}
}

func wantTimes(t testing.TB, m *Master, name string, want ...string) {
	t.Helper()
	if got := fireTimes(t, m, name); !slices.Equal(got, want) {
		t.Fatalf("schedule %s fired at %v, want %v", name, got, want)
	}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// t0 is a Thursday in winter.
var t0 = utc("2026-01-15T10:00:00Z")

func TestParseSchedule(t *testing.T) {
	summer := utc("2026-07-15T10:00:00Z")
	for _, tc := range []struct {
		expr, tz string
		from     time.Time
		want     string
	}{
		{"0 2 * * *", "", t0, "2026-01-16T02:00:00Z"},
		{"0 2 * * *", "UTC", t0, "2026-01-16T02:00:00Z"},
		{"0 2 * * *", "Europe/Paris", t0, "2026-01-16T01:00:00Z"},     // CET, UTC+1
		{"0 2 * * *", "Europe/Paris", summer, "2026-07-16T00:00:00Z"}, // CEST, UTC+2
		{"0 9 * * MON-FRI", "", t0, "2026-01-16T09:00:00Z"},
		{"  */20 * * * *  ", "", t0, "2026-01-15T10:20:00Z"},
		{"30 0 2 * * *", "", t0, "2026-01-16T02:00:30Z"}, // seconds field first
		{"*/15 * * * * *", "", t0, "2026-01-15T10:00:15Z"},
		{"@daily", "", t0, "2026-01-16T00:00:00Z"},
		{"@midnight", "America/New_York", t0, "2026-01-16T05:00:00Z"},
		{"@hourly", "", t0, "2026-01-15T11:00:00Z"},
		{"@weekly", "", t0, "2026-01-18T00:00:00Z"},
		{"@monthly", "", t0, "2026-02-01T00:00:00Z"},
		{"@yearly", "Asia/Tokyo", t0, "2026-12-31T15:00:00Z"},
		{"@every 5m", "", t0, "2026-01-15T10:05:00Z"},
		{"@every 1h30m", "Europe/Paris", t0, "2026-01-15T11:30:00Z"},
		{"@every 1s", "", t0.Add(400 * time.Millisecond), "2026-01-15T10:00:01Z"},
	} {
		s, err := parseSchedule(tc.expr, tc.tz)
		if err != nil {
			t.Errorf("%q in %q: %v", tc.expr, tc.tz, err)
			continue
		}
		if got := s.Next(tc.from).UTC().Format(time.RFC3339); got != tc.want {
			t.Errorf("%q in %q after %s: next %s, want %s", tc.expr, tc.tz, tc.from.Format(time.RFC3339), got, tc.want)
		}
	}
	for _, tc := range []struct{ expr, tz, want string }{
		{"0 2 * *", "", `schedule "0 2 * *": expected 5 to 6 fields`},
		{"61 * * * *", "", `schedule "61 * * * *": end of range (61) above maximum (59)`},
		{"* * * * * * *", "", "expected 5 to 6 fields"},
		{"@every", "", `schedule "@every"`},
		{"@every 5x", "", `schedule "@every 5x"`},
		{"@reboot", "", `schedule "@reboot": unrecognized descriptor`},
		{"", "", "empty spec string"},
		{"CRON_TZ=Europe/Paris 0 2 * * *", "", "in the timezone field"},
		{"0 2 * * *", "Mars/Olympus", `timezone "Mars/Olympus"`},
	} {
		if _, err := parseSchedule(tc.expr, tc.tz); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q in %q: error %v, want %q", tc.expr, tc.tz, err, tc.want)
		}
	}
}

func TestLastBy(t *testing.T) {
	for _, tc := range []struct {
		expr       string
		after, now time.Time
		want       string // "" for none
	}{
		{"@every 1m", t0, t0.Add(59 * time.Second), ""},
		{"@every 1m", t0, t0.Add(time.Minute), "2026-01-15T10:01:00Z"},
		{"@every 1m", t0, t0.Add(10*time.Minute + 30*time.Second), "2026-01-15T10:10:00Z"},
		{"@every 7s", t0.Add(300 * time.Millisecond), t0.Add(30 * time.Second), "2026-01-15T10:00:28Z"},
		{"0 2 * * *", t0, t0.Add(5 * 24 * time.Hour), "2026-01-20T02:00:00Z"},
		{"0 2 * * *", t0, t0.Add(15 * time.Hour), ""},
		{"0 2 * * *", t0, t0.Add(16 * time.Hour), "2026-01-16T02:00:00Z"},
		{"* * * * * *", t0, t0.Add(30*24*time.Hour + 1500*time.Millisecond), "2026-02-14T10:00:01Z"},
		{"0 0 1 * *", t0, t0.Add(365 * 24 * time.Hour), "2027-01-01T00:00:00Z"},
		{"* * 1 * *", t0, utc("2026-03-20T00:00:00Z"), "2026-03-01T23:59:00Z"},
	} {
		s, err := parseSchedule(tc.expr, "")
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if l := lastBy(s, tc.after, tc.now); !l.IsZero() {
			got = l.UTC().Format(time.RFC3339)
		}
		if got != tc.want {
			t.Errorf("%q after %s up to %s: %q, want %q", tc.expr, tc.after, tc.now, got, tc.want)
		}
	}
}

func TestScheduleFires(t *testing.T) {
	fc := newFakeClock(t0)
	m := startCronMaster(t, Config{}, fc)
	spec := jobs.Spec{Name: "tick", Schedule: "*/5 * * * *", Overlap: jobs.OverlapAllow, Type: "echo",
		Args: map[string]string{"name": "x"}, Priority: 3, Retries: 2, Group: "ticks", Key: "mine"}
	r := submitSpecs(t, m, spec, jobs.Spec{Type: "echo"})
	if r.IDs[0] != "schedule:tick" || r.Existing[0] || r.Existing[1] || r.IDs[1] == "" {
		t.Fatalf("reply %+v", r)
	}
	if r := submitSpecs(t, m, spec); !r.Existing[0] {
		t.Fatalf("the same schedule again: %+v", r)
	}
	// A schedule's own key plays no part (a jobs file's keys may change).
	if r := submitSpecs(t, m, jobs.Spec{Name: "tick", Schedule: "*/5 * * * *", Overlap: jobs.OverlapAllow, Type: "echo",
		Args: map[string]string{"name": "x"}, Priority: 3, Retries: 2, Group: "ticks", Key: "file:other"}); !r.Existing[0] {
		t.Fatalf("the same schedule with another key: %+v", r)
	}
	info := scheduleInfo(t, m, "tick")
	if !info.Next.Equal(utc("2026-01-15T10:05:00Z")) || !info.LastFire.IsZero() || info.LastJob != "" ||
		info.Timezone != "UTC" || info.Overlap != "allow" || info.CatchUp != "none" || info.Paused {
		t.Fatalf("info %+v", info)
	}
	advance(t, m, fc, 4*time.Minute+59*time.Second)
	wantTimes(t, m, "tick")
	advance(t, m, fc, time.Second)
	wantTimes(t, m, "tick", "2026-01-15T10:05:00Z")
	j := firedJobs(m, "tick")[0]
	want := jobs.Spec{Type: "echo", Args: map[string]string{"name": "x"}, Priority: 3, Retries: 2, Group: "ticks",
		Key: "sched:tick@2026-01-15T10:05:00Z"}
	if !sameSpec(j.Spec, want) || j.Spec.Key != want.Key || j.State != jobs.Pending {
		t.Fatalf("fired job %+v", j)
	}
	info = scheduleInfo(t, m, "tick")
	if !info.LastFire.Equal(utc("2026-01-15T10:05:00Z")) || info.LastJob != j.ID || !info.Next.Equal(utc("2026-01-15T10:10:00Z")) {
		t.Fatalf("info after a fire %+v", info)
	}
	if info.Spec.Schedule != "" || info.Spec.Name != "" || info.Spec.Type != "echo" {
		t.Fatalf("info spec %+v", info.Spec)
	}
	// allow: fires while the last run is pending.
	advance(t, m, fc, 5*time.Minute)
	// A loop that wakes late fires once, for the latest instant.
	advance(t, m, fc, 22*time.Minute)
	wantTimes(t, m, "tick", "2026-01-15T10:05:00Z", "2026-01-15T10:10:00Z", "2026-01-15T10:30:00Z")

	// A changed spec with the same timetable keeps its last fire.
	spec.Args = map[string]string{"name": "y"}
	if r := submitSpecs(t, m, spec); r.Existing[0] {
		t.Fatal("a changed schedule is reported as existing")
	}
	if info := scheduleInfo(t, m, "tick"); !info.LastFire.Equal(utc("2026-01-15T10:30:00Z")) || !info.Next.Equal(utc("2026-01-15T10:35:00Z")) {
		t.Fatalf("after an args change %+v", info)
	}
	advance(t, m, fc, 5*time.Minute)
	if js := firedJobs(m, "tick"); js[len(js)-1].Spec.Args["name"] != "y" {
		t.Fatalf("fired %+v", js[len(js)-1].Spec)
	}
	// A new timetable starts now (10:37).
	spec.Schedule = "@every 1h"
	submitSpecs(t, m, spec)
	if info := scheduleInfo(t, m, "tick"); !info.Next.Equal(utc("2026-01-15T11:37:00Z")) {
		t.Fatalf("after a schedule change %+v", info)
	}
}

func TestScheduleOverlapSkip(t *testing.T) {
	fc := newFakeClock(t0)
	m := startCronMaster(t, Config{}, fc)
	submitSpecs(t, m, jobs.Spec{Name: "s", Schedule: "@every 1m", Type: "nobody-runs-this"})
	advance(t, m, fc, time.Minute)
	wantTimes(t, m, "s", "2026-01-15T10:01:00Z")
	for range 3 {
		advance(t, m, fc, time.Minute) // the first run is still pending
	}
	wantTimes(t, m, "s", "2026-01-15T10:01:00Z")
	if info := scheduleInfo(t, m, "s"); !info.Next.Equal(utc("2026-01-15T10:05:00Z")) || info.Overlap != "skip" {
		t.Fatalf("info %+v", info)
	}
	cancelJob(t, m, firedJobs(m, "s")[0].ID)
	settle(t, m) // skip does not fire when the run ends
	wantTimes(t, m, "s", "2026-01-15T10:01:00Z")
	advance(t, m, fc, time.Minute)
	wantTimes(t, m, "s", "2026-01-15T10:01:00Z", "2026-01-15T10:05:00Z")
}

func TestScheduleOverlapQueue(t *testing.T) {
	fc := newFakeClock(t0)
	m := startCronMaster(t, Config{}, fc)
	submitSpecs(t, m, jobs.Spec{Name: "q", Schedule: "@every 1m", Overlap: jobs.OverlapQueue, Type: "nobody-runs-this"})
	live := func() int {
		n := 0
		for _, j := range firedJobs(m, "q") {
			if !j.State.Final() {
				n++
			}
		}
		return n
	}
	advance(t, m, fc, time.Minute)
	for range 3 {
		advance(t, m, fc, time.Minute) // 10:02 waits; 10:03 and 10:04 are dropped
	}
	wantTimes(t, m, "q", "2026-01-15T10:01:00Z")
	cancelJob(t, m, firedJobs(m, "q")[0].ID)
	settle(t, m)
	wantTimes(t, m, "q", "2026-01-15T10:01:00Z", "2026-01-15T10:02:00Z")
	settle(t, m)
	if n := len(firedJobs(m, "q")); n != 2 || live() != 1 {
		t.Fatalf("%d jobs, %d live", n, live())
	}
	advance(t, m, fc, time.Minute) // 10:05 waits
	advance(t, m, fc, time.Minute)
	wantTimes(t, m, "q", "2026-01-15T10:01:00Z", "2026-01-15T10:02:00Z")
	// The run's end wakes the scheduler by itself (scheduleFinal).
	cancelJob(t, m, firedJobs(m, "q")[1].ID)
	testproc.Poll(t, 10*time.Second, "the queued fire", func() bool { return len(firedJobs(m, "q")) == 3 })
	wantTimes(t, m, "q", "2026-01-15T10:01:00Z", "2026-01-15T10:02:00Z", "2026-01-15T10:05:00Z")
	if live() != 1 {
		t.Fatalf("%d live runs", live())
	}
}

// TestScheduleRestart restarts a master on one bolt store: no instant
// fires twice, and instants missed while down are skipped (catch_up
// none) or fired once (catch_up one). The schedules come from the jobs
// file, which is submitted again at each start.
func TestScheduleRestart(t *testing.T) {
	fc := newFakeClock(t0)
	cfg := Config{DataDir: t.TempDir(), Jobs: []jobs.Spec{
		{Name: "none", Schedule: "*/10 * * * *", Overlap: jobs.OverlapAllow, Type: "x", Key: "file:a"},
		{Name: "one", Schedule: "*/10 * * * *", Overlap: jobs.OverlapAllow, CatchUp: jobs.CatchUpOne, Type: "x", Key: "file:b"},
		{Name: "every", Schedule: "@every 7m", Overlap: jobs.OverlapAllow, CatchUp: jobs.CatchUpOne, Type: "x", Key: "file:c"},
	}}
	m := startCronMaster(t, cfg, fc)
	advance(t, m, fc, 10*time.Minute)
	wantTimes(t, m, "none", "2026-01-15T10:10:00Z")
	wantTimes(t, m, "one", "2026-01-15T10:10:00Z")
	wantTimes(t, m, "every", "2026-01-15T10:07:00Z")
	lastJob := scheduleInfo(t, m, "one").LastJob
	m.Close()

	// Back at once: nothing fires again.
	m = startCronMaster(t, cfg, fc)
	settle(t, m)
	wantTimes(t, m, "none", "2026-01-15T10:10:00Z")
	wantTimes(t, m, "one", "2026-01-15T10:10:00Z")
	wantTimes(t, m, "every", "2026-01-15T10:07:00Z")
	if info := scheduleInfo(t, m, "one"); info.LastJob != lastJob || !info.LastFire.Equal(utc("2026-01-15T10:10:00Z")) {
		t.Fatalf("after restart %+v, last job was %s", info, lastJob)
	}
	m.Close()

	// Down from 10:10 to 10:45: 10:20, 10:30 and 10:40 are missed.
	fc.Advance(35 * time.Minute)
	m = startCronMaster(t, cfg, fc)
	settle(t, m)
	wantTimes(t, m, "none", "2026-01-15T10:10:00Z")
	wantTimes(t, m, "one", "2026-01-15T10:10:00Z", "2026-01-15T10:40:00Z")
	wantTimes(t, m, "every", "2026-01-15T10:07:00Z", "2026-01-15T10:42:00Z")
	if info := scheduleInfo(t, m, "none"); !info.Next.Equal(utc("2026-01-15T10:50:00Z")) {
		t.Fatalf("none: %+v", info)
	}
	if info := scheduleInfo(t, m, "every"); !info.Next.Equal(utc("2026-01-15T10:49:00Z")) {
		t.Fatalf("every: %+v", info)
	}
	m.Close()

	// The catch-up fire is not repeated by another restart.
	m = startCronMaster(t, cfg, fc)
	settle(t, m)
	wantTimes(t, m, "none", "2026-01-15T10:10:00Z")
	wantTimes(t, m, "one", "2026-01-15T10:10:00Z", "2026-01-15T10:40:00Z")
	advance(t, m, fc, 5*time.Minute)
	wantTimes(t, m, "none", "2026-01-15T10:10:00Z", "2026-01-15T10:50:00Z")
	wantTimes(t, m, "one", "2026-01-15T10:10:00Z", "2026-01-15T10:40:00Z", "2026-01-15T10:50:00Z")
	wantTimes(t, m, "every", "2026-01-15T10:07:00Z", "2026-01-15T10:42:00Z", "2026-01-15T10:49:00Z")
}

// TestScheduleInstantDuringLoad: an instant that comes after the master
// started, while it loads its store, is not one missed while it was down:
// it fires (late), also with catch_up none; those before the start are
// skipped.
func TestScheduleInstantDuringLoad(t *testing.T) {
	fc := newFakeClock(t0)
	cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", HeartbeatInterval: 100 * time.Millisecond,
		DeadAfter: 3 * time.Second, Logger: testLog(t, "master"), Jobs: []jobs.Spec{
			{Name: "none", Schedule: "*/10 * * * *", Overlap: jobs.OverlapAllow, Type: "x", Key: "file:a"}}}
	m := startCronMaster(t, cfg, fc)
	advance(t, m, fc, 10*time.Minute)
	wantTimes(t, m, "none", "2026-01-15T10:10:00Z")
	m.Close()

	// Down until 10:49:59, when the master starts; its store loads until
	// 10:50:01, past the 10:50 instant.
	fc.Advance(39*time.Minute + 59*time.Second)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.sched = newScheduler(fc)
	m.sched.up = fc.Now()
	fc.Advance(2 * time.Second)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	awaitReadyT(m)
	settle(t, m)
	wantTimes(t, m, "none", "2026-01-15T10:10:00Z", "2026-01-15T10:50:00Z")
}

// TestScheduleCrashBeforeSubmit: a master that stored a fire and died
// before submitting its job submits it, once, when it starts again.
func TestScheduleCrashBeforeSubmit(t *testing.T) {
	fc := newFakeClock(t0)
	cfg := Config{DataDir: t.TempDir()}
	m := startCronMaster(t, cfg, fc)
	submitSpecs(t, m, jobs.Spec{Name: "c", Schedule: "*/10 * * * *", Type: "x"})
	m.Close()

	// What the store holds after the fire's record was written and before
	// its job was: LastFire 10:10 without a job.
	st, err := jobs.OpenBolt(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	var rec schedRecord
	err = st.LoadMeta(schedBucket, func(k string, v []byte) error { return json.Unmarshal(v, &rec) })
	if err != nil {
		t.Fatal(err)
	}
	rec.LastFire, rec.Through = utc("2026-01-15T10:10:00Z"), utc("2026-01-15T10:10:00Z")
	b, _ := json.Marshal(rec)
	if err := st.SaveMeta(schedBucket, "c", b); err != nil {
		t.Fatal(err)
	}
	st.Close()

	fc.Advance(12 * time.Minute)
	for range 2 {
		m = startCronMaster(t, cfg, fc)
		settle(t, m)
		wantTimes(t, m, "c", "2026-01-15T10:10:00Z")
		if info := scheduleInfo(t, m, "c"); info.LastJob != firedJobs(m, "c")[0].ID {
			t.Fatalf("info %+v", info)
		}
		m.Close()
	}
}

func TestSchedulePauseResume(t *testing.T) {
	fc := newFakeClock(t0)
	cfg := Config{DataDir: t.TempDir(), Jobs: []jobs.Spec{
		{Name: "p", Schedule: "*/5 * * * *", Overlap: jobs.OverlapAllow, CatchUp: jobs.CatchUpOne, Type: "x", Key: "file:p"},
	}}
	m := startCronMaster(t, cfg, fc)
	var info rpcapi.ScheduleInfo
	if err := m.wire.PauseSchedule(context.Background(), &rpcapi.ScheduleArgs{Name: "p"}, &info); err != nil {
		t.Fatal(err)
	}
	if !info.Paused || !info.Next.IsZero() {
		t.Fatalf("paused: %+v", info)
	}
	advance(t, m, fc, 10*time.Minute)
	wantTimes(t, m, "p")
	m.Close()

	// The pause outlasts a restart and the jobs file's submit.
	m = startCronMaster(t, cfg, fc)
	advance(t, m, fc, 2*time.Minute) // 10:12
	wantTimes(t, m, "p")
	if info := scheduleInfo(t, m, "p"); !info.Paused {
		t.Fatalf("after restart: %+v", info)
	}
	// Resuming does not fire what passed while paused.
	if err := m.wire.ResumeSchedule(context.Background(), &rpcapi.ScheduleArgs{Name: "p"}, &info); err != nil {
		t.Fatal(err)
	}
	if info.Paused || !info.Next.Equal(utc("2026-01-15T10:15:00Z")) {
		t.Fatalf("resumed: %+v", info)
	}
	settle(t, m)
	wantTimes(t, m, "p")
	advance(t, m, fc, 3*time.Minute)
	wantTimes(t, m, "p", "2026-01-15T10:15:00Z")
	// Resuming a running schedule changes nothing.
	if err := m.wire.ResumeSchedule(context.Background(), &rpcapi.ScheduleArgs{Name: "p"}, &info); err != nil || info.Paused {
		t.Fatalf("resume again: %v %+v", err, info)
	}
	err := m.wire.PauseSchedule(context.Background(), &rpcapi.ScheduleArgs{Name: "nope"}, &info)
	if !errors.Is(err, rpcapi.ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("pause of an unknown schedule: %v", err)
	}

	// Over the wire, both transports.
	for _, tr := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		c, err := rpcapi.NewCaller(m.Addr(), tr)
		if err != nil {
			t.Fatal(err)
		}
		mc := rpcapi.MasterClient{C: c}
		if r, err := mc.PauseSchedule(context.Background(), "p"); err != nil || !r.Paused {
			t.Fatalf("%s: pause: %v %+v", tr, err, r)
		}
		if r, err := mc.ResumeSchedule(context.Background(), "p"); err != nil || r.Paused || r.Next.IsZero() {
			t.Fatalf("%s: resume: %v %+v", tr, err, r)
		}
		l, err := mc.ListSchedules(context.Background())
		if err != nil || len(l.Schedules) != 1 || l.Schedules[0].LastJob == "" || l.Schedules[0].Spec.Type != "x" {
			t.Fatalf("%s: list: %v %+v", tr, err, l)
		}
		if _, err := mc.ResumeSchedule(context.Background(), "nope"); !errors.Is(err, rpcapi.ErrNotFound) {
			t.Fatalf("%s: resume of an unknown schedule: %v", tr, err)
		}
		c.Close()
	}
}

func TestScheduleBadSpecs(t *testing.T) {
	fc := newFakeClock(t0)
	m := startCronMaster(t, Config{}, fc)
	good := jobs.Spec{Name: "good", Schedule: "@daily", Type: "x"}
	for _, tc := range []struct {
		spec jobs.Spec
		want string
	}{
		{jobs.Spec{Name: "a", Schedule: "0 2 * *", Type: "x"}, `schedule "a": schedule "0 2 * *": expected 5 to 6 fields`},
		{jobs.Spec{Name: "a", Schedule: "0 25 * * *", Type: "x"}, `schedule "a": schedule "0 25 * * *": end of range (25)`},
		{jobs.Spec{Name: "a", Schedule: "@every 5x", Type: "x"}, `schedule "a": schedule "@every 5x"`},
		{jobs.Spec{Name: "a", Schedule: "@sometimes", Type: "x"}, `schedule "a": schedule "@sometimes": unrecognized descriptor`},
		{jobs.Spec{Name: "a", Schedule: "CRON_TZ=Asia/Tokyo 0 2 * * *", Type: "x"}, "timezone field"},
		{jobs.Spec{Name: "a", Schedule: "0 0 30 2 *", Type: "x"}, `schedule "a": schedule "0 0 30 2 *" never fires`},
		{jobs.Spec{Name: "a", Schedule: "@daily", Timezone: "Mars/Olympus", Type: "x"}, `timezone "Mars/Olympus"`},
		{jobs.Spec{Name: "a", Schedule: "@daily", Overlap: "sometimes", Type: "x"}, `overlap "sometimes"`},
		{jobs.Spec{Name: "a", Schedule: "@daily", CatchUp: "all", Type: "x"}, `catch_up "all"`},
		{jobs.Spec{Schedule: "@daily", Type: "x"}, "a schedule needs a name"},
		{jobs.Spec{Name: "a", Schedule: "@daily"}, "no type"},
		{good, `schedule "good" appears twice`},
	} {
		var r rpcapi.SubmitReply
		err := m.wire.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{good, tc.spec}}, &r)
		if !errors.Is(err, rpcapi.ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want bad request with %q", tc.spec, err, tc.want)
		}
	}
	var l rpcapi.ListSchedulesReply
	if err := m.wire.ListSchedules(context.Background(), &rpcapi.Empty{}, &l); err != nil || len(l.Schedules) != 0 {
		t.Fatalf("a failed submit left schedules: %v %+v", err, l.Schedules)
	}
	// The code survives the wire.
	c := rpcapi.NewClient(m.Addr())
	defer c.Close()
	_, err := rpcapi.MasterClient{C: c}.Submit(context.Background(),
		&rpcapi.SubmitArgs{Specs: []jobs.Spec{{Name: "a", Schedule: "* * *", Type: "x"}}})
	if !errors.Is(err, rpcapi.ErrBadRequest) || !strings.Contains(err.Error(), `schedule "* * *"`) {
		t.Fatalf("over the wire: %v", err)
	}
}

func TestScheduleHTTPAPI(t *testing.T) {
	fc := newFakeClock(t0)
	m := startCronMaster(t, Config{}, fc)
	get := func() (out struct {
		Schedules []map[string]any `json:"schedules"`
	}) {
		t.Helper()
		res, err := http.Get("http://" + m.Addr() + "/api/v1/schedules")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %s", res.Status)
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if s := get().Schedules; s == nil || len(s) != 0 {
		t.Fatalf("no schedules: %#v", s)
	}
	submitSpecs(t, m, jobs.Spec{Name: "nightly", Schedule: "0 2 * * *", Timezone: "Europe/Paris", Type: "crawl",
		Args: map[string]string{"site": "a"}})
	advance(t, m, fc, 15*time.Hour) // 01:00 UTC is 02:00 in Paris
	s := get().Schedules
	if len(s) != 1 {
		t.Fatalf("schedules %#v", s)
	}
	want := map[string]any{"name": "nightly", "schedule": "0 2 * * *", "timezone": "Europe/Paris", "overlap": "skip",
		"catch_up": "none", "paused": false, "next": "2026-01-17T01:00:00Z", "last_fire": "2026-01-16T01:00:00Z",
		"last_job": firedJobs(m, "nightly")[0].ID, "type": "crawl", "args": map[string]any{"site": "a"}}
	for k, v := range want {
		if got, _ := json.Marshal(s[0][k]); string(got) != mustJSON(v) {
			t.Errorf("%s: %s, want %s", k, got, mustJSON(v))
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestScheduleSkipRealWorker runs an "@every 1s" schedule of 3 s jobs on a
// real worker, on the real clock: the runs never overlap.
func TestScheduleSkipRealWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	m := startCronMaster(t, Config{}, nil)
	type run struct{ start, end time.Time }
	var mu sync.Mutex
	var runs []run
	slow := func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		r := run{start: time.Now()}
		select {
		case <-time.After(3 * time.Second):
		case <-ctx.Done():
		}
		r.end = time.Now()
		mu.Lock()
		runs = append(runs, r)
		mu.Unlock()
		return jobs.Result{}, nil
	}
	startTestWorker(t, worker.Config{Master: m.Addr(), Name: "w", Slots: 4}, map[string]worker.HandlerFunc{"slow": slow})
	submitSpecs(t, m, jobs.Spec{Name: "every-second", Schedule: "@every 1s", Overlap: jobs.OverlapSkip, Type: "slow"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(runs)
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs ended in 30 s", n)
		}
		select {
		case <-m.Changed():
		case <-time.After(time.Second):
		}
	}
	var info rpcapi.ScheduleInfo
	if err := m.wire.PauseSchedule(context.Background(), &rpcapi.ScheduleArgs{Name: "every-second"}, &info); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range firedJobs(m, "every-second") {
		ids = append(ids, j.ID)
	}
	var wr rpcapi.WaitReply
	if err := m.wire.Wait(context.Background(), &rpcapi.WaitArgs{IDs: ids, Timeout: 20 * time.Second}, &wr); err != nil || !wr.Done {
		t.Fatalf("wait: %v %+v", err, wr)
	}
	js := firedJobs(m, "every-second")
	if len(js) < 2 || wr.Counts[jobs.Succeeded] != len(js) {
		t.Fatalf("%d jobs, counts %v", len(js), wr.Counts)
	}
	for i := 1; i < len(js); i++ {
		prev, cur := js[i-1].Attempts[0], js[i].Attempts[0]
		if cur.Started.Before(prev.Ended) {
			t.Errorf("job %s started at %s, before job %s ended at %s", js[i].ID, cur.Started, js[i-1].ID, prev.Ended)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(runs, func(a, b run) int { return a.start.Compare(b.start) })
	for i := 1; i < len(runs); i++ {
		if runs[i].start.Before(runs[i-1].end) {
			t.Errorf("run %d started %s before run %d ended", i, runs[i-1].end.Sub(runs[i].start), i-1)
		}
	}
	t.Logf("%d runs in %d jobs", len(runs), len(js))
}

// TestSubmitScheduleFloor: a schedule submitted over the wire below the
// @every floor (or in fractions of a second) is refused with bad request
// and creates nothing.
func TestSubmitScheduleFloor(t *testing.T) {
	m := startT(t, Config{Store: StoreMemory, Listen: "127.0.0.1:0", Logger: quietLog()})
	for _, expr := range []string{"@every 1ns", "@every 500ms", "@every 1500ms"} {
		var r rpcapi.SubmitReply
		err := m.wire.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "t", Name: "n", Schedule: expr}}}, &r)
		if !errors.Is(err, rpcapi.ErrBadRequest) {
			t.Errorf("%s: %v, want bad request", expr, err)
		}
	}
	var ls rpcapi.ListSchedulesReply
	if err := m.wire.ListSchedules(context.Background(), &rpcapi.Empty{}, &ls); err != nil || len(ls.Schedules) != 0 {
		t.Fatalf("schedules after refused submits: %+v, %v", ls.Schedules, err)
	}
}
