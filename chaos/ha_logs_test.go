package chaos

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
)

// This file reads the HA scenario from the outside: the members' and the
// workers' log lines, each stamped with when the test read it (the
// processes log unbuffered), and the webhook requests the members send to
// a server in the test. From them it tells which member led when, and
// which of them acted after a successor had won its election.

// haWin is an election won: member i (index into the group) won term at
// at (raft's "election won" line, which comes before the term's first
// commit), and its master had loaded the whole store, and so started its
// scheduler, by ready (its "master ready" line; zero if the member lost
// the term before).
type haWin struct {
	member int
	term   uint64
	at     time.Time
	ready  time.Time
}

// haReg is a worker registration: the worker's name, the member whose
// master gave the worker ID, in which term, and when.
type haReg struct {
	name   string
	member int
	term   uint64
	at     time.Time
}

// haReap is a "worker reaped" line of a member's master.
type haReap struct {
	member int
	name   string
	id     string // the registration reaped
	at     time.Time
	term   uint64 // the member's term then
	led    bool   // no other member had won a later term by then
	// superseded: the worker had registered again since (with this
	// master or another), so the registration reaped was not its latest.
	superseded bool
}

// haStepDown is a member stopping its master on losing the leadership
// (a killed member has no such line).
type haStepDown struct {
	member int
	at     time.Time
}

// haLogs is what the members' logs say.
type haLogs struct {
	wins  []haWin // in the order they came
	downs []haStepDown
	regs  map[string]haReg
	reaps []haReap
}

var electionWon = regexp.MustCompile(`election won: term=(\d+)`)

// logEntry is a JSON log line's fields, nil for another line.
func logEntry(line string) map[string]any {
	if !strings.HasPrefix(line, "{") {
		return nil
	}
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return nil
	}
	return m
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// readHALogs reads every run of every member of g.
func readHALogs(t *testing.T, g *testproc.HACluster) haLogs {
	t.Helper()
	h := haLogs{regs: map[string]haReg{}}
	type regLine struct {
		id string
		haReg
	}
	var regs []regLine
	for i := range g.Members {
		for _, p := range g.Runs(i) {
			last := -1 // this run's last election won, in h.wins
			for _, l := range p.Lines() {
				e := logEntry(l.Text)
				msg := str(e, "msg")
				switch {
				case e == nil:
				case electionWon.MatchString(msg):
					term, _ := strconv.ParseUint(electionWon.FindStringSubmatch(msg)[1], 10, 64)
					h.wins = append(h.wins, haWin{member: i, term: term, at: l.At})
					last = len(h.wins) - 1
				case msg == "master ready: the whole store is loaded":
					if last >= 0 && h.wins[last].ready.IsZero() {
						h.wins[last].ready = l.At
					}
				case msg == "worker registered":
					regs = append(regs, regLine{str(e, "worker"), haReg{name: str(e, "name"), member: i, at: l.At}})
				case msg == "this member is no longer the leader: stopping its master":
					h.downs = append(h.downs, haStepDown{member: i, at: l.At})
				case msg == "worker reaped":
					h.reaps = append(h.reaps, haReap{member: i, name: str(e, "name"), id: str(e, "worker"), at: l.At})
				}
			}
		}
	}
	slices.SortFunc(h.wins, func(a, b haWin) int { return a.at.Compare(b.at) })
	for _, r := range regs {
		term, ok := h.termOf(r.member, r.at)
		if !ok {
			t.Errorf("m%d registered worker %s at %s without having won an election", r.member+1, r.id, r.at.Format(time.StampMilli))
		}
		r.term = term
		h.regs[r.id] = r.haReg
	}
	for k := range h.reaps {
		r := &h.reaps[k]
		r.term, _ = h.termOf(r.member, r.at)
		_, deposed := h.successor(r.term, r.at)
		r.led = !deposed
		if reg, ok := h.regs[r.id]; ok {
			r.superseded = slices.ContainsFunc(regs, func(o regLine) bool {
				return o.name == r.name && o.at.After(reg.at) && o.at.Before(r.at)
			})
		}
	}
	return h
}

// termOf returns the term of member i's last election won before at.
func (h haLogs) termOf(i int, at time.Time) (uint64, bool) {
	var term uint64
	ok := false
	for _, w := range h.wins {
		if w.member == i && w.at.Before(at) {
			term, ok = w.term, true
		}
	}
	return term, ok
}

