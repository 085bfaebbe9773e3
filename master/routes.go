package master

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/drover/drover/internal/webguard"
	"github.com/drover/drover/rpcapi"
)

// apiRoute is one endpoint of the JSON API.
type apiRoute struct {
	pattern string
	// roles may call it, admin implied (docs/security.md has the table).
	roles []rpcapi.Role
	// action names it among the dashboard's actions (whoami's "can"), or
	// is empty.
	action string
	h      func(http.ResponseWriter, *http.Request) error
}

// routes lists the JSON API's endpoints; docs/api.md documents them.
func (a httpAPI) routes() []apiRoute {
	read, client, admin := rpcapi.ReadRoles, rpcapi.ClientRoles, rpcapi.AdminRoles
	return []apiRoute{
		{"GET /api/v1/status", read, "", a.apiStatus},
		{"GET /api/v1/queues", read, "", a.apiQueues},
		{"GET /api/v1/jobs", read, "", a.apiListJobs},
		{"POST /api/v1/jobs", client, "submit", a.apiSubmit},
		{"POST /api/v1/jobs/retry", admin, "retry", a.apiBulkRetry},
		{"POST /api/v1/jobs/cancel", client, "cancel", a.apiBulkCancel},
		{"POST /api/v1/jobs/purge", admin, "purge", a.apiBulkPurge},
		{"GET /api/v1/jobs/{id}", read, "", a.apiGetJob},
		{"POST /api/v1/jobs/{id}/cancel", client, "cancel", a.apiCancel},
		{"POST /api/v1/jobs/{id}/retry", admin, "retry", a.apiRetry},
		{"GET /api/v1/jobs/{id}/attempts/{n}/log", read, "", a.apiJobLog},
		{"POST /api/v1/purge", admin, "purge", a.apiPurge},
		{"GET /api/v1/workers", read, "", a.apiListWorkers},
		{"GET /api/v1/workers/{id}", read, "", a.apiGetWorker},
		{"POST /api/v1/workers/{id}/drain", admin, "drain", a.apiDrain},
		{"POST /api/v1/workers/{id}/undrain", admin, "drain", a.apiUndrain},
		{"GET /api/v1/groups", read, "", a.apiListGroups},
		{"GET /api/v1/groups/{name...}", read, "", a.apiGetGroup},
		{"GET /api/v1/schedules", read, "", a.apiSchedules},
		{"POST /api/v1/schedules/{name}/pause", admin, "pause_resume", a.scheduleOp("pause")},
		{"POST /api/v1/schedules/{name}/resume", admin, "pause_resume", a.scheduleOp("resume")},
		{"POST /api/v1/schedules/{name}/run", admin, "run_schedule", a.scheduleOp("run")},
		{"POST /api/v1/schedules/{name}/delete", admin, "delete_schedule", a.scheduleOp("delete")},
		{"GET /api/v1/events", read, "", a.apiEvents},
		{"GET /api/v1/whoami", rpcapi.AnyRole, "", a.apiWhoami},
		{"GET /api/v1/cluster", read, "", a.apiCluster},
		{"POST /api/v1/cluster/members", admin, "", a.apiAddMember},
		{"POST /api/v1/cluster/members/{id}/remove", admin, "", a.apiRemoveMember},
	}
}

// mount adds the JSON API (under APIPrefix) and the dashboard (at /) to
// the master's mux. docs/api.md documents the API.
func (a httpAPI) mount(mux *http.ServeMux) {
	api := http.NewServeMux()
	for _, r := range a.routes() {
		api.Handle(r.pattern, allow(r.roles, apiHandler(a.bounded(a.gated(r.h)))))
	}
	api.HandleFunc(APIPrefix, func(w http.ResponseWriter, r *http.Request) {
		// Nothing matched: a known path with another method, or nothing.
		var allow []string
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = method
			if _, p := api.Handler(probe); p != "" && p != APIPrefix {
				allow = append(allow, method)
			}
		}
		if len(allow) == 0 {
			writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no API endpoint %s (see docs/api.md)", r.URL.Path))
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
	})
	// With tokens, both need one, as Bearer or as the password of Basic
	// auth: a browser asks for it once and sends it with every fetch and
	// the event stream.
	mux.Handle(APIPrefix, a.requireToken(api))
	mux.Handle("/", a.auth.Require(allow(rpcapi.ReadRoles, dashboardHandler())))
}

// gated makes an API handler wait until the master is ready.
func (a httpAPI) gated(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := a.view.awaitReady(r.Context()); err != nil {
			return err
		}
		return h(w, r)
	}
}

// apiEvents serves the live view as server-sent events.
func (a httpAPI) apiEvents(w http.ResponseWriter, r *http.Request) error {
	a.serveEvents(w, r)
	return nil
}

// Guard wraps the listener's whole handler (every path: RPC, API, events,
// dashboard, metrics) so that a web page cannot turn a visitor's browser
// against the master: a Host that is not one of the master's names (DNS
// rebinding) and an unsafe request from another origin get 403. Requests
// without browser headers (curl, Python, Go, workers) pass. The master's
// names are cfg's listen address and allowed_hosts. A standby master of
// a raft group (package cluster) serves behind it too.
func Guard(cfg *Config, h http.Handler) http.Handler {
	g := webguard.New(webguard.Config{Names: []string{cfg.Listen}, AllowedHosts: cfg.AllowedHosts,
		Deny: func(w http.ResponseWriter, r *http.Request, status int, msg string) {
			if strings.HasPrefix(r.URL.Path, APIPrefix) {
				writeError(w, status, "forbidden", msg)
				return
			}
			http.Error(w, "drover: "+msg, status)
		}})
	return g.Handler(h)
}
