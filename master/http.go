package master

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/sirupsen/logrus"
)

// APIPrefix is where the JSON API lives on the master's listener.
const APIPrefix = "/api/v1/"

// Paging of every listing (GET /api/v1/jobs, /workers, /groups, and
// list_jobs and list_workers over RPC): the page size when none is given,
// and the largest.
const (
	DefaultPageSize = rpcapi.DefaultPageSize
	MaxPageSize     = rpcapi.MaxPageSize
)

//go:embed web
var webFiles embed.FS

// httpAPI is the JSON API's endpoints of jobs, workers, groups,
// schedules and queues, the attempt-log proxy, whoami and the event
// stream, with the API's mux and its token checks (routes.go, auth.go).
// It reads the master only through view, and changes it only through
// ops, the wire service's contract (each endpoint makes the call a client
// would make over RPC), and oper, the operator's calls. The dashboard is
// static files that call it. Create it with newHTTPAPI.
type httpAPI struct {
	view    readView
	ops     rpcapi.MasterAPI
	oper    adminOps
	auth    *rpcapi.Auth       // the tokens every request is checked against
	maxBody int64              // max_request_body
	log     logrus.FieldLogger // the event stream's and the log follow's errors
	stopped <-chan struct{}    // closed when the master stops: event streams and log follows end
	cluster ClusterControl     // Config.Cluster
	// members counts the calls that add or remove a member while they
	// run: Close lets them answer first, since removing the leader ends
	// its leadership, and with it this master, before the reply is out.
	members *sync.WaitGroup
}

// readView is the core as the HTTP side reads it: pages and views of
// jobs, workers, groups and queues, the live view, and where an attempt's
// log is. Its methods change nothing and take the core's lock
// themselves. The core implements it (core.go).
type readView interface {
	liveView(since time.Time, full bool) (ev liveSnap, live bool)
	// Changed is closed at the next change of the live view.
	Changed() <-chan struct{}
	// awaitReady blocks until the whole store is loaded (ready.go).
	awaitReady(ctx context.Context) error
	now() time.Time
	queryJobs(q jobQuery) ([]rpcapi.JobView, string, error)
	listWorkers(q workerQuery) ([]rpcapi.WorkerInfo, string, error)
	getWorker(id string) (rpcapi.WorkerInfo, error)
	listGroups(q groupQuery) ([]rpcapi.GroupInfo, string, error)
	getGroup(name string) (rpcapi.GroupInfo, error)
	queuesView(q queueQuery) (rows []rpcapi.QueueView, more int)
	// attemptSource returns the source of a stream of the log of attempt
	// n of job id, which ran on worker wid (api_logs.go).
	attemptSource(wid, id string, n int, stream string) (*logSource, error)
}

// adminOps is what an admin does beyond the wire service's calls. The
// operator implements it (ops.go).
type adminOps interface {
	Retry(ctx context.Context, id string) error
	Drain(ctx context.Context, workerID string) error
	Undrain(ctx context.Context, workerID string) error
	retryJobs(ctx context.Context, q jobQuery, dry bool) (int, error)
	cancelJobs(ctx context.Context, q jobQuery, dry bool) (n, skipped int, err error)
	purgeJobs(ctx context.Context, q jobQuery, dry bool) (int, error)
	runSchedule(name string) (runResult, error)
	removeSchedule(name string) error
}

var _ adminOps = (*operator)(nil)

// newHTTPAPI returns the HTTP side of a master: view is its core, ops its
// wire service and oper its operator; cfg gives max_request_body; stopped
// is closed when the master stops.
func newHTTPAPI(view readView, ops rpcapi.MasterAPI, oper adminOps, auth *rpcapi.Auth, cfg *Config,
	log logrus.FieldLogger, stopped <-chan struct{}) httpAPI {
	return httpAPI{view: view, ops: ops, oper: oper, auth: auth, maxBody: cfg.MaxRequestBody, log: log, stopped: stopped,
		cluster: cfg.Cluster, members: new(sync.WaitGroup)}
}

func (a httpAPI) apiStatus(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	ev, _ := a.view.liveView(time.Time{}, false)
	return writeJSON(w, http.StatusOK, ev.Status)
}