// successor returns the first election of a term after term won before
// at: once it is won, the leader of term is deposed.
func (h haLogs) successor(term uint64, at time.Time) (haWin, bool) {
	for _, w := range h.wins {
		if w.term > term && w.at.Before(at) {
			return w, true
		}
	}
	return haWin{}, false
}

// stepDownAfter says when p, a member continued at t0, stopped its master
// after t0: until then its master may act as the leader's, with only the
// fence (master.Config.Leads) between it and the workers.
func stepDownAfter(p *testproc.Proc, t0 time.Time) string {
	for _, l := range p.Lines() {
		if !l.At.Before(t0) && str(logEntry(l.Text), "msg") == "this member is no longer the leader: stopping its master" {
			return fmt.Sprintf("stopped its master %s after SIGCONT", l.At.Sub(t0).Round(time.Millisecond))
		}
	}
	return "logged no step-down after SIGCONT"
}

// timeline is the elections and step-downs, one a line, for the test's
// log.
func (h haLogs) timeline(t0 time.Time) string {
	type event struct {
		at   time.Time
		text string
	}
	var es []event
	for _, w := range h.wins {
		text := fmt.Sprintf("m%d won term %d", w.member+1, w.term)
		if !w.ready.IsZero() {
			text += fmt.Sprintf("; its master ready by %s", w.ready.Sub(t0).Round(time.Millisecond))
		}
		es = append(es, event{w.at, text})
	}
	for _, d := range h.downs {
		text := fmt.Sprintf("m%d stopped its master, no longer the leader", d.member+1)
		if term, ok := h.termOf(d.member, d.at); ok {
			if s, late := h.successor(term, d.at); late {
				text += fmt.Sprintf(" (%s after m%d won term %d)", d.at.Sub(s.at).Round(time.Millisecond), s.member+1, s.term)
			}
		}
		es = append(es, event{d.at, text})
	}
	slices.SortFunc(es, func(a, b event) int { return a.at.Compare(b.at) })
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  %s %s", e.at.Sub(t0).Round(time.Millisecond), e.text)
	}
	return b.String()
}

// deposedAct is a side effect of a member after a successor won: what,
// by whom, when and the successor.
type deposedAct struct {
	what   string
	member int
	term   uint64
	at     time.Time
	succ   haWin
}

func (d deposedAct) String() string {
	return fmt.Sprintf("%s by m%d (term %d) at %s, %s after m%d won term %d", d.what, d.member+1, d.term,
		d.at.Format("15:04:05.000"), d.at.Sub(d.succ.at).Round(time.Millisecond), d.succ.member+1, d.succ.term)
}

// haFence is what the workers' logs and the webhook requests say of the
// deposed leaders.
type haFence struct {
	assigns, notices int            // tasks the workers started; webhook requests
	refused          []string       // calls a worker refused for a stale secret: which, when
	unknown          []string       // tasks started under a registration no member's log has
	deposed          []deposedAct   // side effects after a successor's election
	byTerm           map[uint64]int // webhook requests by the sender's term
}

// checkAssigns reads the workers' "job started" lines (log_level debug):
// each names the registration it was accepted under, and so the member
// (and term) whose master sent it.
func (f *haFence) checkAssigns(h haLogs, worker string, lines []testproc.Line) {
	for _, l := range lines {
		e := logEntry(l.Text)
		switch str(e, "msg") {
		case "call refused: it does not carry the secret of this worker's registration":
			f.refused = append(f.refused, fmt.Sprintf("%s refused a %s call at %s", worker, str(e, "method"), l.At.Format("15:04:05.000")))
		case "job started":
			f.assigns++
			id := str(e, "worker")
			r, ok := h.regs[id]
			if !ok {
				f.unknown = append(f.unknown, fmt.Sprintf("%s: job %s under %q", worker, str(e, "job"), id))
				continue
			}
			if s, late := h.successor(r.term, l.At); late {
				f.deposed = append(f.deposed, deposedAct{what: fmt.Sprintf("task %s/%v started on %s", str(e, "job"), e["attempt"], worker),
					member: r.member, term: r.term, at: l.At, succ: s})
			}
		}
	}
}

// checkNotices checks the webhook requests: each came from the member
// its URL names, which must not have been deposed by then.
func (f *haFence) checkNotices(h haLogs, reqs []hookRequest) {
	for _, r := range reqs {
		f.notices++
		if f.byTerm == nil {
			f.byTerm = map[uint64]int{}
		}
		term, ok := h.termOf(r.member, r.at)
		if !ok {
			f.unknown = append(f.unknown, fmt.Sprintf("a %s notice from m%d, which had won no election", r.event, r.member+1))
			continue
		}
		f.byTerm[term]++
		if s, late := h.successor(term, r.at); late {
			f.deposed = append(f.deposed, deposedAct{what: fmt.Sprintf("%s notice %s", r.event, r.delivery),
				member: r.member, term: term, at: r.at, succ: s})
		}
	}
}

