package master

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // schedules name IANA zones; do not depend on the host's zoneinfo

	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// This file holds the cron scheduler: specs with a Schedule are kept as
// schedules, and each fire submits a job from the spec.
//
// Only robfig/cron's parser and its Schedule.Next are used; the scheduler
// computes the instants itself, in one goroutine with one timer, so that
// overlap, catch-up and restarts are ours to decide and a fake clock can
// drive it in tests. (cron.Cron's own goroutine, chain and logger are not
// used, so cron.WithChain and cron.WithLogger do not apply.)
//
// Durability. A schedule is one JSON record in the store's "schedules"
// bucket (schedRecord). A fire at instant T submits the job with Key
// "sched:NAME@T" (RFC 3339, UTC), and the record with LastFire = T goes
// into the same commit as the job (fireWrite): one store call
// (jobs.JointSaver), so one bbolt transaction, or one raft entry with
// standby masters. Either both are durable or neither is: a failed commit
// fires nothing, and the fire is logged as lost. When the submit makes no
// new job, the record is written alone: after it when the fire's key
// names a job already, and before retrying when the submit failed for
// another reason than the store (the fire is then owed). A record whose
// job does not exist (an owed fire, or a store that cannot write both in
// one call) is made good at the next start, which finds no job with that
// key and submits it, once, since the key makes the submit idempotent.
// So a restart never fires an instant twice and never forgets one that
// was fired.

// schedBucket is the MetaStore bucket of the schedules, keyed by name.
const schedBucket = "schedules"

// schedKeyPrefix starts the Key of every job a schedule submits.
const schedKeyPrefix = "sched:"

// fireKey is the Key of the job that schedule name submits for instant at.
func fireKey(name string, at time.Time) string {
	return schedKeyPrefix + name + "@" + at.UTC().Format(time.RFC3339)
}

// cronParser accepts five fields, an optional seconds field first, and
// descriptors (@daily, @every 5m).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour |
	cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseSchedule parses expr in time zone tz (UTC when empty). Its errors
// name the field at fault.
func parseSchedule(expr, tz string) (cron.Schedule, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, fmt.Errorf("schedule %q: set the time zone in the timezone field, not in the expression", expr)
	}
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("timezone %q: %v", tz, err)
		}
		loc = l
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v", expr, err)
	}
	if ss, ok := s.(*cron.SpecSchedule); ok {
		ss.Location = loc
	}
	return s, nil
}

