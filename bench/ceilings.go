package bench

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/rpcapi"
)

// What the ceilings measure, for the report.
const (
	ceilingRPCNote = "net/rpc (gob) no-op method served in the bench process by the standard library's rpc.NewServer " +
		"over an HTTP CONNECT to /_goRPC_ on a plain listener (raw net/rpc; rpcapi serves the same wire protocol), " +
		"called through the standard library's rpc.DialHTTPPath client; seq: 1 call in flight on 1 connection; " +
		"par: 64 in flight over 4 connections; proc: as seq, to the same server in a child process of the bench"
	ceilingXMLNote = "XML-RPC get_master_status served in the bench process by rpcapi.NewXMLRPCHandler over a stub " +
		"MasterAPI that returns at once (the XML-RPC stack without the master), called through rpcapi.XMLClient; " +
		"seq: 1 in flight; par: 64 in flight over 4 clients"
)

// Noop is the ceilings' net/rpc service.
type Noop struct{}

// Call does nothing.
func (Noop) Call(_ *rpcapi.Empty, _ *rpcapi.Empty) error { return nil }

// serve serves h at path on a new loopback listener: the standard
// library's own, or with tracked set drover's (listen.TrackingListener,
// whose connections read and write with raw system calls).
func serve(path string, h http.Handler, tracked bool) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	closeAll := func() {}
	if tracked {
		tl := listen.NewTrackingListener(ln)
		ln, closeAll = tl, tl.CloseAll
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	return ln.Addr().String(), func() { srv.Close(); closeAll(); <-done }, nil
}

// stdCaller calls through the standard library's net/rpc client alone.
type stdCaller struct{ c *rpc.Client }

func (s stdCaller) Call(_ context.Context, method string, args, reply any) error {
	return s.c.Call(method, args, reply)
}

func (s stdCaller) Close() error { return s.c.Close() }

// callRate calls call from perConn goroutines on each of conns callers for
// d and returns calls per second. With rtts set, it also records each
// call's round trip there (use it with one caller and one goroutine).
func callRate(ctx context.Context, d time.Duration, conns, perConn int, rtts *[]time.Duration,
	newCaller func() (rpcapi.Caller, error), call func(context.Context, rpcapi.Caller) error) (float64, error) {
	callers := make([]rpcapi.Caller, conns)
	for i := range callers {
		c, err := newCaller()
		if err != nil {
			return 0, err
		}
		defer c.Close()
		if err := call(ctx, c); err != nil { // connect and warm up
			return 0, err
		}
		callers[i] = c
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var total atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for _, c := range callers {
		for range perConn {
			wg.Go(func() {
				n := int64(0)
				for t0 := time.Now(); t0.Before(deadline) && ctx.Err() == nil; t0 = time.Now() {
					if err := call(ctx, c); err != nil {
						once.Do(func() { firstErr = err; cancel() })
						break
					}
					if rtts != nil {
						*rtts = append(*rtts, time.Since(t0))
					}
					n++
				}
				total.Add(n)
			})
		}
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}

// measureCeilings measures the raw RPC round-trip rates of this machine.
func measureCeilings(ctx context.Context, cfg *Config, e *E2E) error {
	e.CeilingRPC, e.CeilingXMLRPC = ceilingRPCNote, ceilingXMLNote
	addr, stop, err := serveNoop()
	if err != nil {
		return err
	}
	defer stop()
	gob := dialNoop(addr)
	noop := func(ctx context.Context, c rpcapi.Caller) error {
		return c.Call(ctx, "Noop.Call", &rpcapi.Empty{}, &rpcapi.Empty{})
	}
	var rtts []time.Duration
	if e.RPCSeqCallsPerS, err = callRate(ctx, cfg.CeilingTime, 1, 1, &rtts, gob, noop); err != nil {
		return err
	}
	e.RPCSeqP50us = micros(percentile(rtts, 0.50))
	if e.RPCProcCallsPerS, e.RPCProcP50us, err = procRoundTrip(ctx, cfg, noop); err != nil {
		return err
	}
	if e.RPCParCallsPerS, err = callRate(ctx, cfg.CeilingTime, 4, 16, nil, gob, noop); err != nil {
		return err
	}

	xaddr, xstop, err := serve(rpcapi.XMLRPCPath, rpcapi.NewXMLRPCHandler(stubMaster{}, nil, rpcapi.XMLRPCOptions{}), true)
	if err != nil {
		return err
	}
	defer xstop()
	xml := func() (rpcapi.Caller, error) { return rpcapi.NewXMLClient(xaddr) }
	status := func(ctx context.Context, c rpcapi.Caller) error {
		return c.Call(ctx, rpcapi.MasterStatus, &rpcapi.Empty{}, &rpcapi.StatusReply{})
	}
	if e.XMLRPCCallsPerS, err = callRate(ctx, cfg.CeilingTime, 1, 1, nil, xml, status); err != nil {
		return err
	}
	if e.XMLRPCParCallsPerS, err = callRate(ctx, cfg.CeilingTime, 4, 16, nil, xml, status); err != nil {
		return err
	}
	return nil
}

// procRoundTrip measures the 1-in-flight ceiling against a server in a
// child process (RoleNoop) and returns its calls a second and round trip
// p50 in µs. Unlike the ceiling served in the bench's own process, whose
// caller and server share one Go scheduler (a reply is often read without
// any thread waking), every call here wakes the other process, as each of
// a job's hops between client, master and worker does.
func procRoundTrip(ctx context.Context, cfg *Config,
	call func(context.Context, rpcapi.Caller) error) (rate, p50 float64, err error) {
	p, err := spawn(cfg.Launch, RoleNoop, struct{}{}, cfg.Stderr, time.Minute)
	if err != nil {
		return 0, 0, err
	}
	defer p.stop(10 * time.Second)
	var rtts []time.Duration
	if rate, err = callRate(ctx, cfg.CeilingTime, 1, 1, &rtts, dialNoop(p.hello.Addr), call); err != nil {
		return 0, 0, err
	}
	return rate, micros(percentile(rtts, 0.50)), nil
}

// serveNoop serves Noop over net/rpc (an HTTP CONNECT to GoRPCPath) on a
// new loopback listener.
func serveNoop() (addr string, stop func(), err error) {
	srv := rpc.NewServer()
	if err := srv.RegisterName("Noop", Noop{}); err != nil {
		return "", nil, err
	}
	return serve(rpcapi.GoRPCPath, srv, false)
}

// dialNoop returns the dialer of serveNoop's server at addr, through the
// standard library's net/rpc client alone.
func dialNoop(addr string) func() (rpcapi.Caller, error) {
	return func() (rpcapi.Caller, error) {
		c, err := rpc.DialHTTPPath("tcp", addr, rpcapi.GoRPCPath)
		return stdCaller{c}, err
	}
}

// noopRole serves Noop.Call on a loopback port, says so in its hello
// line, and runs until its stdin reaches EOF or it gets SIGTERM/SIGINT.
func noopRole(stdout io.Writer) error {
	addr, stop, err := serveNoop()
	if err != nil {
		return err
	}
	defer stop()
	if err := json.NewEncoder(stdout).Encode(hello{Addr: addr, PID: os.Getpid()}); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	untilStop(ctx, stdinLines())
	return nil
}

// stubMaster is the XML-RPC ceiling's server: its Status returns at once.
// The nil interface only supplies the rest of the MasterAPI method set
// (which the ceiling never calls).
type stubMaster struct{ rpcapi.MasterAPI }

// Status implements rpcapi.MasterAPI.
func (stubMaster) Status(context.Context, *rpcapi.Empty, *rpcapi.StatusReply) error { return nil }
