package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// A group's on_done actions run once, when the group is first final:
//
//   - the follow-up job, from the first job of the group (lowest Seq) whose
//     spec has a Then; its Input is the group's summary and results
//     (ThenInput). The follow-up is not a member of the group: it keeps the
//     group its own spec names (none by default; the group itself is
//     cleared), and its Key is "then:" + the group, so submitting it again
//     finds the first one;
//   - the group_done notice, to every webhook and the mail (Notify).
//
// "Once" is per group name, for ever: jobs submitted later with the same
// group, or members retried and finished again, are counted in the group
// but do not fire its on_done again. A group is final when every job that
// has been submitted to it is, so submit a group in one Submit call (or
// keep a member pending until the rest is in) or it may end early.
//
// Exactly once across restarts: when a group becomes final, touch calls
// groupFinal under mu, which queues a task and returns. The task waits
// until the group's final state is durable, writes a "pending" record
// (bucket "groups", key the group's name) before it acts, adds each action
// to the record as it completes (delivered, or given up after
// Notify.Attempts tries, with the error logged and kept in the record),
// and marks the record "done" at the end. At Start, every final group
// whose record is not done is queued again and runs only the actions its
// record does not list. The follow-up cannot be submitted twice, whatever
// the record says, thanks to its key; a notice may be sent twice only if
// the master stops between the delivery and the record (receivers can
// dedupe on X-Drover-Delivery). A store that is not a jobs.MetaStore keeps
// no records: on_done then runs at most once per master run.
//
// Job failures (EventJobFailed, when a notifier takes it) go the same way,
// with records "job/ID" in bucket "notify" that are deleted once done.

// The meta buckets and keys of on_done records.
const (
	metaGroups = "groups" // group name → onDoneRecord
	metaNotify = "notify" // "init" → initRecord; "job/ID" → onDoneRecord
	metaInit   = "init"
)

// The states of an onDoneRecord.
const (
	onDonePending = "pending"
	onDoneDone    = "done"
)

// onDoneRecord is the stored progress of one group's on_done (or of one
// job_failed notice). It is also the "on_done" of GET /api/v1/groups/NAME.
type onDoneRecord struct {
	// State is "pending" until every action is done or given up, then
	// "done".
	State string    `json:"state"`
	Since time.Time `json:"since"`
	Ended time.Time `json:"ended,omitzero"`
	// Result is the group's state when on_done ran.
	Result jobs.State `json:"result,omitempty"`
	// Then is the ID of the follow-up job.
	Then string `json:"then,omitempty"`
	// Done lists the finished actions: "then", "webhook HOST/HASH" (see
	// webhookName), "email".
	Done []string `json:"done,omitempty"`
	// Errors holds one line per action given up on.
	Errors []string `json:"errors,omitempty"`
	// Attempt is the failed attempt of a job_failed record.
	Attempt int `json:"attempt,omitempty"`
}

func (r *onDoneRecord) clone() *onDoneRecord {
	c := *r
	c.Done = slices.Clone(r.Done)
	c.Errors = slices.Clone(r.Errors)
	return &c
}

func (r *onDoneRecord) did(action string) bool { return slices.Contains(r.Done, action) }

// initRecord marks a store whose groups have records. Groups that were
// final when it was written (before this master version) are Legacy: done,
// without their on_done ever having run.
type initRecord struct {
	Since  time.Time `json:"since"`
	Legacy []string  `json:"legacy,omitempty"`
}

// hooks runs the on_done tasks on goroutines of its own: one loop that
// takes queued tasks, and at most maxHookTasks tasks at once. Start
// creates it (startHooks); shutdown stops it (stopHooks) before the
// committer and the store.
type hooks struct {
	m      *Master
	nf     *notifier
	failed bool           // a notifier takes job_failed
	meta   jobs.MetaStore // nil: the store keeps no records
	log    logrus.FieldLogger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}

	// Guarded by Master.mu:
	fired  map[string]bool          // groups whose on_done is queued, running or done
	cursor map[string]int           // groups not fired yet: members before the cursor were final
	recs   map[string]*onDoneRecord // each group's latest record, for the API
	busy   map[string]bool          // jobs whose job_failed notice is queued or running (they stay in memory)

	qmu   sync.Mutex // guards queue
	queue []hookTask
	wake  chan struct{} // one token: the queue has tasks
}