// jobPage is the reply of GET /api/v1/jobs.
type jobPage struct {
	Jobs []rpcapi.JobView `json:"jobs"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

func (a httpAPI) apiListJobs(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, append(filterParams, "order", "cursor", "limit")...)
	if err != nil {
		return err
	}
	f := filterOf(p)
	q, err := f.query(time.Now())
	if err != nil {
		return err
	}
	if q.Limit, q.Asc, q.Cursor, err = paging(p); err != nil {
		return err
	}
	page := jobPage{}
	if page.Jobs, page.NextCursor, err = a.view.queryJobs(q); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (a httpAPI) jobDetail(r *http.Request, id string) (rpcapi.JobDetail, error) {
	var info rpcapi.JobInfo
	if err := a.ops.GetJob(r.Context(), &rpcapi.GetJobArgs{ID: id}, &info); err != nil {
		return rpcapi.JobDetail{}, err
	}
	return info.View(), nil
}

func (a httpAPI) apiGetJob(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	d, err := a.jobDetail(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// apiSpec is a job spec as the API takes it: the timeout as a Go duration
// ("1m30s") and arg values as strings, numbers or booleans.
type apiSpec struct {
	Type     string         `json:"type"`
	Args     map[string]any `json:"args"`
	Priority int            `json:"priority"`
	Retries  int            `json:"retries"`
	Timeout  string         `json:"timeout"`
	Group    string         `json:"group"`
	Key      string         `json:"key"`
	Then     *apiSpec       `json:"then"`
}

func (s *apiSpec) spec(n int) (jobs.Spec, error) {
	sp := jobs.Spec{Type: s.Type, Priority: s.Priority, Retries: s.Retries, Group: s.Group, Key: s.Key}
	if s.Timeout != "" {
		d, err := time.ParseDuration(s.Timeout)
		if err != nil {
			return sp, fmt.Errorf("%w: job %d: timeout %q: want a duration such as \"30s\" or \"5m\"", rpcapi.ErrBadRequest, n, s.Timeout)
		}
		sp.Timeout = d
	}
	if len(s.Args) > 0 {
		sp.Args = make(map[string]string, len(s.Args))
	}
	for k, v := range s.Args {
		switch v := v.(type) {
		case string:
			sp.Args[k] = v
		case json.Number:
			sp.Args[k] = v.String()
		case bool:
			sp.Args[k] = strconv.FormatBool(v)
		default:
			return sp, fmt.Errorf("%w: job %d: arg %q: want a string, number or boolean", rpcapi.ErrBadRequest, n, k)
		}
	}
	if s.Then != nil {
		t, err := s.Then.spec(n)
		if err != nil {
			return sp, err
		}
		sp.Then = &t
	}
	return sp, nil
}

// submitBody is one job spec, or {"jobs": [spec, ...]}.
type submitBody struct {
	apiSpec
	Jobs []apiSpec `json:"jobs"`
}

// submitReply is the reply of POST /api/v1/jobs, as rpcapi.SubmitReply.
type submitReply struct {
	IDs      []string          `json:"ids"`
	Existing []bool            `json:"existing"`
	ThenIDs  []rpcapi.FollowUp `json:"then_ids"`
}

func (a httpAPI) apiSubmit(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	var body submitBody
	if err := a.decodeBody(w, r, &body, true, `a job spec as JSON, such as {"type": "echo"}`); err != nil {
		return err
	}
	specs := body.Jobs
	single := body.Jobs == nil
	switch {
	case single:
		specs = []apiSpec{body.apiSpec}
	case body.Type != "" || body.Args != nil || body.Timeout != "" || body.Group != "" || body.Key != "" ||
		body.Priority != 0 || body.Retries != 0 || body.Then != nil:
		return fmt.Errorf("%w: give one job spec or {\"jobs\": [...]}, not both", rpcapi.ErrBadRequest)
	}
	args := &rpcapi.SubmitArgs{Specs: make([]jobs.Spec, len(specs))}
	for i := range specs {
		sp, err := specs[i].spec(i + 1)
		if err != nil {
			return err
		}
		args.Specs[i] = sp
	}
	var reply rpcapi.SubmitReply
	if err := a.ops.Submit(r.Context(), args, &reply); err != nil {
		return err
	}
	if single {
		w.Header().Set("Location", APIPrefix+"jobs/"+reply.IDs[0])
	}
	return writeJSON(w, http.StatusCreated, submitReply{IDs: reply.IDs, Existing: reply.Existing, ThenIDs: reply.ThenIDs})
}

func (a httpAPI) apiCancel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := a.jobDetail(r, id); err != nil {
		return err
	}
	var reply rpcapi.CancelReply
	if err := a.ops.Cancel(r.Context(), &rpcapi.CancelArgs{IDs: []string{id}}, &reply); err != nil {
		return err
	}
	if len(reply.Cancelled) == 0 {
		why := "not cancelled"
		if len(reply.Errors) > 0 {
			why = strings.TrimPrefix(reply.Errors[0], id+": ")
		}
		return fmt.Errorf("%w: job %s: %s; only a pending or running job can be cancelled", ErrConflict, id, why)
	}
	return a.replyJob(w, r, id)
}

func (a httpAPI) apiRetry(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := a.oper.Retry(r.Context(), id); err != nil {
		return err
	}
	return a.replyJob(w, r, id)
}

// purgeBody is the body of POST /api/v1/purge: rpcapi.PurgeArgs with
// older_than as a Go duration ("24h").
type purgeBody struct {
	State     jobs.State `json:"state"`
	Type      string     `json:"type"`
	Group     string     `json:"group"`
	OlderThan string     `json:"older_than"`
	All       bool       `json:"all"`
}

// apiPurge deletes the finished jobs the body selects, as purge_jobs.
func (a httpAPI) apiPurge(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	var body purgeBody
	if err := a.decodeBody(w, r, &body, false, `a filter as JSON, such as {"state": "failed", "older_than": "24h"}`); err != nil {
		return err
	}
	args := &rpcapi.PurgeArgs{State: body.State, Type: body.Type, Group: body.Group, All: body.All}
	if body.OlderThan != "" {
		d, err := time.ParseDuration(body.OlderThan)
		if err != nil {
			return fmt.Errorf("%w: older_than %q: want a duration such as \"24h\" or \"30m\"", rpcapi.ErrBadRequest, body.OlderThan)
		}
		args.OlderThan = d
	}
	var reply rpcapi.PurgeReply
	if err := a.ops.PurgeJobs(r.Context(), args, &reply); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Purged int `json:"purged"`
	}{reply.Purged})
}

// replyJob answers with the job's detail as it is now.
func (a httpAPI) replyJob(w http.ResponseWriter, r *http.Request, id string) error {
	d, err := a.jobDetail(r, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// checkWorkerState refuses a worker state filter that is not "" or a
// state.
func checkWorkerState(state string) error {
	switch state {
	case "", rpcapi.WorkerAlive, rpcapi.WorkerDraining, rpcapi.WorkerDead:
		return nil
	}
	return fmt.Errorf("%w: unknown worker state %q (want alive, draining or dead)", rpcapi.ErrBadRequest, state)
}

func (a httpAPI) apiListWorkers(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, "state", "order", "cursor", "limit")
	if err != nil {
		return err
	}
	q := workerQuery{State: p.Get("state")}
	if err := checkWorkerState(q.State); err != nil {
		return err
	}
	if q.Limit, q.Asc, q.Cursor, err = paging(p); err != nil {
		return err
	}
	var page struct {
		Workers    []rpcapi.WorkerInfo `json:"workers"`
		NextCursor string              `json:"next_cursor,omitempty"`
	}
	if page.Workers, page.NextCursor, err = a.view.listWorkers(q); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (a httpAPI) apiGetWorker(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	return a.replyWorker(w, r.PathValue("id"))
}

func (a httpAPI) apiDrain(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := a.oper.Drain(r.Context(), id); err != nil {
		return err
	}
	return a.replyWorker(w, id)
}

// replyWorker answers with worker id as it is now.
func (a httpAPI) replyWorker(w http.ResponseWriter, id string) error {
	wk, err := a.view.getWorker(id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wk)
}

func (a httpAPI) apiListGroups(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, "order", "cursor", "limit")
	if err != nil {
		return err
	}
	var q groupQuery
	if q.Limit, q.Asc, q.Cursor, err = paging(p); err != nil {
		return err
	}
	var page struct {
		Groups     []rpcapi.GroupInfo `json:"groups"`
		NextCursor string             `json:"next_cursor,omitempty"`
	}
	if page.Groups, page.NextCursor, err = a.view.listGroups(q); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (a httpAPI) apiGetGroup(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	g, err := a.view.getGroup(r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}

// apiSchedules lists the cron schedules by name, with their next fire.
func (a httpAPI) apiSchedules(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	var rep rpcapi.ListSchedulesReply
	if err := a.ops.ListSchedules(r.Context(), &rpcapi.Empty{}, &rep); err != nil {
		return err
	}
	if rep.Schedules == nil {
		rep.Schedules = []rpcapi.ScheduleInfo{}
	}
	return writeJSON(w, http.StatusOK, struct {
		Schedules []rpcapi.ScheduleInfo `json:"schedules"`
	}{rep.Schedules})
}

// dashboardHandler serves the embedded web page and its assets.
func dashboardHandler() http.Handler {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree always has web/
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "+
			"frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		files.ServeHTTP(w, r)
	})
}
