package master

// What an operator does to a schedule beyond pause and resume: run it
// now, and delete it; and the JSON API's endpoints of all four
// (POST /api/v1/schedules/{name}/pause|resume|run|delete).

import (
	"cmp"
	"fmt"
	"net/http"
	"strings"
	"time"

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
					e.Queued = now
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