// maxHookTasks bounds the on_done tasks that run at once.
const maxHookTasks = 16

// hookTask is one queued on_done or job_failed.
type hookTask struct {
	event   string // EventGroupDone or EventJobFailed
	group   string // group_done: the group
	job     string // the job that made the group final, or that failed ("" for a task found at start)
	attempt int    // job_failed: the failed attempt
	// rec is job_failed's pending record from a run before (groups keep
	// theirs in hooks.recs).
	rec *onDoneRecord
}

// startHooks validates the notifiers, loads the on_done records, queues
// what a restart left unfinished, and starts the hooks goroutines. Start
// calls it after load, with the committer running.
func (m *Master) startHooks() error {
	if err := m.cfg.Notify.Validate(); err != nil {
		return err
	}
	log := m.log.WithField("part", "on_done")
	h := &hooks{m: m, nf: newNotifier(m.cfg.Notify, log), log: log,
		sem: make(chan struct{}, maxHookTasks), wake: make(chan struct{}, 1),
		fired: make(map[string]bool), cursor: make(map[string]int), recs: make(map[string]*onDoneRecord),
		busy: make(map[string]bool)}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.failed = h.nf.wantsAny(EventJobFailed)

	jobRecs := make(map[string]*onDoneRecord)
	var initRec *initRecord
	if ms, ok := m.store.(jobs.MetaStore); ok {
		h.meta = ms
		err := ms.LoadMeta(metaGroups, func(k string, v []byte) error {
			var r onDoneRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("group %q: %w", k, err)
			}
			h.recs[k] = &r
			return nil
		})
		if err == nil {
			err = ms.LoadMeta(metaNotify, func(k string, v []byte) error {
				if k == metaInit {
					initRec = new(initRecord)
					return json.Unmarshal(v, initRec)
				}
				if id, ok := strings.CutPrefix(k, "job/"); ok {
					var r onDoneRecord
					if err := json.Unmarshal(v, &r); err != nil {
						return fmt.Errorf("job %q: %w", id, err)
					}
					jobRecs[id] = &r
				}
				return nil
			})
		}
		if err != nil {
			return fmt.Errorf("on_done records: %w", err)
		}
	}

	var legacy []string
	var stale []string
	m.mu.Lock()
	if initRec != nil {
		for _, g := range initRec.Legacy {
			h.fired[g] = true
		}
	}
	for g := range m.groups {
		r := h.recs[g]
		switch {
		case h.fired[g]:
		case r != nil && r.State == onDoneDone:
			h.fired[g] = true
		case !h.final(g):
			// groupFinal fires it; a pending record keeps its progress.
		case initRec == nil:
			// Final before records were kept (or with a store that keeps
			// none): taken as done, without running on_done now.
			h.fired[g] = true
			legacy = append(legacy, g)
		default:
			h.fired[g] = true
			h.queue = append(h.queue, hookTask{event: EventGroupDone, group: g})
			if r == nil {
				h.recs[g] = &onDoneRecord{State: onDonePending, Since: time.Now()}
			}
		}
		if h.fired[g] {
			m.groupClosed(g, time.Now())
		}
	}
	// Records of groups whose jobs have all left the store (history).
	var gone []string
	for g := range h.recs {
		if len(m.groups[g]) == 0 {
			gone = append(gone, g)
			delete(h.recs, g)
		}
	}
	for id, r := range jobRecs {
		if j := m.job(id); j != nil && j.State == jobs.Failed && j.Attempt == r.Attempt {
			h.busy[id] = true
			h.queue = append(h.queue, hookTask{event: EventJobFailed, job: id, attempt: r.Attempt, rec: r})
		} else {
			stale = append(stale, id)
		}
	}
	queued := len(h.queue)
	m.hooks = h
	m.mu.Unlock()

	if h.meta != nil {
		if initRec == nil {
			slices.Sort(legacy)
			v, _ := json.Marshal(initRecord{Since: time.Now(), Legacy: legacy})
			if err := h.meta.SaveMeta(metaNotify, metaInit, v); err != nil {
				return fmt.Errorf("on_done records: %w", err)
			}
		}
		for _, id := range stale {
			if err := h.meta.SaveMeta(metaNotify, "job/"+id, nil); err != nil {
				return fmt.Errorf("on_done records: %w", err)
			}
		}
		for _, g := range gone {
			if err := h.meta.SaveMeta(metaGroups, g, nil); err != nil {
				return fmt.Errorf("on_done records: %w", err)
			}
		}
	}
	if queued > 0 || len(legacy) > 0 {
		log.WithFields(logrus.Fields{"resumed": queued, "legacy_groups": len(legacy)}).Info("on_done records loaded")
	}
	h.wg.Go(h.loop)
	h.signal()
	return nil
}

