package master

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Start opens the store, reloads every job, submits the configured initial
// jobs, binds the listener and starts serving. It returns the first error
// (a locked data dir, a port in use) synchronously, having stopped what it
// had started; Close is then safe, and not needed.
//
// A Master starts once and is not restartable: Start on a master started
// already, on one whose Start failed, or on one closed, returns an error
// and does nothing. Make a new one with New instead (the store keeps the
// jobs across).
func (m *Master) Start() error {
	m.lifeMu.Lock()
	defer m.lifeMu.Unlock()
	switch m.life {
	case lifeStarted:
		return errors.New("master: Start: already started (a Master starts once)")
	case lifeFailed:
		return errors.New("master: Start: an earlier Start failed; a Master is not restartable: make a new one with New")
	case lifeClosed:
		return errors.New("master: Start: closed; a Master is not restartable: make a new one with New")
	}
	if err := m.start(); err != nil {
		m.life = lifeFailed
		m.core.markClosed()
		m.core.cancel()
		return err
	}
	m.life = lifeStarted
	return nil
}

// start is Start on a new master.
func (m *Master) start() error {
	c := m.core
	c.start = time.Now()
	m.newMasterScheduler()
	if m.cfg.GCPercent != 0 {
		debug.SetGCPercent(m.cfg.GCPercent)
	}
	st, err := m.openStore()
	if err != nil {
		return err
	}
	c.store = st
	c.commit = newCommitter(st, m.log)
	l, err := c.loadLive()
	if err != nil {
		st.Close()
		return err
	}
	early := l.first != nil // serve the workers while the rest loads (ready.go)
	if !early {
		if err := c.loadRest(l); err != nil {
			st.Close()
			return err
		}
	}
	if err := m.checkStart(); err != nil {
		st.Close()
		return err
	}
	m.wg.Go(func() { c.commit.run(m.stopc) })
	if !early {
		if err := m.startServices(); err != nil {
			close(c.loadDone) // shutdown waits for it
			m.shutdown()
			return err
		}
		close(c.ready)
		close(c.loadDone)
	}

	fail := func(err error) error {
		if early {
			close(c.loadDone) // finishLoad never started
		}
		m.shutdown()
		return err
	}
	ln, err := m.listen()
	if err != nil {
		return fail(err)
	}
	if err := m.startHTTP(); err != nil {
		return fail(err)
	}
	m.disp.start()
	m.reg.start()
	tick, stop := c.clock.Ticker(max(m.cfg.HeartbeatInterval/4, 10*time.Millisecond))
	m.wg.Go(func() { c.retainLoop(tick, stop) })
	m.wg.Go(c.historyLoop)
	m.wg.Go(c.idleMemLoop)
	m.log.WithFields(logrus.Fields{"addr": m.Addr(), "store": m.cfg.Store, "data_dir": m.cfg.DataDir,
		"auth": !m.auth.Open(), "tokens": m.auth.Keyring().Len()}).Info("master listening")
	if early {
		go m.finishLoad(l)
	}
	if m.auth.Open() && !isLoopback(ln.Addr()) {
		m.log.WithField("addr", m.Addr()).Warn("NO TOKEN: the master listens beyond loopback without auth; " +
			"anyone who reaches this port can submit jobs and register workers. Set token, token_file or tokens_file.")
	}
	c.kick()
	return nil
}

// openStore returns the configured job store: cfg.StoreImpl if set, else
// a memory store or the bolt store in cfg.DataDir.
func (m *Master) openStore() (jobs.Store, error) {
	if st := m.cfg.StoreImpl; st != nil {
		return st, nil
	}
	switch m.cfg.Store {
	case StoreMemory:
		return jobs.NewMemStore(), nil
	default:
		b, err := jobs.OpenBoltWith(m.cfg.DataDir, jobs.BoltOptions{Logf: m.log.Warnf})
		if err != nil {
			return nil, fmt.Errorf("master: %w", err)
		}
		return b, nil
	}
}

// checkStart checks, once the store is loaded, that the last stop was
// clean where that is required, and validates the on_done notifiers and
// the initial jobs.
func (m *Master) checkStart() error {
	if err := m.core.checkCleanStop(); err != nil {
		return err
	}
	if err := m.cfg.Notify.Validate(); err != nil {
		return fmt.Errorf("master: on_done: %w", err)
	}
	for i := range m.cfg.Jobs {
		if err := m.cfg.Jobs[i].Validate(); err != nil {
			return fmt.Errorf("master: initial jobs: job %d: %w", i+1, err)
		}
	}
	return nil
}

