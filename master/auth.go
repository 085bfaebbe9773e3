package master

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// keyring returns the keyring of tokens and of c.Token, which comes last,
// so that an error's numbers are those of tokens.
func (c *Config) keyring(tokens []rpcapi.Credential) (*rpcapi.Keyring, error) {
	all := tokens
	if c.Token != "" {
		all = append(slices.Clip(tokens), rpcapi.Credential{Name: rpcapi.LegacyTokenName, Role: rpcapi.RoleAdmin, Token: c.Token})
	}
	return rpcapi.NewKeyring(all)
}

// SetTokens replaces Config.Tokens while the master runs; Config.Token
// stays. A request checked after SetTokens returns is checked against
// the new tokens, and so is every later call on a gob connection that
// authenticated before: a connection whose token is gone gets
// ErrUnauthorized on its next call, one whose token changed role has the
// new role. An invalid set (see rpcapi.NewKeyring), or an empty one that
// would leave a master that has tokens without any, is an error and
// changes nothing. Safe for concurrent use.
func (m *Master) SetTokens(tokens []rpcapi.Credential) error {
	k, err := m.cfg.keyring(tokens)
	if err != nil {
		return fmt.Errorf("master: tokens: %w", err)
	}
	if k.Len() == 0 && !m.auth.Open() {
		return errors.New("master: tokens: the new set is empty and there is no token: the master would accept anyone; keep at least one token")
	}
	m.auth.Set(k)
	f := logrus.Fields{"tokens": k.Len()}
	for r, n := range k.Count() {
		f[string(r)] = n
	}
	m.log.WithFields(f).Info("tokens replaced")
	return nil
}

// requireToken is Auth.Require with the API's JSON error.
func (a httpAPI) requireToken(h http.Handler) http.Handler { return RequireAPIToken(a.auth, h) }

// RequireAPIToken wraps h, a part of the JSON API, so that a request
// without a token auth accepts gets 401 with the API's JSON error (and
// the Basic challenge a browser answers). A standby master (package
// cluster) serves its API behind it too.
func RequireAPIToken(auth *rpcapi.Auth, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, _, ok := auth.Identify(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="drover"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong token")
			return
		}
		if !listen.Authenticate(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// allow wraps h, which a token checked by the master's rpcapi.Auth
// reaches, so that only the roles of roles (admin implied) reach it: the
// others get 403, the API's JSON error under APIPrefix and a text one
// elsewhere.
func allow(roles []rpcapi.Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := rpcapi.IdentityFrom(r.Context())
		if err == nil && !rpcapi.Allows(roles, id.Role) {
			err = rpcapi.Forbidden(id, r.Method+" "+r.URL.Path, roles)
		}
		if err == nil {
			h.ServeHTTP(w, r)
			return
		}
		status, code := errorStatus(err)
		if strings.HasPrefix(r.URL.Path, APIPrefix) {
			writeError(w, status, code, errorMessage(err))
			return
		}
		http.Error(w, "drover: "+errorMessage(err), status)
	})
}

// whoami is the reply of GET /api/v1/whoami.
type whoami struct {
	// Name and Role are those of the request's token; a master without
	// tokens answers role admin with no name.
	rpcapi.Identity
	// Auth says whether the master requires a token.
	Auth bool `json:"auth"`
	// Can says which of the dashboard's actions the role may take, by
	// the action's name (see apiRoute.action; pause_resume: the RPC calls
	// pause_schedule and resume_schedule).
	Can map[string]bool `json:"can"`
}

func (a httpAPI) apiWhoami(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	id, err := rpcapi.IdentityFrom(r.Context())
	if err != nil {
		return err
	}
	me := whoami{Identity: id, Auth: !a.auth.Open(), Can: make(map[string]bool)}
	for _, rt := range a.routes() {
		if rt.action != "" {
			me.Can[rt.action] = rpcapi.Allows(rt.roles, id.Role)
		}
	}
	me.Can["pause_resume"] = rpcapi.Permits(id.Role, rpcapi.MasterPause) && rpcapi.Permits(id.Role, rpcapi.MasterResume)
	return writeJSON(w, http.StatusOK, me)
}

// Keyring returns the tokens c accepts (Token and Tokens), as the master
// checks them: a standby master of a group (package cluster) checks the
// same.
func (c *Config) Keyring() (*rpcapi.Keyring, error) { return c.keyring(c.Tokens) }

// authorizeSchedules refuses specs that hold a schedule unless the caller
// is an admin: such a spec creates the schedule of its name, or replaces
// its timetable and job, which is the admin's as pausing, running and
// deleting it are (docs/security.md). A call that went through no token
// check (an embedding program, the jobs file) is an admin's.
func authorizeSchedules(ctx context.Context, specs []jobs.Spec) error {
	for i := range specs {
		if specs[i].Schedule == "" {
			continue
		}
		id, err := rpcapi.IdentityFrom(ctx)
		if err != nil {
			return err
		}
		if id.Role != rpcapi.RoleAdmin {
			return rpcapi.Forbidden(id, "submit_jobs with a schedule (spec "+strconv.Itoa(i)+": it creates or replaces schedule "+strconv.Quote(specs[i].Name)+")", nil)
		}
		return nil
	}
	return nil
}