// stopHooks cancels the running tasks (a task that is cut short keeps its
// record pending, and runs again after a restart) and waits for them.
func (m *Master) stopHooks() {
	if h := m.hooks; h != nil {
		h.cancel()
		h.wg.Wait()
	}
}

// groupFinal is told when a job reaches a final state. The caller holds
// mu; it does not block: it queues the job's job_failed notice, and the
// group's on_done when this job was the group's last one to be final.
func (m *Master) groupFinal(j *jobs.Job) {
	h := m.hooks
	if h == nil {
		return
	}
	if j.State == jobs.Failed && h.failed {
		h.busy[j.ID] = true
		h.push(hookTask{event: EventJobFailed, job: j.ID, attempt: j.Attempt})
	}
	g := j.Spec.Group
	if g == "" || h.fired[g] || !h.final(g) {
		return
	}
	h.fired[g] = true
	m.groupClosed(g, j.Updated)
	if h.recs[g] == nil { // a pending record from a run before keeps its progress
		h.recs[g] = &onDoneRecord{State: onDonePending, Since: time.Now()}
	}
	h.push(hookTask{event: EventGroupDone, group: g, job: j.ID})
}

// onDoneStatus returns a copy of group g's on_done record, or nil when
// on_done has not fired. The caller holds mu.
func (m *Master) onDoneStatus(g string) *onDoneRecord {
	if m.hooks == nil || m.hooks.recs[g] == nil {
		return nil
	}
	return m.hooks.recs[g].clone()
}

// final reports whether every job of group g is final. The caller holds
// mu. The jobs before cursor[g] were final when last looked at; they are
// looked at again (Retry makes a final job pending) only when the cursor
// reaches the end, so a group of n jobs costs O(n) in all, not O(n²).
func (h *hooks) final(g string) bool {
	ids := h.m.groups[g]
	i := h.cursor[g]
	for i < len(ids) && h.m.job(ids[i]).State.Final() {
		i++
	}
	if i == len(ids) {
		i = slices.IndexFunc(ids, func(id string) bool { return !h.m.job(id).State.Final() })
	}
	if i >= 0 {
		h.cursor[g] = i
		return false
	}
	delete(h.cursor, g)
	return len(ids) > 0
}

func (h *hooks) push(t hookTask) {
	h.qmu.Lock()
	h.queue = append(h.queue, t)
	h.qmu.Unlock()
	h.signal()
}

func (h *hooks) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// loop starts a goroutine per queued task, at most maxHookTasks at once,
// until stopHooks.
func (h *hooks) loop() {
	for {
		select {
		case <-h.wake:
		case <-h.ctx.Done():
			return
		}
		for {
			h.qmu.Lock()
			if len(h.queue) == 0 {
				h.qmu.Unlock()
				break
			}
			t := h.queue[0]
			h.queue[0] = hookTask{}
			h.queue = h.queue[1:]
			h.qmu.Unlock()
			select {
			case h.sem <- struct{}{}:
			case <-h.ctx.Done():
				return
			}
			h.wg.Go(func() {
				defer func() { <-h.sem }()
				if t.event == EventJobFailed {
					h.runJobFailed(t)
				} else {
					h.runGroupDone(t)
				}
			})
		}
	}
}

// memberSnap is what on_done needs of one job of the group.
type memberSnap struct {
	id, output, data, err string
	seq                   uint64
	state                 jobs.State
	exitCode              int
}

// groupSnap is a group as on_done sees it.
type groupSnap struct {
	name    string
	final   bool
	state   jobs.State // succeeded when every job did, else failed
	counts  map[jobs.State]int
	members []memberSnap // by Seq
	then    *jobs.Spec   // of the first member that has one
	at      time.Time    // the latest change to a member
}

