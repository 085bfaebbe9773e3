package master

// What is done to the schedules from outside the scheduler's loop: the
// conf's specs written in (upsert), pause and resume, run now and delete;
// and the JSON API's endpoints of the last four
// (POST /api/v1/schedules/{name}/pause|resume|run|delete).

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// runResult is what a run now did: fired a job, or queued the fire
// behind the last run (overlap "queue").
type runResult struct {
	Schedule rpcapi.ScheduleInfo `json:"schedule"`
	// Job is the fired job's ID; empty when the fire was queued.
	Job    string `json:"job,omitempty"`
	Queued bool   `json:"queued,omitempty"`
}

// runNow fires schedule name once, now, as its timetable would: its
// overlap applies when its last run is still pending or running (skip:
// ErrConflict, nothing fired; queue: the fire waits for that run to end;
// allow: it fires). Its timetable is not changed, and a paused schedule
// stays paused.
func (s *scheduler) runNow(name string) (runResult, error) {
	var res runResult
	err := s.onEntry(name, func(e *schedEntry) error {
		now := s.now().Truncate(time.Second) // a fire's key is to the second
		if s.live(e) {
			switch e.overlap() {
			case jobs.OverlapSkip:
				return fmt.Errorf("%w: schedule %q: its last run (job %s) is still pending or running and its overlap is skip; not fired",
					ErrConflict, name, cmp.Or(e.lastJob, "being submitted"))
			case jobs.OverlapQueue:
				if e.Queued.IsZero() {
					// A second after the last fire at least: a fire's key
					// is to the second, and one at the last fire's second
					// would be taken for that fire.
					e.Queued = later(now, e.LastFire.Add(time.Second))
				}
				if err := s.save(e); err != nil {
					return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
				}
				res.Queued = true
			}
		}
		if !res.Queued {
			if !now.After(e.LastFire) {
				return fmt.Errorf("%w: schedule %q fired at %s already; try again in a second", ErrConflict, name, e.LastFire.Format(time.RFC3339))
			}
			s.fire(e, now)
			if !e.LastFire.Equal(now) {
				return fmt.Errorf("%w: schedule %q: the store failed; not fired", rpcapi.ErrUnavailable, name)
			}
			if e.owed {
				return fmt.Errorf("%w: schedule %q: the fire's job was not submitted yet; it is retried", rpcapi.ErrUnavailable, name)
			}
			res.Job = e.lastJob
		}
		s.log.WithFields(logrus.Fields{"schedule": name, "job": res.Job, "queued": res.Queued}).Info("schedule run by request")
		s.core.schedulesChanged()
		res.Schedule = e.info()
		return nil
	})
	return res, err
}

// remove deletes schedule name from the store: it fires no more. The
// jobs it fired stay. A schedule from the jobs file is refused
// (ErrConflict): the next start would create it again.
func (s *scheduler) remove(name string) error {
	err := s.onEntry(name, func(e *schedEntry) error {
		if strings.HasPrefix(e.Spec.Key, jobsFileKeyPrefix) {
			return fmt.Errorf("%w: schedule %q comes from the jobs file, and the next start would create it again: remove it there, or pause it",
				ErrConflict, name)
		}
		if err := s.meta.SaveMeta(schedBucket, name, nil); err != nil {
			return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
		}
		delete(s.entries, name)
		s.log.WithField("schedule", name).Info("schedule deleted by request")
		return nil
	})
	if err == nil {
		s.core.forgetFires(name)
		s.core.schedulesChanged()
	}
	return err
}

// scheduleOp is one of the schedule endpoints: pause, resume, run or
// delete the schedule named in the path.
func (a httpAPI) scheduleOp(op string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, err := queryParams(r); err != nil {
			return err
		}
		name := r.PathValue("name")
		var info rpcapi.ScheduleInfo
		var err error
		switch op {
		case "pause":
			err = a.ops.PauseSchedule(r.Context(), &rpcapi.ScheduleArgs{Name: name}, &info)
		case "resume":
			err = a.ops.ResumeSchedule(r.Context(), &rpcapi.ScheduleArgs{Name: name}, &info)
		case "run":
			res, err := a.oper.runSchedule(name)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, res)
		case "delete":
			if err := a.oper.removeSchedule(name); err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, struct {
				Deleted string `json:"deleted"`
			}{name})
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, info)
	}
}

