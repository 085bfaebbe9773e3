package rpcapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kolo/xmlrpc"
)

// xmlNames maps the contract's net/rpc method names to XML-RPC names.
var xmlNames = map[string]string{
	MasterRegister:    "register_worker",
	MasterHeartbeat:   "heartbeat",
	MasterComplete:    "task_complete",
	MasterLogout:      "logout_worker",
	MasterStatus:      "get_master_status",
	MasterSubmit:      "submit_jobs",
	MasterGetJob:      "get_job",
	MasterListJobs:    "list_jobs",
	MasterListWorkers: "list_workers",
	MasterCancel:      "cancel_jobs",
	MasterWait:        "wait_jobs",
	MasterFetch:       "fetch_tasks",
	MasterSchedules:   "list_schedules",
	MasterPause:       "pause_schedule",
	MasterResume:      "resume_schedule",
	MasterPurge:       "purge_jobs",
	WorkerAssign:      "assign_task",
	WorkerCancel:      "cancel_task",
	WorkerPing:        "ping",
}

// XMLRPCURL turns a node address (host:port, or an http:// URL with or
// without a path) into the URL of its XML-RPC endpoint.
func XMLRPCURL(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("rpcapi: address %q: %v", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("rpcapi: address %q: scheme %q not supported (use http or https)", addr, u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("rpcapi: address %q has no host", addr)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = XMLRPCPath
	}
	return u.String(), nil
}

// NewCaller returns a client for the node at addr over transport: "gob"
// (or "") for net/rpc, "xmlrpc" for XML-RPC.
func NewCaller(addr, transport string, opts ...Option) (Caller, error) {
	switch transport {
	case "", TransportGob:
		if strings.Contains(addr, "://") && !strings.HasPrefix(addr, "http://") && !strings.HasPrefix(addr, "https://") {
			return nil, fmt.Errorf("rpcapi: address %q: only http:// and https:// are supported", addr)
		}
		return NewClient(addr, opts...), nil
	case TransportXMLRPC:
		return NewXMLClient(addr, opts...)
	}
	return nil, fmt.Errorf("rpcapi: transport %q: want %q or %q", transport, TransportGob, TransportXMLRPC)
}

// XMLClient is an XML-RPC client for one node, built on kolo/xmlrpc. Each
// call is one HTTP POST; concurrent calls use separate kolo clients from a
// small pool, so a long-polling call does not hold up a heartbeat. It is
// safe for concurrent use.
type XMLClient struct {
	url   string
	token string
	base  http.RoundTripper

	mu     sync.Mutex // guards idle and closed
	idle   []*xmlConn
	closed bool
}

// xmlConn is one kolo client with a transport whose context is set per
// call, which makes its requests cancellable.
type xmlConn struct {
	rc *xmlrpc.Client
	rt *ctxTransport
}

type ctxTransport struct {
	ctx   context.Context
	token string
	base  http.RoundTripper
}

func (t *ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.WithContext(t.ctx)
	if t.token != "" {
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.base.RoundTrip(r)
}

var xmlTransport = &http.Transport{
	Proxy:               nil,
	MaxIdleConnsPerHost: 16,
	IdleConnTimeout:     90 * time.Second,
	DisableCompression:  true,
}

// NewXMLClient returns an XML-RPC client for addr (see XMLRPCURL).
func NewXMLClient(addr string, opts ...Option) (*XMLClient, error) {
	o := collect(opts)
	if o.tls != nil && !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := XMLRPCURL(addr)
	if err != nil {
		return nil, err
	}
	c := &XMLClient{url: u, token: o.token, base: xmlTransport}
	if o.tls != nil {
		t := xmlTransport.Clone()
		t.TLSClientConfig = o.tls
		c.base = t
	}
	return c, nil
}

// URL returns the endpoint the client posts to.
func (c *XMLClient) URL() string { return c.url }

func (c *XMLClient) get() (*xmlConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("%w: client closed", ErrUnavailable)
	}
	if n := len(c.idle); n > 0 {
		x := c.idle[n-1]
		c.idle = c.idle[:n-1]
		return x, nil
	}
	rt := &ctxTransport{base: c.base, token: c.token}
	rc, err := xmlrpc.NewClient(c.url, rt)
	if err != nil {
		return nil, fmt.Errorf("rpcapi: %w", err)
	}
	return &xmlConn{rc: rc, rt: rt}, nil
}

func (c *XMLClient) put(x *xmlConn) {
	x.rt.ctx = nil
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.idle) >= 8 {
		x.rc.Close()
		return
	}
	c.idle = append(c.idle, x)
}

var faultRe = regexp.MustCompile(`^Fault\((-?\d+)\): ((?s).*)$`)

// Call implements Caller: method is the contract's net/rpc name; args and
// reply are the rpcapi types, mapped to XML-RPC structs by their xmlrpc
// tags.
func (c *XMLClient) Call(ctx context.Context, method string, args, reply any) error {
	name, ok := xmlNames[method]
	if !ok {
		return fmt.Errorf("%w: no XML-RPC name for %s", ErrBadRequest, method)
	}
	tree, err := wireFromGoCompact(args)
	if err != nil {
		return fmt.Errorf("%w: encode %s args: %v", ErrBadRequest, name, err)
	}
	x, err := c.get()
	if err != nil {
		return err
	}
	x.rt.ctx = ctx
	var raw any
	err = x.rc.Call(name, tree, &raw)
	c.put(x)
	if err != nil {
		msg := err.Error()
		switch m := faultRe.FindStringSubmatch(msg); {
		case ctx.Err() != nil:
			return fmt.Errorf("%w: %s to %s: %v", ErrUnavailable, name, c.url, ctx.Err())
		case m != nil:
			code, _ := strconv.Atoi(m[1])
			return faultError(code, m[2])
		case strings.Contains(msg, "bad status code - 401"):
			return fmt.Errorf("%w: %s to %s refused the token (set the same token on both sides)", ErrUnauthorized, name, c.url)
		case strings.Contains(msg, "bad status code - 413"):
			return fmt.Errorf("%w: %s to %s: request body too large (HTTP 413)", ErrBadRequest, name, c.url)
		}
		return fmt.Errorf("%w: %s to %s: %v", ErrUnavailable, name, c.url, err)
	}
	if err := wireToGo(raw, reply, "result"); err != nil {
		return fmt.Errorf("%w: decode %s reply: %v", ErrInternal, name, err)
	}
	return nil
}

// faultError rebuilds a server fault as the matching sentinel.
func faultError(code int, msg string) error {
	for c, fc := range faultCodes {
		if fc == code {
			return &remoteError{sentinel: sentinels[c], msg: msg}
		}
	}
	switch code {
	case FaultParse, FaultInvalidParams:
		return &remoteError{sentinel: ErrBadRequest, msg: msg}
	case FaultMethodNotFound:
		return &remoteError{sentinel: ErrNotFound, msg: msg}
	}
	return &remoteError{sentinel: ErrInternal, msg: fmt.Sprintf("fault %d: %s", code, msg)}
}

// Close releases idle connections; later calls fail.
func (c *XMLClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, x := range c.idle {
		x.rc.Close()
	}
	c.idle = nil
	return nil
}