// snapshot copies group g. The caller holds mu.
func (h *hooks) snapshot(g string) *groupSnap {
	s := &groupSnap{name: g, final: true, state: jobs.Succeeded,
		counts: map[jobs.State]int{jobs.Succeeded: 0, jobs.Failed: 0, jobs.Cancelled: 0}}
	var thenSeq uint64
	for _, id := range h.m.groups[g] {
		j := h.m.job(id)
		ms := memberSnap{id: j.ID, seq: j.Seq, state: j.State}
		if a := j.Current(); a != nil {
			ms.output, ms.data, ms.err, ms.exitCode = a.Output, a.Data, a.Error, a.ExitCode
		}
		s.members = append(s.members, ms)
		s.counts[j.State]++
		if !j.State.Final() {
			s.final = false
		}
		if j.State != jobs.Succeeded {
			s.state = jobs.Failed
		}
		if j.Updated.After(s.at) {
			s.at = j.Updated
		}
		if t := j.Spec.Then; t != nil && (s.then == nil || j.Seq < thenSeq) {
			c := *t
			c.Args, c.Tags = maps.Clone(t.Args), slices.Clone(t.Tags)
			s.then, thenSeq = &c, j.Seq
		}
	}
	slices.SortFunc(s.members, func(a, b memberSnap) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return s
}

func (s *groupSnap) notice(then string) *notice {
	n := &notice{ID: EventGroupDone + "/" + url.PathEscape(s.name), Event: EventGroupDone, Group: s.name, State: s.state,
		Counts: s.counts, Jobs: len(s.members), Failed: []string{}, Then: then, At: s.at}
	for _, ms := range s.members {
		if ms.state != jobs.Succeeded && len(n.Failed) < maxUnsuccessful {
			n.Failed = append(n.Failed, ms.id)
		}
	}
	return n
}

// runGroupDone runs group t.group's on_done. It returns early, leaving the
// record pending, when the hooks stop.
func (h *hooks) runGroupDone(t hookTask) {
	m, g := h.m, t.group
	log := h.log.WithField("group", g)
	if t.job != "" && !h.durable(t.job) {
		return
	}
	m.mu.Lock()
	s := h.snapshot(g)
	if !s.final {
		// A member was retried since: on_done waits for the group's end.
		h.fired[g] = false
		m.mu.Unlock()
		return
	}
	rec := &onDoneRecord{State: onDonePending, Since: time.Now()}
	if r := h.recs[g]; r != nil {
		rec = r.clone()
	}
	m.mu.Unlock()
	rec.State, rec.Result = onDonePending, s.state
	save := func() bool { return h.save(metaGroups, g, rec, g) }

	acts := h.nf.actions(EventGroupDone)
	if s.then != nil || len(acts) > 0 {
		if !save() {
			return
		}
	}
	if s.then != nil && !rec.did("then") {
		id, err := h.submitThen(s)
		if h.ctx.Err() != nil {
			return
		}
		if err != nil {
			log.WithError(err).Error("group follow-up not submitted")
			rec.Errors = append(rec.Errors, "then: "+err.Error())
		} else {
			rec.Then = id
			log.WithField("job", id).Info("group follow-up submitted")
		}
		rec.Done = append(rec.Done, "then")
		if !save() {
			return
		}
	}
	if !h.deliverAll(acts, s.notice(rec.Then), rec, save, log) {
		return
	}
	rec.State, rec.Ended = onDoneDone, time.Now()
	if save() {
		log.WithFields(logrus.Fields{"state": s.state, "jobs": len(s.members), "errors": len(rec.Errors)}).Info("group on_done finished")
	}
}

// runJobFailed sends the job_failed notice of job t.job.
func (h *hooks) runJobFailed(t hookTask) {
	m := h.m
	key := "job/" + t.job
	log := h.log.WithFields(logrus.Fields{"job": t.job, "attempt": t.attempt})
	defer func() {
		m.mu.Lock()
		delete(h.busy, t.job)
		m.mu.Unlock()
	}()
	if !h.durable(t.job) {
		return
	}
	m.mu.Lock()
	j := m.job(t.job)
	if j == nil || j.State != jobs.Failed || j.Attempt != t.attempt {
		m.mu.Unlock() // retried since: the next failure notifies
		if t.rec != nil {
			h.save(metaNotify, key, nil, "")
		}
		return
	}
	n := &notice{ID: fmt.Sprintf("%s/%s/%d", EventJobFailed, j.ID, j.Attempt), Event: EventJobFailed,
		Group: j.Spec.Group, State: jobs.Failed, Counts: map[jobs.State]int{jobs.Failed: 1}, Jobs: 1,
		Failed: []string{j.ID}, At: j.Updated,
		Job: &noticeJob{ID: j.ID, Type: j.Spec.Type, Attempts: len(j.Attempts)}}
	if a := j.Current(); a != nil {
		n.Job.ExitCode, n.Job.Error = a.ExitCode, head(a.Error, maxNoticeError)
	}
	m.mu.Unlock()
	rec := t.rec
	if rec == nil {
		rec = &onDoneRecord{State: onDonePending, Since: time.Now(), Attempt: t.attempt}
	}
	save := func() bool { return h.save(metaNotify, key, rec, "") }
	if !save() || !h.deliverAll(h.nf.actions(EventJobFailed), n, rec, save, log) {
		return
	}
	h.save(metaNotify, key, nil, "")
}

// maxNoticeError bounds the error text in a job_failed notice.
const maxNoticeError = 2000

// deliverAll delivers n by every action that rec does not list as done,
// at once, adding each to rec (and saving it) as it completes. It reports
// whether all completed, false when the hooks stopped first.
func (h *hooks) deliverAll(acts []action, n *notice, rec *onDoneRecord, save func() bool, log logrus.FieldLogger) bool {
	var mu sync.Mutex // guards rec and ok
	var wg sync.WaitGroup
	ok := true
	for _, a := range acts {
		if rec.did(a.name) {
			continue
		}
		wg.Go(func() {
			err := h.nf.deliver(h.ctx, a, n)
			if h.ctx.Err() != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				log.WithError(err).Error("notification given up")
				rec.Errors = append(rec.Errors, err.Error())
			}
			rec.Done = append(rec.Done, a.name)
			ok = save() && ok
		})
	}
	wg.Wait()
	return ok && h.ctx.Err() == nil
}

