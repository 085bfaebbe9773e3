package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/drover/drover/rpcapi"
)

// Errors the master returns, rebuilt on this side of the wire: test for
// them with errors.Is. They are the rpcapi sentinels themselves, so a test
// against either package's value matches.
var (
	// ErrNotFound: no job, group or schedule of that name.
	ErrNotFound error = rpcapi.ErrNotFound
	// ErrBadRequest: the call's arguments are malformed or out of range
	// (an invalid Spec, a page size over MaxPageSize, a purge without a
	// filter); the message says which.
	ErrBadRequest error = rpcapi.ErrBadRequest
	// ErrUnavailable: the master could not be reached, the connection
	// broke, the master is shutting down or its store is failing, or the
	// call's context ended. The call may be retried.
	ErrUnavailable error = rpcapi.ErrUnavailable
	// ErrUnauthorized: the master wants a token and the call carried none
	// or a wrong one (see WithToken).
	ErrUnauthorized error = rpcapi.ErrUnauthorized
	// ErrForbidden: the token is valid but its role may not make the call
	// (a read token submitting, a client token purging); the call changed
	// nothing.
	ErrForbidden error = rpcapi.ErrForbidden
	// ErrNotLeader: the master is a standby (given one address), or,
	// given several, every master that answered was a standby and none
	// named a leader that answered before the call's context or timeout
	// ended (see Dial). The call changed nothing.
	ErrNotLeader error = rpcapi.ErrNotLeader
	// ErrInternal: anything else the master reports.
	ErrInternal error = rpcapi.ErrInternal
)

// Transport is the protocol a Client speaks to the master.
type Transport string

// The transports. The master serves both on its one listener.
const (
	// Gob is Go's net/rpc with gob encoding, over one long-lived
	// connection (the default).
	Gob Transport = rpcapi.TransportGob
	// XMLRPC is XML-RPC over HTTP POSTs to /RPC2.
	XMLRPC Transport = rpcapi.TransportXMLRPC
)

// DefaultTimeout is the call timeout of a Client made without WithTimeout.
const DefaultTimeout = 30 * time.Second

// Option configures a Client made by Dial.
type Option func(*options)

type options struct {
	token     string
	tls       *tls.Config
	tlsFiles  *[3]string // CA, certificate, key
	transport Transport
	timeout   time.Duration
	waitPoll  time.Duration
}

// WithToken makes the Client send token with every call, as the master's
// token setting requires. Default: no token.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithTLS makes the Client reach the master over TLS with cfg: its RootCAs
// verify the master, its Certificates serve mutual TLS. An https:// address
// uses TLS without this option, with the system's roots.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg; o.tlsFiles = nil } }

// WithTLSFiles is WithTLS with a configuration read from PEM files, as the
// CLI's --tls-ca, --tls-cert and --tls-key: caFile (may be empty) holds the
// CA that signed the master's certificate; certFile and keyFile (both or
// neither) are the client's certificate and key for mutual TLS. Dial
// reports a file that cannot be read.
func WithTLSFiles(caFile, certFile, keyFile string) Option {
	return func(o *options) { o.tlsFiles = &[3]string{caFile, certFile, keyFile}; o.tls = nil }
}

// WithTransport sets the protocol to the master: Gob (default) or XMLRPC.
func WithTransport(t Transport) Option { return func(o *options) { o.transport = t } }

// WithTimeout bounds every call, on top of its ctx: d is the longest a call
// may take (a Wait call may take d more than the time it blocks on the
// master). Default DefaultTimeout; 0 or less leaves calls bounded by their
// ctx only.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		o.timeout = max(d, 0)
	}
}

// WithWaitPoll sets how long one call of Wait and WaitGroup blocks on the
// master before the Client calls again (their first call returns at once,
// and a call ends before ctx's deadline: see Wait). Default, and most,
// 30 s (the master's maximum); shorter notices a lost connection sooner.
func WithWaitPoll(d time.Duration) Option { return func(o *options) { o.waitPoll = d } }

// Client calls a master for a program that submits jobs. Make one with
// Dial; it is safe for concurrent use, and Close releases it.
type Client struct {
	c        rpcapi.Caller
	timeout  time.Duration
	waitPoll time.Duration
	closed   atomic.Bool
}

// Dial returns a Client for the master at addr: host:port, or
// https://host:port for TLS (with XMLRPC, an http:// or https:// URL whose
// path, if any, replaces /RPC2, and whose port may be left out: 80 for
// http, 443 for https, as in any URL). Dial does
// not connect: the first call does, and reports an unreachable master as
// ErrUnavailable. Dial fails only on a bad address, transport or TLS
// file; a bad address (one with no port, a port out of range, a scheme
// other than http or https, an empty element of a list) matches
// ErrBadRequest. There is no default port for host:port.
//
// addr may list several masters separated by commas
// ("10.0.0.1:7070,10.0.0.2:7070,10.0.0.3:7070"; spaces around the commas
// are ignored, an empty element is an error), of which one, the leader,
// serves and the others are standbys (docs/ha.md). The Client follows the
// leader (docs/protocol.md, "Several masters"): a call goes to the master
// that answered last; a standby's answer sends it to the leader the
// standby names, or to the next master, and so does a master that cannot
// be reached; after trying every master it pauses (50 ms, doubling up to
// 1 s) and tries again until the call's context or timeout ends. A call
// whose connection broke once sent is not sent again: it returns
// ErrUnavailable, and the next call starts at the next master.
func Dial(addr string, opts ...Option) (*Client, error) {
	o := options{transport: Gob, timeout: DefaultTimeout, waitPoll: rpcapi.MaxWait}
	for _, f := range opts {
		f(&o)
	}
	if o.waitPoll <= 0 || o.waitPoll > rpcapi.MaxWait {
		o.waitPoll = rpcapi.MaxWait
	}
	if o.tlsFiles != nil {
		cfg, err := loadTLS(o.tlsFiles[0], o.tlsFiles[1], o.tlsFiles[2])
		if err != nil {
			return nil, err
		}
		o.tls = cfg
	}
	var ro []rpcapi.Option
	if o.token != "" {
		ro = append(ro, rpcapi.WithToken(o.token))
	}
	if o.tls != nil {
		ro = append(ro, rpcapi.WithTLS(o.tls))
	}
	c, err := rpcapi.NewMasterCaller(addr, string(o.transport), ro...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &Client{c: c, timeout: o.timeout, waitPoll: o.waitPoll}, nil
}

// loadTLS reads a client TLS configuration from PEM files.
func loadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("client: TLS certificate and key go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client: TLS certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client: TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: TLS CA: %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Close closes the connection to the master. Calls after Close fail with
// ErrUnavailable, and a Wait in progress returns with it (over XML-RPC,
// once its current call to the master ends).
func (c *Client) Close() error {
	c.closed.Store(true)
	return c.c.Close()
}

// call makes one call, bounded by ctx and by the call timeout plus extra
// (the time a Wait may block on the master).
func (c *Client) call(ctx context.Context, extra time.Duration, method string, args, reply any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout+extra)
		defer cancel()
	}
	err := c.c.Call(ctx, method, args, reply)
	if err != nil && ctx.Err() != nil {
		return &ctxError{err: err, ctx: ctx.Err()}
	}
	return err
}

// ctxError is a call cut short by its context: errors.Is matches both the
// transport's error (ErrUnavailable) and the context's.
type ctxError struct{ err, ctx error }

func (e *ctxError) Error() string   { return e.err.Error() }
func (e *ctxError) Unwrap() []error { return []error{e.err, e.ctx} }