// info is e as clients see it.
func (e *schedEntry) info() rpcapi.ScheduleInfo {
	return rpcapi.ScheduleInfo{Name: e.name, Schedule: e.Spec.Schedule, Timezone: cmp.Or(e.Spec.Timezone, "UTC"),
		Overlap: e.overlap(), CatchUp: cmp.Or(e.Spec.CatchUp, jobs.CatchUpNone), Paused: e.Paused,
		Next: e.next, LastFire: e.LastFire, LastJob: e.lastJob, Spec: jobSpec(e.Spec)}
}

// sameSpec reports whether two schedule specs are identical as stored,
// but for their Key, which a schedule does not use (its fires have keys
// of their own).
func sameSpec(a, b jobs.Spec) bool {
	a.Key, b.Key = "", ""
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// upsert creates or replaces schedules on the loop. An unchanged timetable
// (expression and time zone) keeps its last fire; a changed one starts
// now.
func (s *scheduler) upsert(specs []jobs.Spec, parsed []cron.Schedule, existing []bool) error {
	for i, sp := range specs {
		old := s.entries[sp.Name]
		if old != nil && sameSpec(old.Spec, sp) {
			existing[i] = true
			continue
		}
		e := &schedEntry{name: sp.Name, schedRecord: schedRecord{Through: s.now()}}
		if old != nil {
			*e = *old
			if old.Spec.Schedule != sp.Schedule || old.Spec.Timezone != sp.Timezone {
				e.Through = later(e.Through, s.now())
			}
		}
		e.Spec, e.cron = sp, parsed[i]
		if e.overlap() != jobs.OverlapQueue {
			e.Queued = time.Time{}
		}
		if err := s.save(e); err != nil {
			return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
		}
		e.setNext()
		s.entries[sp.Name] = e
		what := "schedule created"
		if old != nil {
			what = "schedule updated"
		}
		s.log.WithFields(logrus.Fields{"schedule": sp.Name, "cron": sp.Schedule, "next": e.next}).Info(what)
		s.core.schedulesChanged()
	}
	return nil
}

// setPaused pauses or resumes a schedule on the loop. A resumed schedule
// does not fire the instants that passed while it was paused.
func (s *scheduler) setPaused(name string, paused bool, r *rpcapi.ScheduleInfo) error {
	return s.onEntry(name, func(old *schedEntry) error {
		if old.Paused != paused {
			e := *old
			e.Paused = paused
			if paused {
				e.Queued = time.Time{}
			} else {
				e.Through = later(e.Through, s.now())
			}
			if err := s.save(&e); err != nil {
				return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
			}
			e.setNext()
			s.entries[name] = &e
			s.log.WithFields(logrus.Fields{"schedule": name, "paused": paused}).Info("schedule paused or resumed")
			s.core.schedulesChanged()
		}
		*r = s.entries[name].info()
		return nil
	})
}

// errNoSchedule is the error for an action on schedule name, which does
// not exist. The JSON API's message leaves out the sentinel's words, so
// the rest says it too.
func errNoSchedule(name string) error {
	return fmt.Errorf("%w: no schedule %q", rpcapi.ErrNotFound, name)
}

// onEntry runs fn on the loop with schedule name's entry and returns its
// error: ErrNotFound, without running fn, when there is no such
// schedule; ErrUnavailable when the master shuts down first.
func (s *scheduler) onEntry(name string, fn func(e *schedEntry) error) error {
	var err error
	derr := s.do(func() {
		e := s.entries[name]
		if e == nil {
			err = errNoSchedule(name)
			return
		}
		err = fn(e)
	})
	return cmp.Or(derr, err)
}
