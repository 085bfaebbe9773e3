package rpcapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Role is what a token may do on a master. docs/security.md has the table
// of every method and endpoint by role.
type Role string

// The roles.
const (
	// RoleAdmin may do everything: what the other roles may, and drain,
	// retry, purge, pause and resume schedules. The single token of a
	// master's conf is an admin token.
	RoleAdmin Role = "admin"
	// RoleClient submits, reads, waits for and cancels jobs: any job, or
	// only the jobs it submitted on a master with client_cancel "own".
	RoleClient Role = "client"
	// RoleWorker registers a worker, beats, fetches, reports and logs out.
	RoleWorker Role = "worker"
	// RoleRead reads: status, queues, jobs, workers, groups, schedules,
	// the event stream, metrics and the dashboard.
	RoleRead Role = "read"
)

// Roles lists every role, the most powerful first.
var Roles = []Role{RoleAdmin, RoleClient, RoleWorker, RoleRead}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Role sets of the tables below and of the master's HTTP paths. Admin is
// implied: Allows lets it through everywhere, so a set lists only the
// other roles.
var (
	// WorkerRoles are the roles of a worker's own calls.
	WorkerRoles = []Role{RoleWorker}
	// ClientRoles are the roles that submit, cancel and wait.
	ClientRoles = []Role{RoleClient}
	// ReadRoles are the roles that read.
	ReadRoles = []Role{RoleClient, RoleRead}
	// AnyRole is every role: what any valid token may call.
	AnyRole = []Role{RoleClient, RoleWorker, RoleRead}
	// AdminRoles is admin alone.
	AdminRoles = []Role(nil)
)

// Allows reports whether a token of role r may do what roles (a set as
// above, admin implied) allow.
func Allows(roles []Role, r Role) bool {
	return r == RoleAdmin || slices.Contains(roles, r)
}

// methodRoles holds, for every method a master or a worker serves, by its
// net/rpc name (the XML-RPC introspection methods by theirs), the roles
// besides admin that may call it. A method missing here is admin only;
// TestMethodRolesCoverServers checks that none is missing.
var methodRoles = map[string][]Role{
	MasterRegister:  WorkerRoles,
	MasterHeartbeat: WorkerRoles,
	MasterFetch:     WorkerRoles,
	MasterComplete:  WorkerRoles,
	MasterLogout:    WorkerRoles,

	MasterSubmit: ClientRoles,
	MasterCancel: ClientRoles,
	MasterWait:   ClientRoles,

	MasterStatus:      ReadRoles,
	MasterGetJob:      ReadRoles,
	MasterListJobs:    ReadRoles,
	MasterListWorkers: ReadRoles,
	MasterSchedules:   ReadRoles,
	MasterGetGroup:    ReadRoles,
	MasterListGroups:  ReadRoles,
	MasterListQueues:  ReadRoles,

	MasterPause:  AdminRoles,
	MasterResume: AdminRoles,
	MasterPurge:  AdminRoles,

	// A worker's endpoint knows one token, its own, which is an admin
	// token there (RequireToken): only the master that holds it calls.
	WorkerAssign: AdminRoles,
	WorkerCancel: AdminRoles,
	WorkerPing:   AdminRoles,
	// The master proxies it for GET /api/v1/jobs/{id}/attempts/{n}/log,
	// which the read roles may call.
	WorkerReadLog: AdminRoles,

	"system.listMethods":     AnyRole,
	"system.methodHelp":      AnyRole,
	"system.methodSignature": AnyRole,
}

// goNames maps XML-RPC method names to the contract's net/rpc names.
var goNames = func() map[string]string {
	m := make(map[string]string, len(xmlNames))
	for g, x := range xmlNames {
		m[x] = g
	}
	return m
}()

// MethodRoles returns the roles that may call method, given by its net/rpc
// or its XML-RPC name, admin first.
func MethodRoles(method string) []Role {
	if g, ok := goNames[method]; ok {
		method = g
	}
	return append([]Role{RoleAdmin}, methodRoles[method]...)
}

// Permits reports whether a token of role r may call method, given by its
// net/rpc or its XML-RPC name.
func Permits(r Role, method string) bool { return Allows(MethodRoles(method), r) }

// methodLabel names a method for a refusal: "submit_jobs (Master.Submit)".
func methodLabel(method string) string {
	if g, ok := goNames[method]; ok {
		return method + " (" + g + ")"
	}
	if x, ok := xmlNames[method]; ok {
		return x + " (" + method + ")"
	}
	return method
}

// Forbidden is the error of a token whose role may not do what, which
// the roles allowed (a set as above, admin implied) may: "rpcapi:
// forbidden: token "ci" of role read may not call submit_jobs
// (Master.Submit); allowed: admin, client". It wraps ErrForbidden.
func Forbidden(id Identity, what string, allowed []Role) error {
	names := []string{string(RoleAdmin)}
	for _, r := range allowed {
		names = append(names, string(r))
	}
	return fmt.Errorf("%w: token %q of role %s may not call %s; allowed: %s",
		ErrForbidden, id.Name, id.Role, what, strings.Join(names, ", "))
}

// Authorize returns nil when the token that ctx's request carried (see
// Auth.Require) may call method (its net/rpc or XML-RPC name) as the
// current tokens stand, an ErrForbidden naming the token and the method
// when its role may not, and an ErrUnauthorized when the token is no
// longer accepted (the tokens were replaced since the connection
// authenticated). A context that went through no Auth is not checked.
// Both transports' servers call it before every call.
func Authorize(ctx context.Context, method string) error {
	id, err := IdentityFrom(ctx)
	if err != nil {
		return err
	}
	g := method
	if n, ok := goNames[method]; ok {
		g = n
	}
	if roles := methodRoles[g]; !Allows(roles, id.Role) {
		return Forbidden(id, methodLabel(method), roles)
	}
	return nil
}
