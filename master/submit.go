package master

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// MaxSubmit is the default bound on the specs in one Submit call.
const MaxSubmit = 100000

var _ rpcapi.MasterAPI = (*wire)(nil)

// Submit implements rpcapi.MasterAPI. The new jobs are durable when it
// returns; a spec whose Key is already known returns the existing job's ID.
// One invalid spec fails the whole batch and nothing is created.
func (api *wire) Submit(ctx context.Context, a *rpcapi.SubmitArgs, r *rpcapi.SubmitReply) error {
	c := api.core
	if err := c.checkSubmit(a.Specs); err != nil {
		return err
	}
	if err := authorizeSchedules(ctx, a.Specs); err != nil {
		return err
	}
	r.IDs = make([]string, len(a.Specs))
	r.Existing = make([]bool, len(a.Specs))
	r.ThenIDs = []rpcapi.FollowUp{}
	by, err := submitterOf(ctx)
	if err != nil {
		return err
	}
	nsched, err := api.submitSchedules(a.Specs, r)
	if err != nil {
		return err
	}
	b := &submitBatch{specs: a.Specs, reply: r, now: c.now(), by: by, fire: fireWriteOf(ctx)}
	b.build(len(a.Specs) - nsched)

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("%w: master shutting down", rpcapi.ErrUnavailable)
	}
	if err := c.reserveBatch(b, reservedSeq(ctx)); err != nil {
		c.keys.release(b.reserved, b.uniq)
		c.releaseThens(b)
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	if len(b.fresh) == 0 {
		return nil
	}
	return c.commitBatch(b)
}

// checkSubmit validates a batch of specs, their number and the size of
// their arguments, and returns an ErrBadRequest for the first that fails.
func (c *core) checkSubmit(specs []jobs.Spec) error {
	if len(specs) == 0 {
		return fmt.Errorf("%w: submit of no jobs", rpcapi.ErrBadRequest)
	}
	if len(specs) > c.cfg.MaxSubmit {
		c.metrics.oversized.WithLabelValues("max_submit").Inc()
		return fmt.Errorf("%w: %d jobs in one submit; at most %d (max_submit)", rpcapi.ErrBadRequest, len(specs), c.cfg.MaxSubmit)
	}
	total := 0
	for i := range specs {
		if err := specs[i].Validate(); err != nil {
			return fmt.Errorf("%w: job %d: %v", rpcapi.ErrBadRequest, i+1, err)
		}
		if total += submitBytes(&specs[i]); total > c.cfg.MaxSubmitBytes {
			c.metrics.oversized.WithLabelValues("max_submit_bytes").Inc()
			return fmt.Errorf("%w: the submit holds more than %d bytes by its job %d of %d (max_submit_bytes; a job counts its text plus %d bytes)",
				rpcapi.ErrBadRequest, c.cfg.MaxSubmitBytes, i+1, len(specs), jobKeepBytes)
		}
		n := len(specs[i].Input) + argsBytes(specs[i].Args)
		if t := specs[i].Then; t != nil {
			if tn := argsBytes(t.Args); tn > c.cfg.MaxArgsBytes {
				c.metrics.oversized.WithLabelValues("max_args_bytes").Inc()
				return fmt.Errorf("%w: job %d: then: args of %d bytes; at most %d (max_args_bytes)", rpcapi.ErrBadRequest, i+1, tn, c.cfg.MaxArgsBytes)
			}
		}
		if n > c.cfg.MaxArgsBytes {
			c.metrics.oversized.WithLabelValues("max_args_bytes").Inc()
			return fmt.Errorf("%w: job %d: args of %d bytes; at most %d (max_args_bytes)", rpcapi.ErrBadRequest, i+1, n, c.cfg.MaxArgsBytes)
		}
	}
	return nil
}

// jobKeepBytes is what max_submit_bytes counts for each job beyond its
// text: about what the master keeps of a job (jobs.Job and its indexes).
const jobKeepBytes = 512

// submitBytes is what max_submit_bytes counts of s: its text, its then
// job's, and jobKeepBytes.
func submitBytes(s *jobs.Spec) int {
	n := jobKeepBytes + len(s.Type) + len(s.Group) + len(s.Key) + len(s.LimitKey) + len(s.UniqueKey) +
		len(s.Input) + len(s.Name) + len(s.Schedule) + len(s.Overlap) + len(s.Timezone) + len(s.CatchUp) + argsBytes(s.Args)
	for _, t := range s.Tags {
		n += len(t)
	}
	if s.Then != nil {
		n += submitBytes(s.Then)
	}
	return n
}

