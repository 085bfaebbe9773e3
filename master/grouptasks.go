package master

// The tasks of the group callbacks (groups.go): a group's snapshot for its
// on_done, the run of on_done and of job_failed, their delivery and
// records, and a group's follow-up job (then) with its input.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/sirupsen/logrus"
)

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
	thenBy  string       // that member's Submitter, the follow-up job's
	thenID  string       // the ID that member reserved for the follow-up ("" for none)
	at      time.Time    // the latest change to a member
}

// snapshot copies group g. The caller holds mu.
func (h *hooks) snapshot(g string) *groupSnap {
	s := &groupSnap{name: g, final: true, state: jobs.Succeeded,
		counts: map[jobs.State]int{jobs.Succeeded: 0, jobs.Failed: 0, jobs.Cancelled: 0}}
	var thenSeq uint64
	for _, id := range h.core.groupJobs(g) {
		j := h.core.job(id)
		ms := memberSnap{id: j.ID, seq: j.Seq, state: j.State}
		if a := j.Current(); a != nil {
			ms.output, ms.data, ms.exitCode = a.Output, a.Data, a.ExitCode
		}
		ms.err = rpcapi.JobError(j)
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
			s.then, s.thenBy, s.thenID, thenSeq = &c, j.Submitter, j.ThenID, j.Seq
		}
	}
	slices.SortFunc(s.members, func(a, b memberSnap) int { return cmp.Compare(a.seq, b.seq) })
	return s
}

func (s *groupSnap) notice(then string) *notice {
	n := &notice{ID: s.deliveryID(), Event: EventGroupDone, Group: s.name, State: s.state,
		Counts: s.counts, Jobs: len(s.members), Failed: []string{}, Then: then, At: s.at}
	for _, ms := range s.members {
		if ms.state != jobs.Succeeded && len(n.Failed) < rpcapi.MaxUnsuccessful {
			n.Failed = append(n.Failed, ms.id)
		}
	}
	return n
}

// deliveryID names group_done's delivery: "group_done/NAME/ID", NAME
// path-escaped and ID its first job's. A group whose jobs were all purged
// is gone; jobs submitted later with its name are a new group, with
// another first job.
func (s *groupSnap) deliveryID() string {
	id := ""
	if len(s.members) > 0 {
		id = s.members[0].id
	}
	return EventGroupDone + "/" + url.PathEscape(s.name) + "/" + id
}

// runGroupDone runs group t.group's on_done. It returns early, leaving the
// record pending, when the hooks stop.
func (h *hooks) runGroupDone(t hookTask) {
	c, g := h.core, t.group
	log := h.log.WithField("group", g)
	if t.job != "" && !h.durable(t.job) {
		return
	}
	c.lock()
	for h.gone[g] {
		// A purge emptied the group before these jobs came: its old
		// record is being deleted, and this one must come after.
		c.unlock()
		if !h.sleep(5 * time.Millisecond) {
			return
		}
		c.lock()
	}
	s := h.snapshot(g)
	if !s.final {
		// A member was retried since: on_done waits for the group's end.
		h.fired[g] = false
		c.unlock()
		return
	}
	rec := &onDoneRecord{State: onDonePending, Since: c.now()}
	if r := h.recs[g]; r != nil {
		rec = r.clone()
	}
	c.unlock()
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
		c.lock()
		h.thenDone(g, rec.Then)
		c.unlock()
		if !save() {
			return
		}
	}
	if !h.deliverAll(acts, s.notice(rec.Then), rec, save, log) {
		return
	}
	rec.State, rec.Ended = onDoneDone, c.now()
	if save() {
		log.WithFields(logrus.Fields{"state": s.state, "jobs": len(s.members), "errors": len(rec.Errors)}).Info("group on_done finished")
	}
}

// runJobFailed sends the job_failed notice of job t.job.
func (h *hooks) runJobFailed(t hookTask) {
	c := h.core
	key := "job/" + t.job
	log := h.log.WithFields(logrus.Fields{"job": t.job, "attempt": t.attempt})
	defer func() {
		c.lock()
		delete(h.busy, t.job)
		c.unlock()
	}()
	if !h.durable(t.job) {
		return
	}
	c.lock()
	j := c.job(t.job)
	if j == nil || j.State != jobs.Failed || j.Attempt != t.attempt {
		// Retried since: the next failure notifies, under its own record
		// (the same key), which a later failure has written already.
		newer := j != nil && j.State == jobs.Failed && j.Attempt > t.attempt
		c.unlock()
		if t.rec != nil && !newer {
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
	c.unlock()
	rec := t.rec
	if rec == nil {
		rec = &onDoneRecord{State: onDonePending, Since: c.now(), Attempt: t.attempt}
	}
	save := func() bool { return h.save(metaNotify, key, rec, "") }
	// A record the task came with is on disk already: written before the
	// job's failed state (core.failedIntent), which is durable by now, or
	// read from the store at start.
	if (t.rec == nil && !save()) || !h.deliverAll(h.nf.actions(EventJobFailed), n, rec, save, log) {
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
	// The actions left are picked before any starts: a delivery appends
	// to rec.Done while the others start.
	acts = slices.DeleteFunc(slices.Clone(acts), func(a action) bool { return rec.did(a.name) })
	var mu sync.Mutex // guards rec and ok
	var wg sync.WaitGroup
	ok := true
	for _, a := range acts {
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
		h.core.lock()
		bt := h.core.persist(id)
		h.core.unlock()
		if bt == nil {
			return true
		}
		bt.hurry() // a group's on_done waits for it: no linger
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
		h.core.lock()
		h.recs[group] = c
		h.core.wakeWaiters()
		h.core.unlock()
	}
	return true
}

// sleep waits d; it reports false when the hooks stop first. Its callers
// wait for a failing store to recover, which happens in real time: it
// waits on the time package, not the master's clock.
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
	spec := *s.then
	spec.Key = ThenKey(s.name)
	if spec.Group == s.name {
		spec.Group = ""
	}
	budget := h.core.maxArgsBytes()
	for k, v := range spec.Args {
		budget -= len(k) + len(v)
	}
	in, err := thenInput(s, spec.Input, budget)
	if err != nil {
		return "", err
	}
	spec.Input = in
	if s.thenID != "" && h.core.made(s.thenID) {
		return s.thenID, nil // made by a run before; its record is never replaced
	}
	b := jobs.Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}
	for try := 1; ; try++ {
		id, err := h.core.submit(withThenID(withSubmitter(h.ctx, s.thenBy), s.thenID), spec)
		if err == nil {
			return id, nil
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