// listen binds cfg.Listen (with TLS if set), keeps the connection-limited
// listener in m.ln and returns the bound one.
func (m *Master) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", m.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("master: listen: %w", err)
	}
	if m.cfg.TLS != nil {
		ln = tls.NewListener(ln, m.cfg.TLS)
	}
	m.ln = listen.NewPreAuthListener(ln, m.cfg.MaxConnections, listen.PreAuth{
		Max: m.cfg.MaxAnonymousConnections, PerAddress: m.cfg.MaxAnonymousPerAddress, Timeout: m.cfg.PreAuthTimeout})
	return ln, nil
}

// startHTTP builds the master's HTTP server (both RPC transports, metrics,
// the web API) in m.srv and serves m.ln with it in a goroutine of m.wg.
func (m *Master) startHTTP() error {
	c := m.core
	api := countingAPI{m.wire}
	stats := new(rpcapi.GoRPCStats)
	h, err := rpcapi.NewGoRPCHandlerOptions(api, nil, rpcapi.GoRPCOptions{
		MaxMessage: m.cfg.MaxRequestBody, MaxCallsInFlight: m.cfg.MaxCallsInFlight, IdleTimeout: m.cfg.GobIdleTimeout, Stats: stats,
		Log: func(remote string, err error) {
			m.log.WithFields(logrus.Fields{"remote": remote, "max_request_body": m.cfg.MaxRequestBody}).WithError(err).Warn("gob connection closed: message too large")
		}})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	// Both RPC paths check each call's method against the token's role
	// (rpcapi.Authorize); the other paths check theirs here.
	mux.Handle(rpcapi.GoRPCPath, m.auth.Require(h))
	mux.Handle(rpcapi.XMLRPCPath, m.auth.Require(
		rpcapi.NewXMLRPCHandler(api, nil, rpcapi.XMLRPCOptions{MaxBody: m.cfg.MaxRequestBody, MaxDepth: m.cfg.MaxXMLDepth})))
	c.metrics.reg.MustRegister(goRPCCollectors(stats)...)
	c.metrics.reg.MustRegister(listenerCollectors(m.ln)...)
	mux.Handle("/metrics", m.auth.Require(allow(rpcapi.ReadRoles, c.metrics.handler())))
	m.api.mount(mux)
	// Timeouts keep a slow client from pinning the master. net/rpc
	// connections are hijacked and leave these behind; the write timeout
	// covers the longest blocking call (Wait, Fetch: rpcapi.MaxWait).
	m.srv = &http.Server{Handler: Guard(&m.cfg, mux), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: rpcapi.MaxWait + time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ConnContext: listen.ConnContext}
	m.wg.Go(func() {
		if err := m.srv.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.WithError(err).Error("serve")
		}
	})
	return nil
}

// isLoopback reports whether a listener only accepts loopback traffic.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// goRPCCollectors export what the gob path's caps did.
func goRPCCollectors(s *rpcapi.GoRPCStats) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "drover_rpc_oversize_messages_total",
			Help: "gob connections closed for a message over max_request_body."},
			func() float64 { return float64(s.Oversize.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "drover_rpc_calls_held_back_total",
			Help: "Times a gob connection's reading paused because max_calls_in_flight of its calls were running."},
			func() float64 { return float64(s.HeldBack.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "drover_rpc_idle_closed_total",
			Help: "gob connections closed after gob_idle_timeout with no call in flight."},
			func() float64 { return float64(s.Idle.Load()) }),
	}
}

// listenerCollectors export what the listener's connection limits did.
func listenerCollectors(l *listen.TrackingListener) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "drover_connections_anonymous",
			Help: "Open connections that have not yet made an authenticated request."},
			func() float64 { return float64(l.Anonymous()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "drover_connections_refused_total",
			Help: "Connections answered 503 because max_connections authenticated connections were open."},
			func() float64 { return float64(l.Stats.Refused.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "drover_connections_anonymous_evicted_total",
			Help: "Anonymous connections closed, oldest first, to make room for a new one (max_anonymous_connections or max_anonymous_per_address were open)."},
			func() float64 { return float64(l.Stats.Evicted.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "drover_connections_anonymous_evicted_per_address_total",
			Help: "Of the evicted anonymous connections, those closed for a new one from their own address (max_anonymous_per_address)."},
			func() float64 { return float64(l.Stats.EvictedPerAddress.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "drover_connections_preauth_closed_total",
			Help: "Connections closed for making no authenticated request within preauth_timeout of being accepted."},
			func() float64 { return float64(l.Stats.PreAuthClosed.Load()) }),
	}
}
