package master_test

import (
	"maps"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The role matrix's cells of the bulk actions, the schedule actions and
// undrain (TestHTTPRolesMatrix requests each row of docs/security.md's
// HTTP table with every role).
func init() {
	maps.Copy(httpCells, map[string]httpCell{
		"POST /api/v1/jobs/retry": func(f *roleFixture) (string, string, string, int, func() bool) {
			typ, id := f.cancelled()
			return "POST", "/api/v1/jobs/retry", `{"type": "` + typ + `"}`, 200, func() bool { return f.job(id).State == jobs.Pending }
		},
		"POST /api/v1/jobs/cancel": func(f *roleFixture) (string, string, string, int, func() bool) {
			typ := f.uniq("t")
			id := f.submit(jobs.Spec{Type: typ})
			return "POST", "/api/v1/jobs/cancel", `{"type": "` + typ + `", "state": "pending"}`, 200,
				func() bool { return f.job(id).State == jobs.Cancelled }
		},
		"POST /api/v1/jobs/purge": func(f *roleFixture) (string, string, string, int, func() bool) {
			typ, id := f.cancelled()
			return "POST", "/api/v1/jobs/purge", `{"type": "` + typ + `"}`, 200, func() bool { return f.job(id) == nil }
		},
		"POST /api/v1/workers/{id}/undrain": func(f *roleFixture) (string, string, string, int, func() bool) {
			id := f.register(f.uniq("t"))
			if st, _, body := httpDo(f.t, f.m, roleToken(rpcapi.RoleAdmin), "POST", "/api/v1/workers/"+id+"/drain", ""); st != 200 {
				f.t.Fatalf("drain: %d %s", st, body)
			}
			return "POST", "/api/v1/workers/" + id + "/undrain", "", 200,
				func() bool { return f.workerState(id) == rpcapi.WorkerAlive }
		},
		"POST /api/v1/schedules/{name}/pause": func(f *roleFixture) (string, string, string, int, func() bool) {
			name := f.newSchedule()
			return "POST", "/api/v1/schedules/" + name + "/pause", "", 200, func() bool { return f.paused(name) }
		},
		"POST /api/v1/schedules/{name}/resume": func(f *roleFixture) (string, string, string, int, func() bool) {
			name := f.newSchedule()
			f.call(rpcapi.MasterPause, &rpcapi.ScheduleArgs{Name: name}, new(rpcapi.ScheduleInfo))
			return "POST", "/api/v1/schedules/" + name + "/resume", "", 200, func() bool { return !f.paused(name) }
		},
		"POST /api/v1/schedules/{name}/run": func(f *roleFixture) (string, string, string, int, func() bool) {
			name := f.newSchedule()
			return "POST", "/api/v1/schedules/" + name + "/run", "", 200,
				func() bool { s := f.schedule(name); return s != nil && s.LastJob != "" }
		},
		"POST /api/v1/schedules/{name}/delete": func(f *roleFixture) (string, string, string, int, func() bool) {
			name := f.newSchedule()
			return "POST", "/api/v1/schedules/" + name + "/delete", "", 200, func() bool { return f.schedule(name) == nil }
		},
	})
}

// cancelled submits a job of a new type, cancels it and returns both.
func (f *roleFixture) cancelled() (typ, id string) {
	typ = f.uniq("t")
	id = f.submit(jobs.Spec{Type: typ})
	f.call(rpcapi.MasterCancel, &rpcapi.CancelArgs{IDs: []string{id}}, new(rpcapi.CancelReply))
	return typ, id
}

// newSchedule creates a schedule of a new name, hourly, and returns its
// name.
func (f *roleFixture) newSchedule() string {
	name := f.uniq("s")
	f.call(rpcapi.MasterSubmit, &rpcapi.SubmitArgs{Specs: []jobs.Spec{
		{Name: name, Schedule: "@every 1h", Type: "nobody-runs-this"}}}, new(rpcapi.SubmitReply))
	return name
}

// schedule returns the schedule name as list_schedules has it, or nil.
func (f *roleFixture) schedule(name string) *rpcapi.ScheduleInfo {
	var r rpcapi.ListSchedulesReply
	f.call(rpcapi.MasterSchedules, &rpcapi.Empty{}, &r)
	for _, s := range r.Schedules {
		if s.Name == name {
			return &s
		}
	}
	return nil
}