// argsBytes returns the bytes of the keys and values of args.
func argsBytes(args map[string]string) int {
	n := 0
	for k, v := range args {
		n += len(k) + len(v)
	}
	return n
}

// submitSchedules hands the specs with a schedule to the scheduler, fills
// their answers in r ("schedule:NAME") and returns how many there were.
// Specs with a schedule are schedules, not jobs: the scheduler keeps them.
func (api *wire) submitSchedules(specs []jobs.Spec, r *rpcapi.SubmitReply) (int, error) {
	var scheds []int
	for i := range specs {
		if specs[i].Schedule != "" {
			scheds = append(scheds, i)
		}
	}
	if len(scheds) == 0 {
		return 0, nil
	}
	ss := make([]jobs.Spec, len(scheds))
	for k, i := range scheds {
		ss[k] = specs[i]
	}
	if api.sched == nil {
		return 0, fmt.Errorf("%w: the scheduler is not running", rpcapi.ErrUnavailable)
	}
	existing, err := api.sched.upsertSpecs(ss)
	if err != nil {
		return 0, err
	}
	for k, i := range scheds {
		r.IDs[i], r.Existing[i] = "schedule:"+specs[i].Name, existing[k]
	}
	return len(scheds), nil
}

// submitBatch carries the jobs of one Submit from their building, outside
// the lock, through the reservation of their IDs and keys to their commit.
type submitBatch struct {
	specs []jobs.Spec
	reply *rpcapi.SubmitReply
	now   time.Time
	by    string // the jobs' Submitter

	slab     []jobs.Job  // one job per spec without a schedule, in spec order
	fresh    []*jobs.Job // the jobs to commit, broadcast copies included
	reserved []string    // Keys reserved by this batch
	uniq     []string    // unique keys taken by this batch
	fire     *fireWrite  // a schedule's fire: its record is committed with the job (cron.go)
}

// build makes the batch's n jobs and their first events before the lock
// is taken, in one allocation: only their Seq, their ID and the keys they
// take need the lock.
func (b *submitBatch) build(n int) {
	now := b.now
	b.slab = make([]jobs.Job, 0, n)
	evs := make([]jobs.Event, cap(b.slab))
	for i := range b.specs {
		s := &b.specs[i]
		if s.Schedule != "" {
			continue
		}
		k := len(b.slab)
		b.slab = b.slab[:k+1]
		j := &b.slab[k]
		j.Spec, j.State, j.Submitted, j.Updated, j.Submitter = *s, jobs.Pending, now, now, b.by
		j.Spec.Args = cloneArgs(s.Args)
		j.Spec.Tags = slices.Clone(s.Tags)
		j.Events = evs[k : k : k+1]
		j.Note(now, "submitted")
		if nb := now.Add(s.Delay); s.Delay > 0 || s.RunAt.After(now) {
			if s.RunAt.After(nb) {
				nb = s.RunAt
			}
			j.NotBefore = nb
			j.Log(now, "held until %s", nb.Format(time.RFC3339))
		}
	}
}

// reserveBatch gives each new job of b its Seq and ID, reserves its Key
// and unique key, and answers with the existing job for a spec whose key
// is taken. A group's follow-up job, the first new job of b, is made with
// reserved, the Seq kept for it (0: none). It returns an ErrBadRequest for a broadcast
// nobody can run; the caller then releases b.reserved, b.uniq and the
// reserved follow-up IDs. The caller holds mu.
func (c *core) reserveBatch(b *submitBatch, reserved uint64) error {
	r := b.reply
	k := -1
	for i, s := range b.specs {
		if s.Schedule != "" {
			continue
		}
		k++
		// A follow-up made with its reserved ID is that ID's job or none:
		// a job that holds its key (then:GROUP) is the follow-up of a group
		// of that name that was purged, and it gives the key up.
		if s.Key != "" && reserved == 0 {
			if id, ok := c.keys.byKey[s.Key]; ok {
				r.IDs[i], r.Existing[i] = id, true
				continue
			}
		}
		if id := c.uniqueHolder(s.UniqueKey, b.now); id != "" {
			r.IDs[i], r.Existing[i] = id, true
			continue
		}
		j := &b.slab[k]
		if reserved != 0 {
			if old := c.byseq.get(reserved); old != nil {
				r.IDs[i], r.Existing[i] = old.ID, true
				continue
			}
			j.Seq, reserved = reserved, 0
			c.thenUnreserved(&j.Spec)
		} else {
			j.ThenID = c.reserveThen(b, &j.Spec)
			c.seq++
			j.Seq = c.seq
		}
		j.ID = strconv.FormatUint(j.Seq, 10)
		if s.Key != "" {
			c.keys.byKey[s.Key] = j.ID // reserved until committed
			b.reserved = append(b.reserved, s.Key)
		}
		if s.UniqueKey != "" {
			b.uniq = append(b.uniq, s.UniqueKey)
			c.keys.pending[s.UniqueKey] = j.ID // reserved until committed
		}
		r.IDs[i] = j.ID
		b.fresh = append(b.fresh, j)
		if s.Broadcast {
			targets := c.broadcastTargets(&j.Spec)
			if len(targets) == 0 {
				return fmt.Errorf("%w: job %d: broadcast: no live worker has type %q with tags %v",
					rpcapi.ErrBadRequest, i+1, s.Type, s.Tags)
			}
			b.fresh = append(b.fresh, c.expandBroadcast(j, targets, b.now)...)
		}
	}
	return nil
}

