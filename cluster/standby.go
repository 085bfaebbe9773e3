package cluster

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/internal/raftstore"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// standby serves a member's RPC address while its master does not run:
// every RPC call on both wires is answered with the not-leader error
// naming the leader, GET /api/v1/cluster with the member's Status, and
// anything else with 503 and the same message. It checks tokens as the
// master does.
type standby struct {
	cfg *master.Config // Listen is set to the bound address at the first start
	rn  *raftstore.Node
	h   http.Handler

	mu  sync.Mutex // guards srv and ln
	srv *http.Server
	ln  *listen.TrackingListener
	wg  sync.WaitGroup
}

func newStandby(cfg *master.Config, rn *raftstore.Node) (*standby, error) {
	k, err := cfg.Keyring()
	if err != nil {
		return nil, err
	}
	s := &standby{cfg: cfg, rn: rn}
	api := &rpcapi.Standby{Leader: rn.LeaderRPC}
	gob, err := rpcapi.NewGoRPCHandlerOptions(api, nil, rpcapi.GoRPCOptions{MaxMessage: cfg.MaxRequestBody})
	if err != nil {
		return nil, err
	}
	auth := rpcapi.NewAuth(k)
	mux := http.NewServeMux()
	mux.Handle(rpcapi.GoRPCPath, auth.Require(gob))
	mux.Handle(rpcapi.XMLRPCPath, auth.Require(rpcapi.NewXMLRPCHandler(api, nil, rpcapi.XMLRPCOptions{MaxBody: cfg.MaxRequestBody, MaxDepth: cfg.MaxXMLDepth})))
	mux.Handle("GET "+master.APIPrefix+"cluster", auth.Require(http.HandlerFunc(s.status)))
	mux.Handle("/", auth.Require(http.HandlerFunc(s.elsewhere)))
	s.h = mux
	return s, nil
}

func (s *standby) status(w http.ResponseWriter, r *http.Request) {
	if id, err := rpcapi.IdentityFrom(r.Context()); err != nil || !rpcapi.Allows(rpcapi.ReadRoles, id.Role) {
		http.Error(w, "drover: forbidden: the token's role may not read", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(s.rn.Status())
}

// elsewhere answers every other path with 503, the JSON API's error body
// (code not_leader) and the leader's RPC address ("" when none is known).
func (s *standby) elsewhere(w http.ResponseWriter, _ *http.Request) {
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
	s.cfg.Listen = ln.Addr().String() // a port 0 stays the port bound first
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
	s.wg.Wait()
}

// addr returns the RPC address.
func (s *standby) addr() string { return s.cfg.Listen }
