package master

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// This file holds the JSON views of the HTTP API (/api/v1/) and the
// read-only queries behind them. The queries read the master's state under
// mu and copy what they return, so nothing handed to a handler is shared.

// apiJob is a job in a listing. Its fields are those of `drover jobs --json`,
// plus the attempt number, the retry time of a pending job and the latest
// attempt's error.
type apiJob struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	State     jobs.State        `json:"state"`
	Attempts  int               `json:"attempts"`
	Attempt   int               `json:"attempt"`
	Worker    string            `json:"worker"`
	Args      map[string]string `json:"args"`
	Group     string            `json:"group"`
	Priority  int               `json:"priority"`
	Retries   int               `json:"retries"`
	Submitted time.Time         `json:"submitted"`
	Updated   time.Time         `json:"updated"`
	NotBefore time.Time         `json:"not_before,omitzero"`
	Error     string            `json:"error,omitempty"`
}

// maxListError bounds the error text in a listing; the detail has it all.
const maxListError = 200

func viewJob(j *jobs.Job) apiJob {
	v := apiJob{ID: j.ID, Type: j.Spec.Type, State: j.State, Attempts: len(j.Attempts), Attempt: j.Attempt,
		Worker: j.Worker, Args: maps.Clone(j.Spec.Args), Group: j.Spec.Group, Priority: j.Spec.Priority,
		Retries: j.Spec.Retries, Submitted: j.Submitted, Updated: j.Updated, NotBefore: j.NotBefore}
	if v.Args == nil {
		v.Args = map[string]string{}
	}
	if n := len(j.Attempts); n > 0 {
		v.Error = j.Attempts[n-1].Error
		if len(v.Error) > maxListError {
			v.Error = v.Error[:maxListError] + "…"
		}
	}
	return v
}

// apiJobDetail is one job with its spec, every attempt and its timeline.
type apiJobDetail struct {
	apiJob
	Timeout string `json:"timeout,omitempty"`
	Key     string `json:"key,omitempty"`
	// Waiting explains why a pending job has not run yet.
	Waiting string `json:"waiting,omitempty"`
	// OutputTail is the output of the latest attempt that has one.
	OutputTail string         `json:"output_tail"`
	History    []jobs.Attempt `json:"history"`
	Timeline   []jobs.Event   `json:"timeline"`
}

func viewJobDetail(info *rpcapi.JobInfo) apiJobDetail {
	j := &info.Job
	d := apiJobDetail{apiJob: viewJob(j), Key: j.Spec.Key, Waiting: info.Waiting,
		History: j.Attempts, Timeline: j.Events}
	if j.Spec.Timeout > 0 {
		d.Timeout = j.Spec.Timeout.String()
	}
	for i := len(j.Attempts) - 1; i >= 0; i-- {
		if j.Attempts[i].Output != "" {
			d.OutputTail = j.Attempts[i].Output
			break
		}
	}
	if d.History == nil {
		d.History = []jobs.Attempt{}
	}
	if d.Timeline == nil {
		d.Timeline = []jobs.Event{}
	}
	return d
}

// jobQuery selects a page of jobs. Empty fields match everything.
type jobQuery struct {
	State  jobs.State
	Type   string
	Group  string
	Worker string // any attempt ran (or runs) on this worker ID
	Text   string // lower case; a substring of some "key=value" of the args
	Asc    bool   // oldest first; default newest first
	After  uint64 // the cursor: continue past this Seq
	Limit  int
}

func (q *jobQuery) match(j *jobs.Job) bool {
	switch {
	case q.State != "" && j.State != q.State,
		q.Type != "" && j.Spec.Type != q.Type,
		q.Group != "" && j.Spec.Group != q.Group:
		return false
	}
	if q.Worker != "" && j.Worker != q.Worker &&
		!slices.ContainsFunc(j.Attempts, func(a jobs.Attempt) bool { return a.Worker == q.Worker }) {
		return false
	}
	if q.Text != "" {
		for k, v := range j.Spec.Args {
			if strings.Contains(strings.ToLower(k+"="+v), q.Text) {
				return true
			}
		}
		return false
	}
	return true
}

// queryJobs returns one page of the jobs q selects, in Seq order (newest
// first unless q.Asc), and the cursor of the next page ("" on the last).
func (m *Master) queryJobs(q jobQuery) ([]apiJob, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []apiJob{}
	var last uint64
	take := func(j *jobs.Job) bool {
		if !q.match(j) {
			return true
		}
		if len(out) == q.Limit {
			return false // one more exists: there is a next page
		}
		out = append(out, viewJob(j))
		last = j.Seq
		return true
	}
	more := false
	visit := func(j *jobs.Job) bool {
		more = !take(j)
		return !more
	}
	if q.Asc {
		m.byseq.ascend(q.After, visit)
	} else {
		m.byseq.descend(q.After, visit)
	}
	if !more {
		return out, ""
	}
	return out, encodeCursor(last)
}

// A cursor is opaque to clients: "j" and a Seq, in unpadded URL-safe
// base64.
func encodeCursor(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("j" + strconv.FormatUint(seq, 10)))
}

func decodeCursor(s string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil && len(b) > 1 && b[0] == 'j' {
		if seq, err := strconv.ParseUint(string(b[1:]), 10, 64); err == nil && seq > 0 {
			return seq, nil
		}
	}
	return 0, fmt.Errorf("%w: bad cursor %q: pass the next_cursor of a previous page", rpcapi.ErrBadRequest, s)
}

