package master

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

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
// "Once" is per group: jobs submitted later with the same group, or
// members retried and finished again, are counted in the group but do not
// fire its on_done again. A group whose every job was deleted (purge,
// history) is gone, its record with it (dropGoneRecords, dropGoneGroups):
// jobs submitted later with its name are a new group, with an on_done of
// its own (a follow-up made with the ID its submit reserved, which takes
// the key from the old follow-up; a delivery ID of its own). A group is final when every job that
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

// view returns r as a group's view shows it; nil for nil.
func (r *onDoneRecord) view() *rpcapi.GroupOnDone {
	if r == nil {
		return nil
	}
	return &rpcapi.GroupOnDone{State: r.State, Since: r.Since, Ended: r.Ended, Result: r.Result, Then: r.Then,
		Done: slices.Clone(r.Done), Errors: slices.Clone(r.Errors)}
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
	core   hookCore
	nf     *notifier
	failed bool           // a notifier takes job_failed
	meta   jobs.MetaStore // nil: the store keeps no records
	log    logrus.FieldLogger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}

	// Guarded by Master.mu:
	fired   map[string]bool          // groups whose on_done is queued, running or done
	cursor  map[string]int           // groups not fired yet: members before the cursor were final
	recs    map[string]*onDoneRecord // each group's latest record, for the API
	busy    map[string]bool          // jobs whose job_failed notice is queued or running (they stay in memory)
	thenOf  map[string]string        // groups with a job that has a Then, until on_done made the follow-up → its reserved ID ("" for none)
	thenRes map[string]string        // IDs reserved for follow-ups not made → their group (groupthen.go)
	gone    map[string]bool          // groups a purge emptied whose record is being deleted from the store (dropGoneRecords)

	qmu   sync.Mutex // guards queue
	queue []hookTask
	wake  chan struct{} // one token: the queue has tasks
}

// hookCore is what the group callbacks and notices need of the core. lock
// and unlock take and release the core's lock, which also guards the
// hooks' own maps (fired, cursor, recs, busy); the methods marked
// "locked" need it held, the others must be called without it. The core
// implements it (core.go).
type hookCore interface {
	lock()
	unlock()
	job(id string) *jobs.Job                   // locked: the job in memory, or nil
	groupJobs(g string) []string               // locked: the IDs of group g's jobs in memory, in submission order
	groupNames() iter.Seq[string]              // locked: the groups with jobs in memory
	leftOnDone(g string) (*onDoneRecord, bool) // locked: the on_done record of group g kept when it left memory
	groupClosed(g string, at time.Time)        // locked: group g's on_done is done; it may leave memory after retain
	wakeWaiters()                              // locked: a group's on_done record changed: Wait looks again
	persist(id string) *batch                  // locked: write job id's current state (nil: not in memory)
	now() time.Time
	maxArgsBytes() int
	submit(ctx context.Context, spec jobs.Spec) (string, error)
	made(id string) bool // job id is in memory or in the store
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
	c := m.core
	if err := m.cfg.Notify.Validate(); err != nil {
		return err
	}
	log := m.log.WithField("part", "on_done")
	h := newHooks(m.core, log)
	jobRecs, initRec, err := h.loadRecords(c.store)
	if err != nil {
		return fmt.Errorf("on_done records: %w", err)
	}

	c.mu.Lock()
	legacy := h.resumeGroups(initRec)
	h.loadThens()
	gone := h.dropGoneGroups()
	stale := h.resumeJobFailures(jobRecs)
	queued := len(h.queue)
	c.hooks = h
	c.mu.Unlock()

	if err := h.saveStart(initRec == nil, legacy, stale, gone); err != nil {
		return fmt.Errorf("on_done records: %w", err)
	}
	if queued > 0 || len(legacy) > 0 {
		log.WithFields(logrus.Fields{"resumed": queued, "legacy_groups": len(legacy)}).Info("on_done records loaded")
	}
	h.wg.Go(h.loop)
	h.signal()
	return nil
}

// newHooks makes the on_done runner of m, with its notifier, not started.
func newHooks(c *core, log logrus.FieldLogger) *hooks {
	h := &hooks{core: c, nf: newNotifier(c.cfg.Notify, log, c.clock), log: log,
		sem: make(chan struct{}, maxHookTasks), wake: make(chan struct{}, 1),
		fired: make(map[string]bool), cursor: make(map[string]int), recs: make(map[string]*onDoneRecord),
		busy: make(map[string]bool), thenOf: make(map[string]string), thenRes: make(map[string]string), gone: make(map[string]bool)}
	h.nf.leads = c.cfg.leads
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.failed = h.nf.wantsAny(EventJobFailed)
	return h
}

// loadRecords reads the on_done records of groups into h.recs, and returns
// the job_failed records by job ID and the init record (nil if the store
// has none). A store that keeps no meta has no records: h.meta stays nil.
func (h *hooks) loadRecords(store jobs.Store) (map[string]*onDoneRecord, *initRecord, error) {
	jobRecs := make(map[string]*onDoneRecord)
	var initRec *initRecord
	ms, ok := store.(jobs.MetaStore)
	if !ok {
		return jobRecs, nil, nil
	}
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
	return jobRecs, initRec, err
}

