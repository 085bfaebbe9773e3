package cluster

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/internal/raftstore"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// standby serves a member's RPC address while its master does not run:
// every RPC call on both wires is answered with the not-leader error
// naming the leader, GET /api/v1/cluster with the member's Status, any
// other path of the JSON API with 503 and the same message, and any
// other path (the dashboard's) with 503 and a page that links to the
// leader. It checks tokens, and Host and origin (master.Guard), as the
// master does.
type standby struct {
	cfg  *master.Config // Listen is set to the bound address at the first start
	rn   *raftstore.Node
	auth *rpcapi.Auth // the tokens it accepts: the member's, replaced by Node.SetTokens
	h    http.Handler
	fwd  *forwarder      // the JSON API and the dashboard, to the leader
	tr   *http.Transport // fwd's connections to the leader

	mu  sync.Mutex // guards srv and ln
	srv *http.Server
	ln  *listen.TrackingListener
	wg  sync.WaitGroup
}

func newStandby(id string, cfg *master.Config, rn *raftstore.Node) (*standby, error) {
	k, err := cfg.Keyring()
	if err != nil {
		return nil, err
	}
	s := &standby{cfg: cfg, rn: rn, auth: rpcapi.NewAuth(k)}
	api := &rpcapi.Standby{Leader: rn.LeaderRPC}
	gob, err := rpcapi.NewGoRPCHandlerOptions(api, nil, rpcapi.GoRPCOptions{MaxMessage: cfg.MaxRequestBody})
	if err != nil {
		return nil, err
	}
	auth := s.auth
	mux := http.NewServeMux()
	mux.Handle(rpcapi.GoRPCPath, auth.Require(gob))
	mux.Handle(rpcapi.XMLRPCPath, auth.Require(rpcapi.NewXMLRPCHandler(api, nil, rpcapi.XMLRPCOptions{MaxBody: cfg.MaxRequestBody, MaxDepth: cfg.MaxXMLDepth})))
	mux.Handle("GET "+master.APIPrefix+"cluster", master.RequireAPIToken(s.auth, http.HandlerFunc(s.status)))
	// Its own metrics are a standby's; the rest of the JSON API and the
	// dashboard are the leader's, forwarded.
	mux.Handle("/metrics", auth.Require(http.HandlerFunc(s.elsewhere)))
	s.tr = forwardTransport(cfg)
	s.fwd = newForwarder(id, rn.LeaderRPC, cfg.TLS != nil, s.tr, http.HandlerFunc(s.elsewhere), cfg.Logger)
	mux.Handle("/api/", master.RequireAPIToken(s.auth, s.fwd))
	mux.Handle("/api", master.RequireAPIToken(s.auth, s.fwd))
	mux.Handle("/", auth.Require(s.fwd))
	s.h = master.Guard(cfg, mux) // as the master: no DNS rebinding, no cross-site writes
	return s, nil
}

func (s *standby) status(w http.ResponseWriter, r *http.Request) {
	if id, err := rpcapi.IdentityFrom(r.Context()); err != nil || !rpcapi.Allows(rpcapi.ReadRoles, id.Role) {
		master.WriteAPIError(w, http.StatusForbidden, "forbidden", "the token's role may not read")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(s.rn.Status())
}

// elsewhere answers every other path with 503: under /api/, the JSON
// API's error body (code not_leader) and the leader's RPC address (""
// when none is known); elsewhere, the dashboard's place, a page saying so.
func (s *standby) elsewhere(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api" && !strings.HasPrefix(r.URL.Path, "/api/") {
		s.page(w, r)
		return
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Leader string `json:"leader"`
	}
	body.Leader = s.rn.LeaderRPC()
	body.Error.Code, body.Error.Message = rpcapi.Code(rpcapi.ErrNotLeader), rpcapi.NewNotLeader(body.Leader).Error()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(body)
}

// start binds the RPC address and serves it. The address was just
// released by the master (or by an earlier standby): a bind that fails is
// tried again for a second.
func (s *standby) start() error {
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", s.cfg.Listen); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("standby: listen: %w", err)
	}
	// A port 0 stays the port bound first. Written at the first start
	// only, before the member runs: later starts read it while the
	// member's reloads copy the config (Node.SetTokens).
	if a := ln.Addr().String(); a != s.cfg.Listen {
		s.cfg.Listen = a
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	// The master's connection limits, and every connection tracked: a
	// gob connection is hijacked, and one left open would go on
	// answering "not the leader" from this standby after the member's
	// master took the address over.
	tl := listen.NewPreAuthListener(ln, s.cfg.MaxConnections, listen.PreAuth{Max: s.cfg.MaxAnonymousConnections,
		PerAddress: s.cfg.MaxAnonymousPerAddress, Timeout: s.cfg.PreAuthTimeout})
	srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, ConnContext: listen.ConnContext}
	s.mu.Lock()
	s.srv, s.ln = srv, tl
	s.mu.Unlock()
	s.wg.Go(func() {
		if err := srv.Serve(tl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.WithError(err).Error("standby: serve")
		}
	})
	return nil
}