// apiWorker is a worker as the API shows it: WorkerInfo with each held job's
// type and state.
type apiWorker struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Addr    string   `json:"addr"`
	State   string   `json:"state"`
	Slots   int      `json:"slots"`
	Running int      `json:"running"`
	Types   []string `json:"types"`
	// Tags is always empty: workers have no tags yet.
	Tags          []string       `json:"tags"`
	Registered    time.Time      `json:"registered"`
	LastHeartbeat time.Time      `json:"last_heartbeat"`
	Died          time.Time      `json:"died,omitzero"`
	Jobs          []apiWorkerJob `json:"jobs"`
}

// apiWorkerJob is one attempt a worker holds.
type apiWorkerJob struct {
	ID      string     `json:"id"`
	Attempt int        `json:"attempt"`
	Type    string     `json:"type"`
	State   jobs.State `json:"state"`
}

// workerViews lists the workers, live first. The caller holds mu.
func (m *Master) workerViews() []apiWorker {
	infos := m.workerInfos()
	out := make([]apiWorker, 0, len(infos))
	for _, wi := range infos {
		v := apiWorker{ID: wi.ID, Name: wi.Name, Addr: wi.Addr, State: wi.State, Slots: wi.Slots,
			Running: wi.Running, Types: wi.Types, Tags: []string{}, Registered: wi.Registered,
			LastHeartbeat: wi.LastHeartbeat, Died: wi.Died, Jobs: make([]apiWorkerJob, 0, len(wi.Jobs))}
		if v.Types == nil {
			v.Types = []string{}
		}
		for _, ref := range wi.Jobs {
			wj := apiWorkerJob{ID: ref.JobID, Attempt: ref.Attempt}
			if j := m.job(ref.JobID); j != nil {
				wj.Type, wj.State = j.Spec.Type, j.State
			}
			v.Jobs = append(v.Jobs, wj)
		}
		out = append(out, v)
	}
	return out
}

// listWorkers returns the workers in state (all when empty), live first.
func (m *Master) listWorkers(state string) []apiWorker {
	m.mu.Lock()
	all := m.workerViews()
	m.mu.Unlock()
	if state == "" {
		return all
	}
	return slices.DeleteFunc(all, func(w apiWorker) bool { return w.State != state })
}

// getWorker returns one worker.
func (m *Master) getWorker(id string) (apiWorker, error) {
	for _, w := range m.listWorkers("") {
		if w.ID == id {
			return w, nil
		}
	}
	return apiWorker{}, fmt.Errorf("%w: %q", rpcapi.ErrUnknownWorker, id)
}

// apiGroup is a group's progress, computed from its jobs.
type apiGroup struct {
	Name   string             `json:"name"`
	Total  int                `json:"total"`
	Counts map[jobs.State]int `json:"counts"`
	// Done counts the final jobs; the group is Final when all are.
	Done  int  `json:"done"`
	Final bool `json:"final"`
	// Progress is Done / Total, from 0 to 1.
	Progress  float64   `json:"progress"`
	Submitted time.Time `json:"submitted"` // the first job's
	Updated   time.Time `json:"updated"`   // the latest change to any job
	// Unsuccessful lists the IDs of failed and cancelled jobs (detail only,
	// at most maxUnsuccessful).
	Unsuccessful []string `json:"unsuccessful,omitzero"`
	// OnDone is the progress of the group's on_done (follow-up job and
	// notifiers) once it has fired (detail only).
	OnDone *onDoneRecord `json:"on_done,omitempty"`
}

const maxUnsuccessful = 100

// groupView computes one group. The caller holds mu.
func (m *Master) groupView(name string, ids []string, detail bool) apiGroup {
	g := apiGroup{Name: name, Counts: make(map[jobs.State]int, len(jobs.States))}
	for _, s := range jobs.States {
		g.Counts[s] = 0
	}
	if detail {
		g.Unsuccessful = []string{}
	}
	for _, id := range ids {
		j := m.job(id)
		if j == nil {
			continue
		}
		g.Total++
		g.Counts[j.State]++
		if j.State.Final() {
			g.Done++
			if detail && j.State != jobs.Succeeded && len(g.Unsuccessful) < maxUnsuccessful {
				g.Unsuccessful = append(g.Unsuccessful, j.ID)
			}
		}
		if g.Submitted.IsZero() || j.Submitted.Before(g.Submitted) {
			g.Submitted = j.Submitted
		}
		if j.Updated.After(g.Updated) {
			g.Updated = j.Updated
		}
	}
	g.Final = g.Total > 0 && g.Done == g.Total
	if g.Total > 0 {
		g.Progress = float64(g.Done) / float64(g.Total)
	}
	return g
}

// listGroups returns every group, the most recently submitted first.
func (m *Master) listGroups() []apiGroup {
	m.mu.Lock()
	out := make([]apiGroup, 0, len(m.groups))
	for name, ids := range m.groups {
		out = append(out, m.groupView(name, ids, false))
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b apiGroup) int {
		if c := b.Submitted.Compare(a.Submitted); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// getGroup returns one group with its unsuccessful jobs.
func (m *Master) getGroup(name string) (apiGroup, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids, ok := m.groups[name]
	if !ok || len(ids) == 0 {
		return apiGroup{}, fmt.Errorf("%w: group %q has no jobs", rpcapi.ErrNotFound, name)
	}
	g := m.groupView(name, ids, true)
	g.OnDone = m.onDoneStatus(name)
	return g, nil
}