// durable waits until job id's current state is committed: it queues a
// fresh snapshot of the job and waits for the commit that takes it (and
// every change queued before it). It reports false when the hooks stop
// first.
func (h *hooks) durable(id string) bool {
	b := jobs.Backoff{Base: 50 * time.Millisecond, Max: 5 * time.Second}
	for try := 1; ; try++ {
		h.m.mu.Lock()
		j := h.m.job(id)
		var bt *batch
		if j != nil {
			bt = h.m.commit.add(j)
		}
		h.m.mu.Unlock()
		if bt == nil {
			return true
		}
		select {
		case <-bt.done:
		case <-h.ctx.Done():
			return false
		}
		if bt.err == nil {
			return true
		}
		if !h.sleep(b.Delay(try)) {
			return false
		}
	}
}

// save writes rec (nil: deletes the record) and, for a group, publishes a
// copy for the API. A failed write is retried until it succeeds or the
// hooks stop; it reports false in the second case.
func (h *hooks) save(bucket, key string, rec *onDoneRecord, group string) bool {
	if h.meta != nil {
		var v []byte
		if rec != nil {
			v, _ = json.Marshal(rec)
		}
		b := jobs.Backoff{Base: 50 * time.Millisecond, Max: 5 * time.Second}
		for try := 1; ; try++ {
			err := h.meta.SaveMeta(bucket, key, v)
			if err == nil {
				break
			}
			if errors.Is(err, jobs.ErrClosed) {
				return false
			}
			h.log.WithError(err).WithField("record", bucket+"/"+key).Error("on_done record not saved; will retry")
			if !h.sleep(b.Delay(try)) {
				return false
			}
		}
	}
	if group != "" && rec != nil {
		c := rec.clone()
		h.m.mu.Lock()
		h.recs[group] = c
		h.m.mu.Unlock()
	}
	return true
}

// sleep waits d; it reports false when the hooks stop first.
func (h *hooks) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-h.ctx.Done():
		return false
	}
}

// ThenKey is the Key of group g's follow-up job.
func ThenKey(g string) string { return "then:" + g }