// hookRecorder is a webhook that records each request: which member sent
// it (its URL's path names it) and when it came.
type hookRecorder struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []hookRequest
	changed chan struct{} // closed (and replaced) at each request
}

type hookRequest struct {
	member          int
	event, delivery string
	at              time.Time
}

func newHookRecorder(t *testing.T) *hookRecorder {
	t.Helper()
	h := &hookRecorder{changed: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/m"))
		if err != nil {
			http.Error(w, "no member in the path", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.reqs = append(h.reqs, hookRequest{member: i - 1, event: r.Header.Get("X-Drover-Event"), delivery: r.Header.Get("X-Drover-Delivery"), at: at})
		close(h.changed)
		h.changed = make(chan struct{})
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// conf is member i's [notify] table: job_failed and group_done to the
// recorder, retried quickly.
func (h *hookRecorder) conf(i int) string {
	return fmt.Sprintf(`[notify]
events = ["job_failed", "group_done"]
webhooks = ["%s/m%d"]
attempts = 20
retry_backoff = "50ms"
max_backoff = "500ms"
timeout = "2s"
`, h.srv.URL, i+1)
}

func (h *hookRecorder) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

// delivered returns the distinct deliveries of event, and a channel
// closed at the next request.
func (h *hookRecorder) delivered(event string) (map[string]bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]bool{}
	for _, r := range h.reqs {
		if r.event == event {
			out[r.delivery] = true
		}
	}
	return out, h.changed
}

// failCommand is a job that fails at once.
const failCommand = `
[commands.fail]
argv = ["sh", "-c", "exit 3"]
`

// checkFence checks that no member acted after a successor won its
// election, over faults faults: no task a worker started came from it, no
// webhook request. It prints the figures.
func checkFence(t *testing.T, h haLogs, workers []*testproc.Proc, hooks *hookRecorder, faults int) {
	t.Helper()
	var f haFence
	for _, p := range workers {
		f.checkAssigns(h, p.Name(), p.Lines())
	}
	f.checkNotices(h, hooks.requests())
	for _, u := range f.unknown {
		t.Errorf("side effect of no known leader: %s", u)
	}
	for _, d := range f.deposed {
		t.Errorf("deposed leader acted: %s", d)
	}
	for _, r := range f.refused {
		t.Logf("the worker's fence: %s with a stale secret", r)
	}
	t.Logf("webhook requests by the sender's term: %v", f.byTerm)
	line := fmt.Sprintf("scenario=ha_fence faults=%d elections=%d tasks_started=%d notices=%d stale_calls_refused=%d deposed_side_effects=%d",
		faults, len(h.wins), f.assigns, f.notices, len(f.refused), len(f.deposed))
	t.Log(line)
	fmt.Println(line)
	if f.assigns == 0 || f.notices == 0 {
		t.Errorf("saw %d tasks started and %d notices: the workers' debug lines or the webhooks are missing", f.assigns, f.notices)
	}
}

// checkNotified waits up to 30s until every failed job of failing has
// had its job_failed notice, whichever master saw it fail: a failed job's
// notice is sent "until it is sent, across restarts" (README, "What is
// kept"). It prints how many are missing then.
func checkNotified(t *testing.T, hooks *hookRecorder, failing []jobs.Job) {
	t.Helper()
	var missing []string
	failed := 0
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for done := false; !done; {
		missing, failed = nil, 0
		got, changed := hooks.delivered("job_failed")
		for _, j := range failing {
			if j.State != jobs.Failed {
				continue
			}
			failed++
			if d := fmt.Sprintf("job_failed/%s/%d", j.ID, j.Attempt); !got[d] {
				missing = append(missing, d)
			}
		}
		if len(missing) == 0 {
			break
		}
		select {
		case <-changed:
		case <-deadline.C:
			done = true
		}
	}
	line := fmt.Sprintf("scenario=ha_notify fires=%d failed=%d notices_missing=%d", len(failing), failed, len(missing))
	t.Log(line)
	fmt.Println(line)
	if len(missing) > 0 {
		t.Errorf("no job_failed notice within 30s for %s", strings.Join(missing, ", "))
	}
}

// checkReaps checks that no worker was reaped: none of the scenario's
// workers stops, so a leading master's reap of a worker's latest
// registration is a false death. Counted apart: reaps by a member already
// deposed (its master's writes fail; it acts on nothing), and reaps of a
// registration the worker had replaced by registering again.
func checkReaps(t *testing.T, h haLogs, workers int) {
	t.Helper()
	byLeader, deposed, superseded := 0, 0, 0
	for _, r := range h.reaps {
		desc := fmt.Sprintf("m%d (term %d) reaped %s (%s) at %s", r.member+1, r.term, r.name, r.id, r.at.Format("15:04:05.000"))
		switch {
		case !r.led:
			deposed++
			t.Logf("%s, deposed by then", desc)
		case r.superseded:
			superseded++
			t.Logf("%s, a registration the worker had replaced", desc)
		default:
			byLeader++
			t.Errorf("%s, leading, although the worker never stopped", desc)
		}
	}
	line := fmt.Sprintf("scenario=ha_workers workers=%d stopped=0 false_deaths=%d reaped_by_deposed=%d reaped_superseded=%d",
		workers, byLeader, deposed, superseded)
	t.Log(line)
	fmt.Println(line)
}

// TestHAFenceCheck: the HA scenario's fence check finds a task started
// under a deposed leader's registration and a notice from a deposed
// leader, once the successor has won, and only then.
func TestHAFenceCheck(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	sec := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	h := haLogs{wins: []haWin{{member: 0, term: 2, at: sec(0)}, {member: 1, term: 3, at: sec(2)}},
		regs: map[string]haReg{"w1-a": {member: 0, term: 2, at: sec(0.5)}, "w1-b": {member: 1, term: 3, at: sec(2.5)}}}
	started := func(at float64, worker, job string) testproc.Line {
		return testproc.Line{At: sec(at), Text: fmt.Sprintf(`{"level":"debug","msg":"job started","worker":%q,"job":%q,"attempt":1}`, worker, job)}
	}
	var f haFence
	f.checkAssigns(h, "worker-0", []testproc.Line{
		started(1, "w1-a", "ok-before"),
		{At: sec(1.5), Text: "not a log line"},
		started(2.1, "w1-a", "late"),
		started(3, "w1-b", "ok-successor"),
		started(3, "w9-x", "unknown"),
	})
	f.checkNotices(h, []hookRequest{
		{member: 0, event: "job_failed", delivery: "ok-before", at: sec(1.9)},
		{member: 0, event: "job_failed", delivery: "late", at: sec(2.2)},
		{member: 1, event: "job_failed", delivery: "ok-successor", at: sec(2.2)},
		{member: 2, event: "job_failed", delivery: "never-led", at: sec(2.2)},
	})
	if f.assigns != 4 || f.notices != 4 {
		t.Errorf("counted %d tasks and %d notices, want 4 and 4", f.assigns, f.notices)
	}
	var got []string
	for _, d := range f.deposed {
		got = append(got, d.what)
	}
	want := []string{"task late/1 started on worker-0", "job_failed notice late"}
	if !slices.Equal(got, want) {
		t.Errorf("deposed acts %q, want %q", got, want)
	}
	if len(f.unknown) != 2 {
		t.Errorf("unattributed %q, want the task under w9-x and the notice from m3", f.unknown)
	}
}

// keepLogs writes, when DROVER_CHAOS_LOGS names a directory, every
// process's whole output there at the test's end (a failed test logs only
// the last 16 KB of each), each line prefixed with when it came.
func keepLogs(t *testing.T, g *testproc.HACluster) {
	dir := os.Getenv("DROVER_CHAOS_LOGS")
	if dir == "" {
		return
	}
	t.Cleanup(func() {
		write := func(name string, p *testproc.Proc) {
			var b strings.Builder
			for _, l := range p.Lines() {
				fmt.Fprintf(&b, "%s %s\n", l.At.Format("15:04:05.000000"), l.Text)
			}
			if err := os.WriteFile(filepath.Join(dir, name+".log"), []byte(b.String()), 0o644); err != nil {
				t.Log(err)
			}
		}
		for i := range g.Members {
			for k, p := range g.Runs(i) {
				write(fmt.Sprintf("%s-run%d", g.ID(i), k+1), p)
			}
		}
		for _, p := range g.Workers {
			write(p.Name(), p)
		}
		t.Logf("the processes' output is in %s", dir)
	})
}
