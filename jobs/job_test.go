package jobs

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// t0 is a fixed clock for the state machine tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fixedBackoff has no randomness: Delay(n) is exactly half the capped
// exponential delay.
var fixedBackoff = Backoff{Base: time.Second, Max: 30 * time.Second, Rand: func() float64 { return 0 }}

// newJob returns a pending job as the master would make it.
func newJob(tb testing.TB, retries int) *Job {
	tb.Helper()
	j := &Job{
		ID:        "j1",
		Seq:       1,
		Spec:      Spec{Type: "crawl", Args: map[string]string{"spider": "s"}, Retries: retries},
		State:     Pending,
		Submitted: t0,
		Updated:   t0,
	}
	j.Log(t0, "submitted")
	return j
}

// lease leases j to worker and fails the test on error.
func lease(tb testing.TB, j *Job, worker string, now time.Time) int {
	tb.Helper()
	n, err := j.Lease(worker, now)
	if err != nil {
		tb.Fatalf("Lease: %v", err)
	}
	return n
}

// finish finishes j's attempt n with outcome o and fails the test on error.
func finish(tb testing.TB, j *Job, n int, o Outcome, now time.Time) {
	tb.Helper()
	if err := j.Finish(Report{Attempt: n, Outcome: o, Error: "boom"}, now, fixedBackoff); err != nil {
		tb.Fatalf("Finish(attempt %d, %s): %v", n, o, err)
	}
}

// wantState fails the test unless j is in state s.
func wantState(tb testing.TB, j *Job, s State) {
	tb.Helper()
	if j.State != s {
		tb.Fatalf("state = %s, want %s", j.State, s)
	}
}

// unchanged runs f on j and fails the test unless f returns an error matching
// target and leaves j deep-equal to how it was.
func unchanged(tb testing.TB, j *Job, target error, f func() error) {
	tb.Helper()
	before := j.Clone()
	err := f()
	if target != nil && !errors.Is(err, target) {
		tb.Fatalf("err = %v, want %v", err, target)
	}
	if target == nil && err == nil {
		tb.Fatalf("err = nil, want an error")
	}
	if !reflect.DeepEqual(before, j) {
		tb.Fatalf("job changed by a rejected transition:\nbefore %+v\nafter  %+v", before, j)
	}
}

func TestStateFinalValid(t *testing.T) {
	tests := []struct {
		s            State
		final, valid bool
	}{
		{Pending, false, true},
		{Running, false, true},
		{Succeeded, true, true},
		{Failed, true, true},
		{Cancelled, true, true},
		{"", false, false},
		{"done", false, false},
		{"PENDING", false, false},
	}
	for _, tt := range tests {
		if got := tt.s.Final(); got != tt.final {
			t.Errorf("%q.Final() = %v, want %v", tt.s, got, tt.final)
		}
		if got := tt.s.Valid(); got != tt.valid {
			t.Errorf("%q.Valid() = %v, want %v", tt.s, got, tt.valid)
		}
	}
}