// resumeGroups marks the groups whose on_done has fired and queues those
// that are final but not yet done. It returns the groups taken as done
// because they were final before records were kept. The caller holds mu.
func (h *hooks) resumeGroups(initRec *initRecord) (legacy []string) {
	c := h.core
	if initRec != nil {
		for _, g := range initRec.Legacy {
			h.fired[g] = true
		}
	}
	for g := range c.groupNames() {
		if !h.fired[g] {
			// Jobs added after the group left memory, its on_done run
			// (groupBack).
			if rec, ok := c.leftOnDone(g); ok {
				h.fired[g] = true
				if h.recs[g] == nil {
					h.recs[g] = rec
				}
			}
		}
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
				h.recs[g] = &onDoneRecord{State: onDonePending, Since: c.now()}
			}
		}
		if h.fired[g] {
			c.groupClosed(g, c.now())
		}
	}
	return legacy
}

// dropGoneGroups forgets the records of groups whose jobs have all left
// the store (history) and returns those groups. The caller holds mu.
func (h *hooks) dropGoneGroups() (gone []string) {
	for g := range h.recs {
		if len(h.core.groupJobs(g)) == 0 {
			gone = append(gone, g)
			delete(h.recs, g)
		}
	}
	return gone
}

// resumeJobFailures queues the job_failed notices of jobs still failed in
// the recorded attempt, and returns the IDs of the other, stale, records.
// The caller holds mu.
func (h *hooks) resumeJobFailures(jobRecs map[string]*onDoneRecord) (stale []string) {
	for id, r := range jobRecs {
		if j := h.core.job(id); j != nil && j.State == jobs.Failed && j.Attempt == r.Attempt {
			h.busy[id] = true
			h.queue = append(h.queue, hookTask{event: EventJobFailed, job: id, attempt: r.Attempt, rec: r})
		} else {
			stale = append(stale, id)
		}
	}
	return stale
}

// saveStart writes the init record on a first start (firstStart) with
// the legacy groups, and deletes the stale job records and the records
// of gone groups. It does nothing for a store that keeps no meta.
func (h *hooks) saveStart(firstStart bool, legacy, stale, gone []string) error {
	if h.meta == nil {
		return nil
	}
	if firstStart {
		slices.Sort(legacy)
		v, _ := json.Marshal(initRecord{Since: h.core.now(), Legacy: legacy})
		if err := h.meta.SaveMeta(metaNotify, metaInit, v); err != nil {
			return err
		}
	}
	for _, id := range stale {
		if err := h.meta.SaveMeta(metaNotify, "job/"+id, nil); err != nil {
			return err
		}
	}
	for _, g := range gone {
		if err := h.meta.SaveMeta(metaGroups, g, nil); err != nil {
			return err
		}
	}
	return nil
}

// stopHooks cancels the running tasks (a task that is cut short keeps its
// record pending, and runs again after a restart) and waits for them.
func (m *Master) stopHooks() {
	if h := m.core.hooks; h != nil {
		h.cancel()
		h.wg.Wait()
	}
}

// forget drops what the hooks keep of group g, whose last job left memory
// (purged, or retired with its on_done done). The caller holds mu.
func (h *hooks) forget(g string) {
	delete(h.fired, g)
	delete(h.cursor, g)
	delete(h.recs, g)
	delete(h.thenOf, g)
}

// groupFinal is told when a job reaches a final state. The caller holds
// mu; it does not block: it queues the job's job_failed notice, and the
// group's on_done when this job was the group's last one to be final.
func (c *core) groupFinal(j *jobs.Job) {
	h := c.hooks
	if h == nil {
		return
	}
	if j.State == jobs.Failed && h.failed {
		h.busy[j.ID] = true
		h.push(hookTask{event: EventJobFailed, job: j.ID, attempt: j.Attempt, rec: c.failedIntent(j)})
	}
	g := j.Spec.Group
	if g == "" || h.fired[g] || !h.final(g) {
		return
	}
	h.fired[g] = true
	c.ret.groupClosed(g, j.Updated)
	if h.recs[g] == nil { // a pending record from a run before keeps its progress
		h.recs[g] = &onDoneRecord{State: onDonePending, Since: c.now()}
	}
	h.push(hookTask{event: EventGroupDone, group: g, job: j.ID})
}

// failedIntent makes the pending record of j's job_failed notice and
// queues it to be written before j's failed state (committer.addIntent:
// touch adds j's record after), so that a master that stops before the
// notice is sent finds the record at its next start and sends it.
// Without a store that keeps records it returns nil. The caller holds mu.
func (c *core) failedIntent(j *jobs.Job) *onDoneRecord {
	if c.hooks.meta == nil {
		return nil
	}
	rec := &onDoneRecord{State: onDonePending, Since: c.now(), Attempt: j.Attempt}
	v, err := json.Marshal(rec)
	if err != nil {
		return nil
	}
	c.commit.addIntent(jobs.MetaRecord{Bucket: metaNotify, Key: "job/" + j.ID, Val: v})
	return rec
}

// onDoneStatus returns a copy of group g's on_done record, or nil when
// on_done has not fired. The caller holds mu.
func (c *core) onDoneStatus(g string) *onDoneRecord {
	if c.hooks == nil || c.hooks.recs[g] == nil {
		return nil
	}
	return c.hooks.recs[g].clone()
}

// final reports whether every job of group g is final. The caller holds
// mu. The jobs before cursor[g] were final when last looked at; they are
// looked at again (Retry makes a final job pending) only when the cursor
// reaches the end, so a group of n jobs costs O(n) in all, not O(n²).
func (h *hooks) final(g string) bool {
	ids := h.core.groupJobs(g)
	i := h.cursor[g]
	for i < len(ids) && h.core.job(ids[i]).State.Final() {
		i++
	}
	if i == len(ids) {
		i = slices.IndexFunc(ids, func(id string) bool { return !h.core.job(id).State.Final() })
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