// commitBatch writes the reserved jobs of b to the store (with the
// record of b's fire, if it is one), waits until they are durable, then
// releases the unique keys and adds the jobs to the tables and queues; a
// failed write releases the Keys too.
func (c *core) commitBatch(b *submitBatch) error {
	cb := c.commit.addFresh(jobs.Records(b.fresh...), b.fire.records())
	err := cb.wait()
	b.fire.settle(err, cb.metaErr)
	c.mu.Lock()
	c.keys.settle(b.uniq)
	if err != nil {
		c.keys.release(b.reserved, nil)
		c.releaseThens(b)
		c.mu.Unlock()
		return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	c.admitSubmitted(b.fresh)
	c.dispatch()
	c.mu.Unlock()
	c.log.WithField("jobs", len(b.fresh)).Debug("jobs submitted")
	return nil
}

// admitSubmitted adds committed new jobs to the tables, queues the pending
// ones and notes the change. The caller holds mu.
func (c *core) admitSubmitted(fresh []*jobs.Job) {
	for _, j := range fresh {
		c.insert(j)
		if j.State == jobs.Pending {
			c.enqueue(j)
		}
	}
	for _, j := range fresh[max(0, len(fresh)-recentChanges):] {
		c.live.note(j, j.State)
	}
	c.bump()
	c.metrics.submitted.Add(float64(len(fresh)))
}

// uniqueHolder returns the job that holds unique key u now: one in
// flight in a submit, pending or running, or succeeded less than its
// unique_for ago. The caller holds mu.
func (c *core) uniqueHolder(u string, now time.Time) string {
	if u == "" {
		return ""
	}
	if id, ok := c.keys.pending[u]; ok {
		return id
	}
	j := c.job(c.keys.unique[u])
	switch {
	case j == nil:
		return ""
	case !j.State.Final():
		return j.ID
	case j.State == jobs.Succeeded && now.Before(j.Updated.Add(j.Spec.UniqueFor)):
		return j.ID
	}
	return ""
}

// keyIndex finds jobs by their Key and their unique_key. A submit reserves
// the keys of its new jobs until they are committed. Guarded by Master.mu.
type keyIndex struct {
	// byKey holds the Key of every job in memory, of jobs on disk loaded
	// from a jobs file or fired last by a schedule, and of jobs in a
	// submit (reserved until committed, or released).
	byKey   map[string]string
	unique  map[string]string // unique_key → the latest job with it
	pending map[string]string // unique keys of jobs in a submit that is not committed yet
}

func newKeyIndex() keyIndex {
	return keyIndex{
		byKey:   make(map[string]string),
		unique:  make(map[string]string),
		pending: make(map[string]string),
	}
}

// release drops the reservations of keys and of unique keys uniq (the
// submit failed).
func (ki *keyIndex) release(keys, uniq []string) {
	for _, k := range keys {
		delete(ki.byKey, k)
	}
	ki.settle(uniq)
}

// settle drops the reservations of unique keys uniq: their jobs are
// committed (and then hold them in unique), or failed.
func (ki *keyIndex) settle(uniq []string) {
	for _, u := range uniq {
		delete(ki.pending, u)
	}
}

// forget drops the keys that the final job j holds as it leaves memory,
// but a jobs file's Key, which stays known while the master runs.
func (ki *keyIndex) forget(j *jobs.Job) {
	if k := j.Spec.Key; k != "" && !strings.HasPrefix(k, jobsFileKeyPrefix) && ki.byKey[k] == j.ID {
		delete(ki.byKey, k)
	}
	if u := j.Spec.UniqueKey; u != "" && ki.unique[u] == j.ID {
		delete(ki.unique, u)
	}
}

func cloneArgs(a map[string]string) map[string]string {
	if len(a) == 0 {
		return nil
	}
	c := make(map[string]string, len(a))
	for k, v := range a {
		c[k] = v
	}
	return c
}