// stop closes the listener and every connection, and waits.
func (s *standby) stop() {
	s.mu.Lock()
	srv, tl := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
		tl.CloseAll() // the hijacked gob connections too
	}
	s.tr.CloseIdleConnections()
	s.wg.Wait()
}

// addr returns the RPC address.
func (s *standby) addr() string { return s.cfg.Listen }

// The standby's page: where the dashboard was, while this member does not
// lead. It is self-contained (no script; its one style is allowed by its
// hash in the Content-Security-Policy) and reloads itself every
// standbyRefresh seconds, so that an open tab follows an election and
// shows the dashboard once this member leads.

const standbyRefresh = 5

const standbyStyle = `body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:42em;padding:0 1em;color:#1d2330}` +
	`a{color:#2f6fde}.muted{color:#667085;font-size:13px}`

var (
	standbyPage = template.Must(template.New("standby").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>drover: {{.ID}} is a standby</title>
<link rel="icon" href="data:,">
<style>` + standbyStyle + `</style>
</head>
<body>
<h1>drover: standby</h1>
<p id="standby">This master ({{.ID}}) is a standby of a raft group.
{{if .LeaderURL}}The leader is {{.Leader}} at <a id="leader" href="{{.LeaderURL}}">{{.LeaderRPC}}</a>.
{{- else if .Leader}}The leader is {{.Leader}}; its address is not known here.
{{- else}}No leader is known yet.{{end}}</p>
<p>Term {{.Term}}, applied index {{.Applied}}. Members:</p>
<ul id="members">
{{- range .Members}}
<li>{{.ID}}{{if .URL}} at <a href="{{.URL}}">{{.RPC}}</a>{{end}}{{if .Leads}} (leader){{end}}</li>
{{- end}}
</ul>
<p class="muted">This page reloads itself every {{.Refresh}} seconds: it follows an election, and shows
the dashboard once this master leads. Here the JSON API answers 503 <code>not_leader</code>, and
<code>GET /api/v1/cluster</code> what this member knows of the group.</p>
</body>
</html>
`))
	standbyCSP = fmt.Sprintf("default-src 'none'; img-src data:; style-src 'sha256-%s'; "+
		"frame-ancestors 'none'; base-uri 'none'; form-action 'none'", styleHash())
)

func styleHash() string {
	sum := sha256.Sum256([]byte(standbyStyle))
	return base64.StdEncoding.EncodeToString(sum[:])
}

type pageMember struct {
	ID, RPC, URL string
	Leads        bool
}

// page answers 503 with the standby's page: this member, the leader with
// a link to its dashboard, and the members.
func (s *standby) page(w http.ResponseWriter, r *http.Request) {
	if id, err := rpcapi.IdentityFrom(r.Context()); err != nil || !rpcapi.Allows(rpcapi.ReadRoles, id.Role) {
		http.Error(w, "drover: forbidden: the token's role may not read", http.StatusForbidden)
		return
	}
	st := s.rn.Status()
	scheme := "http"
	if s.cfg.TLS != nil {
		scheme = "https"
	}
	link := func(addr string) string {
		if addr == "" {
			return ""
		}
		return scheme + "://" + addr + "/"
	}
	data := struct {
		ID, Leader, LeaderRPC, LeaderURL string
		Term, Applied                    uint64
		Members                          []pageMember
		Refresh                          int
	}{ID: st.ID, Leader: st.Leader, LeaderRPC: st.LeaderRPC, LeaderURL: link(st.LeaderRPC),
		Term: st.Term, Applied: st.Applied, Refresh: standbyRefresh}
	for _, m := range st.Members {
		data.Members = append(data.Members, pageMember{ID: m.ID, RPC: m.RPC, URL: link(m.RPC), Leads: m.ID == st.Leader})
	}
	var b bytes.Buffer
	if err := standbyPage.Execute(&b, data); err != nil {
		http.Error(w, "drover: standby page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", standbyCSP)
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write(b.Bytes())
}