// submitThen submits s's follow-up job and returns its ID (the existing
// job's, when a run before submitted it). A spec the master refuses is
// an error at once; an unavailable store is retried until the hooks stop.
func (h *hooks) submitThen(s *groupSnap) (string, error) {
	m := h.m
	spec := *s.then
	spec.Key = ThenKey(s.name)
	if spec.Group == s.name {
		spec.Group = ""
	}
	budget := m.cfg.MaxArgsBytes
	for k, v := range spec.Args {
		budget -= len(k) + len(v)
	}
	in, err := thenInput(s, spec.Input, budget)
	if err != nil {
		return "", err
	}
	spec.Input = in
	b := jobs.Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}
	for try := 1; ; try++ {
		var r rpcapi.SubmitReply
		err := m.rpc().Submit(h.ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{spec}}, &r)
		if err == nil {
			return r.IDs[0], nil
		}
		if errors.Is(err, rpcapi.ErrBadRequest) {
			return "", err
		}
		h.log.WithError(err).WithField("group", s.name).Warn("group follow-up not submitted; will retry")
		if !h.sleep(b.Delay(try)) {
			return "", h.ctx.Err()
		}
	}
}

// ThenInput is the Input of a group's follow-up job, as JSON: the group's
// summary and one result per member, in submission order.
//
// The Input is bounded by the master's MaxArgsBytes less the follow-up's
// own args (the bound Submit applies to every job's args and input). When
// the results do not fit, every result's output, data and error are cut to
// one common length, the longest that fits (output keeps its tail, data
// and error their head), and the cut results say Truncated; when even
// empty results do not fit, the last results are left out and counted in
// Omitted. A follow-up that needs every byte reads the jobs from the API
// (drover jobs --group NAME --json).
type ThenInput struct {
	Group  string             `json:"group"`
	State  jobs.State         `json:"state"`
	Counts map[jobs.State]int `json:"counts"`
	// Jobs counts the group's jobs; Results has one per job unless Omitted.
	Jobs    int          `json:"jobs"`
	Results []ThenResult `json:"results"`
	Omitted int          `json:"omitted,omitempty"`
	// Input is the follow-up spec's own Input, if it had one.
	Input string `json:"input,omitempty"`
}

// ThenResult is one member's result: its final state and its latest
// attempt's exit code, output (tail), data and error.
type ThenResult struct {
	ID        string     `json:"id"`
	State     jobs.State `json:"state"`
	ExitCode  int        `json:"exit_code"`
	Output    string     `json:"output,omitempty"`
	Data      string     `json:"data,omitempty"`
	Error     string     `json:"error,omitempty"`
	Truncated bool       `json:"truncated,omitempty"`
}

// thenInput renders s as a ThenInput of at most budget bytes.
func thenInput(s *groupSnap, own string, budget int) (string, error) {
	in := ThenInput{Group: s.name, State: s.state, Counts: s.counts, Jobs: len(s.members), Input: own}
	longest := 0
	for _, ms := range s.members {
		longest = max(longest, len(ms.output), len(ms.data), len(ms.err))
	}
	enc := func(n, cut int) []byte {
		in.Results = make([]ThenResult, n)
		in.Omitted = len(s.members) - n
		for i, ms := range s.members[:n] {
			r := ThenResult{ID: ms.id, State: ms.state, ExitCode: ms.exitCode,
				Output: tail(ms.output, cut), Data: head(ms.data, cut), Error: head(ms.err, cut)}
			r.Truncated = len(r.Output) < len(ms.output) || len(r.Data) < len(ms.data) || len(r.Error) < len(ms.err)
			in.Results[i] = r
		}
		b, _ := json.Marshal(in)
		return b
	}
	all := len(s.members)
	if b := enc(all, longest); len(b) <= budget {
		return string(b), nil
	}
	// The largest x in [0, hi] for which fits(x), given fits(0).
	search := func(hi int, fits func(int) bool) int {
		lo := 0
		for lo < hi {
			mid := lo + (hi-lo+1)/2
			if fits(mid) {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		return lo
	}
	if len(enc(all, 0)) <= budget {
		cut := search(longest, func(c int) bool { return len(enc(all, c)) <= budget })
		return string(enc(all, cut)), nil
	}
	if b := enc(0, 0); len(b) > budget {
		return "", fmt.Errorf("the group's summary alone is %d bytes; the follow-up's input may have %d (max_args_bytes less its args)", len(b), budget)
	}
	n := search(all, func(n int) bool { return len(enc(n, 0)) <= budget })
	return string(enc(n, 0)), nil
}

// head returns the first bytes of s, at most n, cut at a rune boundary.
func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// tail returns the last bytes of s, at most n, cut at a rune boundary.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:]
}