// lastBy returns the latest instant of s after `after` and not after now,
// or the zero time when there is none.
func lastBy(s cron.Schedule, after, now time.Time) time.Time {
	first := s.Next(after)
	if first.IsZero() || first.After(now) {
		return time.Time{}
	}
	if d, ok := s.(cron.ConstantDelaySchedule); ok {
		// "@every" counts from the previous instant.
		return first.Add(now.Sub(first) / d.Delay * d.Delay)
	}
	// Calendar instants: find one near now over doubling windows rather
	// than walking every instant since first (a long downtime of a
	// schedule that fires every second).
	last := first
	for w := time.Second; ; w *= 2 {
		from := now.Add(-w)
		if !from.After(first) {
			break
		}
		if t := s.Next(from); !t.IsZero() && !t.After(now) {
			last = t
			break
		}
	}
	for {
		n := s.Next(last)
		if n.IsZero() || n.After(now) {
			return last
		}
		last = n
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// schedRecord is a schedule as stored.
type schedRecord struct {
	Spec   jobs.Spec `json:"spec"`
	Paused bool      `json:"paused,omitempty"`
	// Through is the latest instant dealt with: fired, skipped for overlap,
	// or passed over. Instants after it, up to now, were missed.
	Through time.Time `json:"through"`
	// LastFire is the instant of the latest fire, written before its job
	// is submitted; the job's key is fireKey(name, LastFire).
	LastFire time.Time `json:"last_fire,omitzero"`
	// Queued is a fire waiting for the last run to end (overlap "queue").
	Queued time.Time `json:"queued,omitzero"`
}

// schedEntry is a schedule in memory. Only the scheduler's loop uses it.
type schedEntry struct {
	schedRecord
	name    string
	cron    cron.Schedule
	next    time.Time // the next instant to fire; zero while paused
	lastJob string    // the job of LastFire, once submitted
	owed    bool      // LastFire's job is not submitted yet
	retry   time.Time // when to submit the owed job again
	backoff time.Duration
}

func (e *schedEntry) overlap() string { return cmp.Or(e.Spec.Overlap, jobs.OverlapSkip) }

func (e *schedEntry) setNext() {
	e.next = time.Time{}
	if !e.Paused {
		e.next = e.cron.Next(e.Through)
	}
}

// schedCore is what the scheduler needs of the core: the job a fire
// submitted, found by its key; whether a job is still pending or running;
// and the submission of a fire's job. Each method takes the core's lock
// itself: the scheduler never holds it. The core implements it (core.go).
type schedCore interface {
	jobOfKey(key string) (id string, found bool)
	jobLive(id string) bool
	// submitFire submits the job of a fire; fw, when not nil, carries the
	// schedule's record into the job's commit and brings back whether
	// it was written.
	submitFire(name string, spec jobs.Spec, at time.Time, fw *fireWrite) (string, error)
	forgetFires(name string) // the schedule was deleted: forget how its fires ended
	schedulesChanged()       // a schedule was made, changed, paused, resumed, run or deleted
}

// scheduler fires the master's schedules. One goroutine (run) owns the
// entries; the API reaches them through do. Create it with newScheduler;
// Master.startScheduler starts it and Master.stopScheduler stops it.
type scheduler struct {
	clock clock
	core  schedCore
	meta  jobs.MetaStore
	// joint says meta is the master's store, whose commits can carry a
	// fire's record with its job; false when the schedules are kept in
	// memory only.
	joint bool
	log   logrus.FieldLogger

	entries map[string]*schedEntry // owned by run

	reqc chan func()
	wake chan struct{} // a run may have ended: look at queued fires
	// up is when the master started (Master.Start, before the store
	// loads): instants up to it were missed while the master was down;
	// those after it are due, however long the load took. Zero: start's
	// own time.
	up     time.Time
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newScheduler(c clock) *scheduler {
	s := &scheduler{clock: c, entries: make(map[string]*schedEntry), reqc: make(chan func()),
		wake: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

func (s *scheduler) now() time.Time { return s.clock.Now().UTC() }

// start loads the stored schedules, decides what each missed while the
// master was down, and starts the loop. It runs before the initial jobs
// are submitted; the schedules among them then reach the running loop.
func (s *scheduler) start(core schedCore, store jobs.Store, log logrus.FieldLogger) error {
	s.core, s.log = core, log.WithField("part", "scheduler")
	meta, ok := store.(jobs.MetaStore)
	if !ok {
		s.log.Warn("the store keeps no records beside jobs: schedules are kept in memory only")
		meta = jobs.NewMemStore()
	}
	s.meta, s.joint = meta, ok
	downUntil := s.now()
	if !s.up.IsZero() && s.up.Before(downUntil) {
		downUntil = s.up
	}
	err := meta.LoadMeta(schedBucket, func(name string, val []byte) error {
		e := &schedEntry{name: name}
		if err := json.Unmarshal(val, &e.schedRecord); err != nil {
			return fmt.Errorf("schedule %q: %w", name, err)
		}
		c, err := parseSchedule(e.Spec.Schedule, e.Spec.Timezone)
		if err != nil {
			return fmt.Errorf("schedule %q: %w", name, err)
		}
		e.cron = c
		if !e.LastFire.IsZero() {
			id, found := s.core.jobOfKey(fireKey(name, e.LastFire))
			e.lastJob, e.owed = id, !found
			if e.owed {
				s.log.WithFields(logrus.Fields{"schedule": name, "instant": e.LastFire}).
					Warn("the last fire's job was not submitted before the master stopped; submitting it")
			}
		}
		if l := lastBy(c, e.Through, downUntil); !l.IsZero() && !e.Paused {
			log := s.log.WithFields(logrus.Fields{"schedule": name, "since": e.Through, "latest": l})
			if e.Spec.CatchUp == jobs.CatchUpOne {
				log.Info("instants missed while down: firing once (catch_up one)")
			} else {
				log.Info("instants missed while down: skipped (catch_up none)")
				e.Through = l
			}
		}
		e.setNext()
		s.entries[name] = e
		return nil
	})
	if err != nil {
		return err
	}
	s.wg.Go(s.run)
	return nil
}

// stop stops the loop and waits for it. It is safe to call more than once.
func (s *scheduler) stop() {
	s.cancel()
	s.wg.Wait()
}

// do runs fn on the loop and waits for it.
func (s *scheduler) do(fn func()) error {
	done := make(chan struct{})
	select {
	case s.reqc <- func() { defer close(done); fn() }:
	case <-s.ctx.Done():
		return fmt.Errorf("%w: master shutting down", rpcapi.ErrUnavailable)
	}
	<-done
	return nil
}

// poke makes the loop look at queued fires. It does not block.
func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *scheduler) run() {
	for {
		s.fireDue(s.now())
		var at time.Time
		for _, e := range s.entries {
			for _, t := range []time.Time{e.next, e.retry} {
				if !t.IsZero() && (at.IsZero() || t.Before(at)) {
					at = t
				}
			}
		}
		var tc <-chan time.Time
		stop := func() bool { return false }
		if !at.IsZero() {
			tc, stop = s.clock.At(at)
		}
		select {
		case <-s.ctx.Done():
			stop()
			return
		case fn := <-s.reqc:
			fn()
		case <-s.wake:
		case <-tc:
		}
		stop()
	}
}

// fireDue does everything due at now: owed submits, queued fires whose
// last run ended, and instants that came. Missed instants of one schedule
// are coalesced into one fire, at the latest of them.
func (s *scheduler) fireDue(now time.Time) {
	for _, name := range slices.Sorted(maps.Keys(s.entries)) {
		e := s.entries[name]
		if e.owed && !now.Before(e.retry) {
			s.submit(e)
		}
		if !e.Queued.IsZero() && !s.live(e) {
			// Paused or not: pausing drops a fire its timetable queued,
			// so one queued while paused was asked for by run, which
			// fires whether or not the schedule is paused.
			s.fire(e, e.Queued)
		}
		if e.Paused {
			continue
		}
		if e.next.IsZero() || e.next.After(now) {
			continue
		}
		t := lastBy(e.cron, e.Through, now)
		e.Through = t
		e.setNext()
		if s.live(e) {
			switch e.overlap() {
			case jobs.OverlapSkip:
				s.log.WithFields(logrus.Fields{"schedule": name, "instant": t, "job": e.lastJob}).
					Debug("fire skipped: the last run is still pending or running")
				s.saveLogged(e)
				continue
			case jobs.OverlapQueue:
				if e.Queued.IsZero() {
					e.Queued = t
				}
				s.saveLogged(e)
				continue
			}
		}
		s.fire(e, t)
	}
}

// live reports whether e's last run is pending or running (or owed).
func (s *scheduler) live(e *schedEntry) bool {
	if e.owed {
		return true
	}
	return e.lastJob != "" && s.core.jobLive(e.lastJob)
}

// fire records instant t as e's last fire and submits its job, the
// record in the job's commit. If that commit fails, neither is durable
// and the fire is lost (logged; the instant is not fired again, unless
// a restart's catch_up fires it). If the submit makes no new job, the record
// is written alone: the job of the fire's key exists already, or the
// submit failed for another reason, and then the fire is owed and
// retried with backoff, as submit does.
func (s *scheduler) fire(e *schedEntry, t time.Time) {
	prev := *e
	e.LastFire, e.lastJob, e.owed = t, "", true
	e.retry, e.backoff = time.Time{}, 0
	if !e.Queued.IsZero() && !e.Queued.After(t) {
		e.Queued = time.Time{}
	}
	log := s.log.WithFields(logrus.Fields{"schedule": e.name, "instant": t})
	lost := func(err error) {
		// Not durable, so not fired: a restart could not know of it.
		e.LastFire, e.lastJob, e.owed, e.Queued = prev.LastFire, prev.lastJob, prev.owed, prev.Queued
		log.WithError(err).Error("fire lost: store failing")
	}
	if !s.joint {
		if err := s.save(e); err != nil {
			lost(err)
			return
		}
		s.submit(e)
		return
	}
	val, err := json.Marshal(&e.schedRecord)
	if err != nil {
		lost(err)
		return
	}
	fw := &fireWrite{metas: []jobs.MetaRecord{{Bucket: schedBucket, Key: e.name, Val: val}}}
	id, err := s.core.submitFire(e.name, e.Spec, t, fw)
	switch {
	case fw.storeErr != nil:
		lost(fw.storeErr)
		return
	case err != nil:
		// No job: the record alone makes the fire owed, submitted again
		// after a backoff (fireDue) or by the next start.
		if serr := s.save(e); serr != nil {
			lost(serr)
			return
		}
		s.failed(e, err)
		return
	}
	e.owed, e.lastJob = false, id
	if !fw.written {
		s.saveLogged(e) // the job was there already (or its commit could not carry the record)
	}
	log.WithField("job", id).Info("schedule fired")
}

// submit submits the job of e's last fire, retrying with backoff on error.
func (s *scheduler) submit(e *schedEntry) {
	id, err := s.core.submitFire(e.name, e.Spec, e.LastFire, nil)
	if err != nil {
		s.failed(e, err)
		return
	}
	e.owed, e.lastJob, e.retry, e.backoff = false, id, time.Time{}, 0
	s.log.WithFields(logrus.Fields{"schedule": e.name, "instant": e.LastFire, "job": id}).Info("schedule fired")
}

// failed notes that the submit of e's owed fire failed with err: it is
// retried after a backoff.
func (s *scheduler) failed(e *schedEntry, err error) {
	e.backoff = min(max(2*e.backoff, time.Second), time.Minute)
	e.retry = s.now().Add(e.backoff)
	s.log.WithError(err).WithFields(logrus.Fields{"schedule": e.name, "instant": e.LastFire, "retry_in": e.backoff}).
		Warn("fire not submitted")
}

// jobSpec is the job a schedule's spec submits: the spec without its
// schedule fields and key.
func jobSpec(s jobs.Spec) jobs.Spec {
	s.Name, s.Schedule, s.Overlap, s.Timezone, s.CatchUp, s.Key = "", "", "", "", "", ""
	s.Args = maps.Clone(s.Args)
	s.Tags = slices.Clone(s.Tags)
	return s
}

func (s *scheduler) save(e *schedEntry) error {
	b, err := json.Marshal(&e.schedRecord)
	if err != nil {
		return err
	}
	return s.meta.SaveMeta(schedBucket, e.name, b)
}

func (s *scheduler) saveLogged(e *schedEntry) {
	if err := s.save(e); err != nil {
		s.log.WithError(err).WithField("schedule", e.name).Error("schedule not saved")
	}
}