func TestOutcomeValid(t *testing.T) {
	for _, o := range []Outcome{OK, Error, Timeout, Lost, OutcomeCanceled} {
		if !o.Valid() {
			t.Errorf("%q.Valid() = false", o)
		}
	}
	for _, o := range []Outcome{"", "canceled", "OK", "failed"} {
		if o.Valid() {
			t.Errorf("%q.Valid() = true", o)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		wantErr string // substring; empty means valid
	}{
		{"minimal", Spec{Type: "t"}, ""},
		{"full", Spec{Type: "crawl", Args: map[string]string{"a": "1", "b": ""}, Priority: -5, Retries: MaxRetries, Timeout: time.Minute, Group: "g", Key: "k"}, ""},
		{"type 128 bytes", Spec{Type: strings.Repeat("x", 128)}, ""},
		{"no type", Spec{}, "no type"},
		{"type 129 bytes", Spec{Type: strings.Repeat("x", 129)}, "longer than 128"},
		{"type with a NUL", Spec{Type: "ec\x00ho"}, "control character"},
		{"type with a newline", Spec{Type: "echo\n"}, "control character"},
		{"type not UTF-8", Spec{Type: "ec\xffho"}, "invalid UTF-8"},
		{"type in another script", Spec{Type: "抓取"}, ""},
		{"negative retries", Spec{Type: "t", Retries: -1}, "retries"},
		{"too many retries", Spec{Type: "t", Retries: MaxRetries + 1}, "retries"},
		{"negative timeout", Spec{Type: "t", Timeout: -time.Second}, "negative timeout"},
		{"empty arg name", Spec{Type: "t", Args: map[string]string{"": "v"}}, "empty name"},
		{"NUL in an arg value", Spec{Type: "t", Args: map[string]string{"a": "x\x00y"}}, "NUL byte"},
		{"NUL in an arg name", Spec{Type: "t", Args: map[string]string{"a\x00": "x"}}, "NUL byte"},
		{"control characters in an arg", Spec{Type: "t", Args: map[string]string{"a": "x\ny\tz\x1b"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLease(t *testing.T) {
	j := newJob(t, 0)
	n := lease(t, j, "w1", t0.Add(time.Second))
	if n != 1 || j.Attempt != 1 {
		t.Fatalf("attempt = %d (job %d), want 1", n, j.Attempt)
	}
	wantState(t, j, Running)
	if j.Worker != "w1" {
		t.Errorf("Worker = %q, want w1", j.Worker)
	}
	want := []Attempt{{N: 1, Worker: "w1", Started: t0.Add(time.Second)}}
	if !reflect.DeepEqual(j.Attempts, want) {
		t.Errorf("Attempts = %+v, want %+v", j.Attempts, want)
	}
	if c := j.Current(); c == nil || c.N != 1 {
		t.Errorf("Current() = %+v, want attempt 1", c)
	}
	if !j.Updated.Equal(t0.Add(time.Second)) {
		t.Errorf("Updated = %v", j.Updated)
	}

	// Leasing a job that is not pending fails and changes nothing.
	unchanged(t, j, ErrState, func() error { _, err := j.Lease("w2", t0.Add(2*time.Second)); return err })
	for _, s := range []State{Succeeded, Failed, Cancelled} {
		k := newJob(t, 0)
		k.State = s
		unchanged(t, k, ErrState, func() error { _, err := k.Lease("w2", t0); return err })
	}
}

func TestLeaseClearsNotBefore(t *testing.T) {
	j := newJob(t, 1)
	n := lease(t, j, "w1", t0)
	finish(t, j, n, Error, t0)
	if j.NotBefore.IsZero() {
		t.Fatal("NotBefore not set after a retryable failure")
	}
	lease(t, j, "w1", j.NotBefore)
	if !j.NotBefore.IsZero() {
		t.Errorf("NotBefore = %v after Lease, want zero", j.NotBefore)
	}
}

func TestRevoke(t *testing.T) {
	j := newJob(t, 0)
	n := lease(t, j, "w1", t0)

	// Wrong attempt: stale, nothing changes.
	unchanged(t, j, ErrStale, func() error { return j.Revoke(n+1, t0, "nope") })

	if err := j.Revoke(n, t0.Add(time.Second), "worker refused"); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	wantState(t, j, Pending)
	if j.Worker != "" {
		t.Errorf("Worker = %q after Revoke", j.Worker)
	}
	if len(j.Attempts) != 0 {
		t.Errorf("Attempts = %+v after Revoke, want none", j.Attempts)
	}
	if j.Attempt != n {
		t.Errorf("Attempt = %d after Revoke, want %d (number stays used)", j.Attempt, n)
	}
	if j.Failures() != 0 {
		t.Errorf("Failures() = %d after Revoke, want 0", j.Failures())
	}

	// A late report for the revoked attempt is stale, on the pending job...
	unchanged(t, j, ErrStale, func() error {
		return j.Finish(Report{Attempt: n, Outcome: OK}, t0, fixedBackoff)
	})
	// ... and on the next lease, which takes a fresh number.
	m := lease(t, j, "w2", t0.Add(2*time.Second))
	if m != n+1 {
		t.Fatalf("next lease attempt = %d, want %d", m, n+1)
	}
	unchanged(t, j, ErrStale, func() error {
		return j.Finish(Report{Attempt: n, Outcome: OK}, t0, fixedBackoff)
	})
	if len(j.Attempts) != 1 || j.Attempts[0].N != m {
		t.Errorf("Attempts = %+v, want one record for attempt %d", j.Attempts, m)
	}

	// Revoking a job that is not running is stale.
	finish(t, j, m, OK, t0.Add(3*time.Second))
	unchanged(t, j, ErrStale, func() error { return j.Revoke(m, t0, "late") })
}

func TestFinishOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		retries   int
		outcome   Outcome
		permanent bool
		want      State
		failures  int
	}{
		{"ok", 3, OK, false, Succeeded, 0},
		{"ok permanent flag ignored", 3, OK, true, Succeeded, 0},
		{"cancelled", 3, OutcomeCanceled, false, Cancelled, 0},
		{"error with retries left", 1, Error, false, Pending, 1},
		{"timeout with retries left", 1, Timeout, false, Pending, 1},
		{"lost with retries left", 1, Lost, false, Pending, 1},
		{"error no retries", 0, Error, false, Failed, 1},
		{"timeout no retries", 0, Timeout, false, Failed, 1},
		{"lost no retries", 0, Lost, false, Failed, 1},
		{"permanent error", 5, Error, true, Failed, 1},
		{"permanent timeout", 5, Timeout, true, Failed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJob(t, tt.retries)
			n := lease(t, j, "w1", t0)
			end := t0.Add(10 * time.Second)
			r := Report{
				Attempt:   n,
				Outcome:   tt.outcome,
				Result:    Result{ExitCode: 7, Output: "out", Data: "data"},
				Error:     "why",
				Permanent: tt.permanent,
			}
			if err := j.Finish(r, end, fixedBackoff); err != nil {
				t.Fatalf("Finish: %v", err)
			}
			wantState(t, j, tt.want)
			if j.Worker != "" {
				t.Errorf("Worker = %q after Finish", j.Worker)
			}
			if got := j.Failures(); got != tt.failures {
				t.Errorf("Failures() = %d, want %d", got, tt.failures)
			}
			want := Attempt{N: n, Worker: "w1", Started: t0, Ended: end, Outcome: tt.outcome,
				ExitCode: 7, Error: "why", Output: "out", Data: "data"}
			if len(j.Attempts) != 1 || !reflect.DeepEqual(j.Attempts[0], want) {
				t.Errorf("Attempts = %+v, want [%+v]", j.Attempts, want)
			}
			if tt.want == Pending {
				// First failure: Delay(1) = Base/2 with Rand 0.
				if wantNB := end.Add(fixedBackoff.Delay(1)); !j.NotBefore.Equal(wantNB) {
					t.Errorf("NotBefore = %v, want %v", j.NotBefore, wantNB)
				}
			} else if !j.NotBefore.IsZero() {
				t.Errorf("NotBefore = %v on a %s job, want zero", j.NotBefore, j.State)
			}
		})
	}
}

func TestFinishRetriesUsedUp(t *testing.T) {
	for _, retries := range []int{0, 1, 2, 5} {
		t.Run(fmt.Sprint("retries=", retries), func(t *testing.T) {
			j := newJob(t, retries)
			now := t0
			outcomes := []Outcome{Error, Timeout, Lost}
			for i := 1; i <= retries+1; i++ {
				n := lease(t, j, fmt.Sprint("w", i), now)
				if n != i {
					t.Fatalf("attempt %d leased as %d", i, n)
				}
				now = now.Add(time.Second)
				finish(t, j, n, outcomes[i%len(outcomes)], now)
				if got := j.Failures(); got != i {
					t.Fatalf("after attempt %d: Failures() = %d", i, got)
				}
				if i <= retries {
					wantState(t, j, Pending)
					if want := now.Add(fixedBackoff.Delay(i)); !j.NotBefore.Equal(want) {
						t.Fatalf("after failure %d: NotBefore = %v, want %v", i, j.NotBefore, want)
					}
					now = j.NotBefore
				}
			}
			wantState(t, j, Failed)
			if len(j.Attempts) != retries+1 {
				t.Errorf("len(Attempts) = %d, want %d", len(j.Attempts), retries+1)
			}
		})
	}
}

// TestFinishRetriesExact pins the brief's example: Retries=2 fails after
// exactly three error attempts, and not before.
func TestFinishRetriesExact(t *testing.T) {
	j := newJob(t, 2)
	states := []State{Pending, Pending, Failed}
	for i, want := range states {
		n := lease(t, j, "w", t0)
		finish(t, j, n, Error, t0)
		if j.State != want {
			t.Fatalf("after error attempt %d: state %s, want %s", i+1, j.State, want)
		}
	}
	if _, err := j.Lease("w", t0); !errors.Is(err, ErrState) {
		t.Fatalf("Lease of failed job: err = %v, want ErrState", err)
	}
}

// TestFailures checks that only error, timeout and lost attempts use up a
// retry: ok, cancelled and still-running attempts do not.
func TestFailures(t *testing.T) {
	j := &Job{Attempts: []Attempt{
		{N: 1, Outcome: Error},
		{N: 2, Outcome: OK},
		{N: 3, Outcome: Timeout},
		{N: 4, Outcome: OutcomeCanceled},
		{N: 5, Outcome: Lost},
		{N: 6}, // still running
	}}
	if got := j.Failures(); got != 3 {
		t.Errorf("Failures() = %d, want 3", got)
	}
	if got := (&Job{}).Failures(); got != 0 {
		t.Errorf("Failures() of new job = %d, want 0", got)
	}
}

func TestFinishStale(t *testing.T) {
	t.Run("old attempt", func(t *testing.T) {
		j := newJob(t, 5)
		n := lease(t, j, "w1", t0)
		finish(t, j, n, Error, t0)
		m := lease(t, j, "w2", j.NotBefore)
		for _, o := range []Outcome{OK, Error, Lost, OutcomeCanceled} {
			unchanged(t, j, ErrStale, func() error {
				return j.Finish(Report{Attempt: n, Outcome: o}, t0, fixedBackoff)
			})
		}
		// Future attempt numbers are stale too.
		unchanged(t, j, ErrStale, func() error {
			return j.Finish(Report{Attempt: m + 1, Outcome: OK}, t0, fixedBackoff)
		})
		finish(t, j, m, OK, t0)
		wantState(t, j, Succeeded)
	})
	t.Run("job not running", func(t *testing.T) {
		for _, s := range []State{Pending, Succeeded, Failed, Cancelled} {
			j := newJob(t, 0)
			n := lease(t, j, "w1", t0)
			j.State = s
			unchanged(t, j, ErrStale, func() error {
				return j.Finish(Report{Attempt: n, Outcome: OK}, t0, fixedBackoff)
			})
		}
	})
	t.Run("second report for a finished attempt", func(t *testing.T) {
		j := newJob(t, 0)
		n := lease(t, j, "w1", t0)
		finish(t, j, n, OK, t0)
		unchanged(t, j, ErrStale, func() error {
			return j.Finish(Report{Attempt: n, Outcome: Error}, t0, fixedBackoff)
		})
	})
}

func TestFinishInvalidOutcome(t *testing.T) {
	for _, o := range []Outcome{"", "bogus", "canceled"} {
		j := newJob(t, 0)
		n := lease(t, j, "w1", t0)
		unchanged(t, j, nil, func() error {
			err := j.Finish(Report{Attempt: n, Outcome: o}, t0, fixedBackoff)
			if errors.Is(err, ErrStale) {
				return fmt.Errorf("invalid outcome %q reported as stale: %w", o, err)
			}
			return err
		})
		wantState(t, j, Running)
	}
}

func TestCancel(t *testing.T) {
	t.Run("pending", func(t *testing.T) {
		j := newJob(t, 0)
		if err := j.Cancel(t0.Add(time.Second)); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		wantState(t, j, Cancelled)
		if len(j.Attempts) != 0 {
			t.Errorf("Attempts = %+v", j.Attempts)
		}
		if !j.Updated.Equal(t0.Add(time.Second)) {
			t.Errorf("Updated = %v", j.Updated)
		}
	})
	t.Run("running", func(t *testing.T) {
		j := newJob(t, 3)
		n := lease(t, j, "w1", t0)
		end := t0.Add(time.Second)
		if err := j.Cancel(end); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		wantState(t, j, Cancelled)
		if j.Worker != "" {
			t.Errorf("Worker = %q after Cancel", j.Worker)
		}
		a := j.Attempts[len(j.Attempts)-1]
		if a.N != n || a.Outcome != OutcomeCanceled || !a.Ended.Equal(end) {
			t.Errorf("attempt after Cancel = %+v, want attempt %d cancelled at %v", a, n, end)
		}
		if j.Failures() != 0 {
			t.Errorf("Failures() = %d, want 0", j.Failures())
		}
		// The worker's late report is stale, whatever it says.
		for _, o := range []Outcome{OK, Error, OutcomeCanceled} {
			unchanged(t, j, ErrStale, func() error {
				return j.Finish(Report{Attempt: n, Outcome: o}, end, fixedBackoff)
			})
		}
		unchanged(t, j, ErrStale, func() error { return j.Revoke(n, end, "late") })
	})
	t.Run("final", func(t *testing.T) {
		for _, s := range []State{Succeeded, Failed, Cancelled} {
			j := newJob(t, 0)
			j.State = s
			unchanged(t, j, ErrState, func() error { return j.Cancel(t0) })
		}
	})
}

func TestLogBounded(t *testing.T) {
	j := &Job{}
	const total = 3*MaxEvents + 5
	for i := range total {
		j.Log(t0.Add(time.Duration(i)*time.Second), "event %d", i)
		if len(j.Events) > MaxEvents {
			t.Fatalf("after %d events: len(Events) = %d > MaxEvents", i+1, len(j.Events))
		}
	}
	if len(j.Events) != MaxEvents {
		t.Fatalf("len(Events) = %d, want %d", len(j.Events), MaxEvents)
	}
	if j.Events[0].Text != "event 0" || !j.Events[0].At.Equal(t0) {
		t.Errorf("first event = %+v, want the submission event", j.Events[0])
	}
	// The rest are the newest MaxEvents-1, in order.
	for k, e := range j.Events[1:] {
		want := fmt.Sprintf("event %d", total-(MaxEvents-1)+k)
		if e.Text != want {
			t.Fatalf("Events[%d] = %q, want %q", k+1, e.Text, want)
		}
	}
}

func TestLogFormat(t *testing.T) {
	j := &Job{}
	j.Log(t0, "dispatched to %s as attempt %d", "w1", 2)
	if len(j.Events) != 1 || j.Events[0].Text != "dispatched to w1 as attempt 2" {
		t.Errorf("Events = %+v", j.Events)
	}
}

func TestCloneDeep(t *testing.T) {
	j := newJob(t, 2)
	n := lease(t, j, "w1", t0)
	finish(t, j, n, Error, t0.Add(time.Second))
	lease(t, j, "w2", j.NotBefore)
	orig := j.Clone()
	if !reflect.DeepEqual(orig, j) {
		t.Fatalf("Clone not equal to original:\n%+v\n%+v", orig, j)
	}

	c := j.Clone()
	c.Spec.Args["spider"] = "changed"
	c.Spec.Args["new"] = "x"
	c.Attempts[0].Outcome = OK
	c.Attempts[0].Worker = "other"
	c.Attempts = append(c.Attempts, Attempt{N: 99})
	c.Events[0].Text = "rewritten"
	c.Log(t0, "extra")
	c.State = Failed
	if !reflect.DeepEqual(orig, j) {
		t.Fatalf("mutating the clone changed the original:\nwant %+v\ngot  %+v", orig, j)
	}

	// And the other way round.
	c = j.Clone()
	j.Spec.Args["spider"] = "again"
	j.Attempts[1].Error = "x"
	if c.Spec.Args["spider"] != orig.Spec.Args["spider"] || c.Attempts[1].Error != "" {
		t.Fatalf("mutating the original changed the clone: %+v", c)
	}

	// Nil slices and maps stay nil.
	e := (&Job{ID: "e"}).Clone()
	if e.Spec.Args != nil || e.Attempts != nil || e.Events != nil {
		t.Errorf("Clone of empty job = %+v, want nil fields", e)
	}
}

func TestCurrent(t *testing.T) {
	j := newJob(t, 0)
	if c := j.Current(); c != nil {
		t.Fatalf("Current() of new job = %+v", c)
	}
	n := lease(t, j, "w1", t0)
	c := j.Current()
	if c == nil || c.N != n {
		t.Fatalf("Current() = %+v, want attempt %d", c, n)
	}
	c.Output = "via pointer"
	if j.Attempts[0].Output != "via pointer" {
		t.Errorf("Current() does not point into Attempts")
	}
	if err := j.Revoke(n, t0, "x"); err != nil {
		t.Fatal(err)
	}
	if c := j.Current(); c != nil {
		t.Errorf("Current() after Revoke = %+v", c)
	}
}

func TestBackoffDelay(t *testing.T) {
	base, maxD := time.Second, 30*time.Second
	// Un-jittered delay for n = 1..10.
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30, 30, 30}
	lo := Backoff{Base: base, Max: maxD, Rand: func() float64 { return 0 }}
	hi := Backoff{Base: base, Max: maxD, Rand: func() float64 { return 0.999 }}
	for i, w := range want {
		n := i + 1
		d := w * time.Second
		if got := lo.Delay(n); got != d/2 {
			t.Errorf("Rand=0: Delay(%d) = %v, want %v", n, got, d/2)
		}
		got := hi.Delay(n)
		if got < d/2 || got >= d {
			t.Errorf("Rand=0.999: Delay(%d) = %v, want in [%v, %v)", n, got, d/2, d)
		}
		if wantHi := d/2 + time.Duration(0.999*float64(d/2)); got != wantHi {
			t.Errorf("Rand=0.999: Delay(%d) = %v, want %v", n, got, wantHi)
		}
		if n > 1 && n <= 5 {
			if prev := lo.Delay(n - 1); lo.Delay(n) != 2*prev {
				t.Errorf("Delay(%d) = %v, not double Delay(%d) = %v", n, lo.Delay(n), n-1, prev)
			}
		}
	}
	for _, n := range []int{0, -1, -100} {
		if got := hi.Delay(n); got != 0 {
			t.Errorf("Delay(%d) = %v, want 0", n, got)
		}
	}
	if got := (Backoff{Max: maxD}).Delay(3); got != 0 {
		t.Errorf("zero Base: Delay(3) = %v, want 0", got)
	}
	// Huge n stays capped (no overflow).
	if got := lo.Delay(1 << 20); got != maxD/2 {
		t.Errorf("Delay(1<<20) = %v, want %v", got, maxD/2)
	}
}

func TestBackoffDefaultRand(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 30 * time.Second}
	for range 1000 {
		if got := b.Delay(3); got < 2*time.Second || got >= 4*time.Second {
			t.Fatalf("Delay(3) = %v, want in [2s, 4s)", got)
		}
	}
}

func TestRetry(t *testing.T) {
	j := newJob(t, 0)
	n := lease(t, j, "w1", t0)
	finish(t, j, n, Error, t0.Add(time.Second))
	wantState(t, j, Failed)
	if err := j.Retry(t0.Add(2 * time.Second)); err != nil {
		t.Fatalf("Retry of a failed job: %v", err)
	}
	wantState(t, j, Pending)
	if j.Worker != "" || !j.NotBefore.IsZero() || !j.Updated.Equal(t0.Add(2*time.Second)) {
		t.Errorf("after Retry: worker %q, not before %v, updated %v", j.Worker, j.NotBefore, j.Updated)
	}
	if m := lease(t, j, "w2", t0.Add(3*time.Second)); m != n+1 || len(j.Attempts) != 2 {
		t.Errorf("the lease after Retry is attempt %d with %d attempts; want %d and 2 (the failed one stays)", m, len(j.Attempts), n+1)
	}
	// Only a failed or cancelled job is retried; others change nothing.
	unchanged(t, j, ErrState, func() error { return j.Retry(t0) })
	for _, s := range []State{Pending, Succeeded} {
		k := newJob(t, 0)
		k.State = s
		unchanged(t, k, ErrState, func() error { return k.Retry(t0) })
	}
	c := newJob(t, 0)
	if err := c.Cancel(t0); err != nil {
		t.Fatal(err)
	}
	if err := c.Retry(t0.Add(time.Second)); err != nil || c.State != Pending {
		t.Errorf("Retry of a cancelled job: %v, state %s", err, c.State)
	}
}

func TestAdopt(t *testing.T) {
	j := newJob(t, 0)
	n := lease(t, j, "w1", t0)
	unchanged(t, j, ErrStale, func() error { return j.Adopt(n+1, "w2", t0, "adopted") })
	if err := j.Adopt(n, "w2", t0.Add(time.Second), "adopted by w2"); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	wantState(t, j, Running)
	if j.Worker != "w2" || j.Current().Worker != "w2" || j.Attempt != n || len(j.Attempts) != 1 {
		t.Errorf("after Adopt: worker %q, attempt's worker %q, attempt %d of %d; want w2, w2, %d of 1",
			j.Worker, j.Current().Worker, j.Attempt, len(j.Attempts), n)
	}
	if e := j.Events[len(j.Events)-1]; e.Text != "adopted by w2" {
		t.Errorf("last event %q, want the adoption's note", e.Text)
	}
	finish(t, j, n, OK, t0.Add(2*time.Second))
	unchanged(t, j, ErrStale, func() error { return j.Adopt(n, "w3", t0, "late") })
}

func TestSettle(t *testing.T) {
	for _, c := range []struct {
		ok, n int
		want  State
	}{{3, 3, Succeeded}, {2, 3, Failed}, {0, 0, Succeeded}} {
		j := newJob(t, 0)
		j.State = Running
		if err := j.Settle(c.ok, c.n, t0.Add(time.Second)); err != nil || j.State != c.want {
			t.Errorf("Settle(%d, %d): %v, state %s; want %s", c.ok, c.n, err, j.State, c.want)
		}
		unchanged(t, j, ErrState, func() error { return j.Settle(c.n, c.n, t0) })
	}
	k := newJob(t, 0)
	unchanged(t, k, ErrState, func() error { return k.Settle(1, 1, t0) })
}

// TestAttemptExited: only an attempt that finished ok or with an error has
// an exit code of its own.
func TestAttemptExited(t *testing.T) {
	for o, want := range map[Outcome]bool{OK: true, Error: true, Timeout: false, Lost: false, OutcomeCanceled: false, "": false} {
		if got := (&Attempt{Outcome: o, ExitCode: 3}).Exited(); got != want {
			t.Errorf("outcome %q: Exited %v, want %v", o, got, want)
		}
	}
}
