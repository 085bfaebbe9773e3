package rpcapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/drover/drover/internal/xmlrpc"
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
	MasterGetGroup:    "get_group",
	MasterListGroups:  "list_groups",
	MasterListQueues:  "list_queues",
	WorkerAssign:      "assign_task",
	WorkerCancel:      "cancel_task",
	WorkerPing:        "ping",
	WorkerReadLog:     "read_log",
}

// XMLRPCURL turns a node address (host:port, or an http:// or https://
// URL with or without a port and a path) into the URL of its XML-RPC
// endpoint. An address it refuses matches ErrBadRequest.
func XMLRPCURL(addr string) (string, error) {
	bare := !strings.Contains(addr, "://")
	if bare {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", badAddr("rpcapi: address %q: %v", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", badAddr("rpcapi: address %q: scheme %q not supported (use http or https)", addr, u.Scheme)
	}
	if u.Host == "" {
		return "", badAddr("rpcapi: address %q has no host", addr)
	}
	switch {
	case bare && u.Port() == "":
		// A URL's port may be left out (80, 443); a host:port's may not.
		return "", badAddr("rpcapi: address %q: missing port in address (want host:port, or an http:// or https:// URL)", u.Host)
	case u.Port() != "":
		if err := checkPort(u.Host, u.Port()); err != nil {
			return "", err
		}
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = XMLRPCPath
	}
	return u.String(), nil
}

// NewCaller returns a client for the node at addr over transport: "gob"
// (or "") for net/rpc, "xmlrpc" for XML-RPC. It does not connect. An
// address the transport cannot use (for gob, one that is not host:port
// after its scheme; for XML-RPC, a host:port without its port, see
// XMLRPCURL) is an error that matches ErrBadRequest.
func NewCaller(addr, transport string, opts ...Option) (Caller, error) {
	switch transport {
	case "", TransportGob:
		if strings.Contains(addr, "://") && !strings.HasPrefix(addr, "http://") && !strings.HasPrefix(addr, "https://") {
			return nil, badAddr("rpcapi: address %q: only http:// and https:// are supported", addr)
		}
		if err := checkGoAddr(addr); err != nil {
			return nil, err
		}
		return NewClient(addr, opts...), nil
	case TransportXMLRPC:
		return NewXMLClient(addr, opts...)
	}
	return nil, fmt.Errorf("rpcapi: transport %q: want %q or %q", transport, TransportGob, TransportXMLRPC)
}

// XMLClient is an XML-RPC client for one node. Each call is one HTTP POST
// bound by its context; concurrent calls share a pool of connections, so
// a long-polling call does not hold up a heartbeat. It is safe for
// concurrent use.
type XMLClient struct {
	url   string
	shown string // url as errors show it: without a password
	token string
	hc    *http.Client
	own   *http.Transport // the client's own transport (for TLS), or nil

	mu     sync.Mutex // guards closed
	closed bool
}

var xmlTransport = &http.Transport{
	Proxy:               nil,
	MaxIdleConnsPerHost: 16,
	IdleConnTimeout:     90 * time.Second,
	DisableCompression:  true,
}

// xmlReplyLimits bounds the decoding of a reply no more than the server
// bounds the reply (max_reply_bytes): a reply nests as deep as the Go
// values it maps (wireFromGo follows 1,000 levels), and holds as many
// values as fit.
var xmlReplyLimits = xmlrpc.Limits{MaxDepth: wireMaxDepth + 2, MaxValues: math.MaxInt}

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
	c := &XMLClient{url: u, shown: u, token: o.token, hc: &http.Client{Transport: xmlTransport}}
	if pu, err := url.Parse(u); err == nil {
		c.shown = pu.Redacted() // errors never show a password of the URL
	}
	if o.tls != nil {
		c.own = xmlTransport.Clone()
		c.own.TLSClientConfig = o.tls
		c.hc = &http.Client{Transport: c.own}
	}
	return c, nil
}

// URL returns the endpoint the client posts to.
func (c *XMLClient) URL() string { return c.url }

// Call implements Caller: method is the contract's net/rpc name; args and
// reply are the rpcapi types, mapped to XML-RPC structs by their xmlrpc
// tags. A fault comes back as the sentinel of its code (errors.Is works);
// HTTP 401 is ErrUnauthorized, HTTP 413 ErrBadRequest, and a failed
// exchange ErrUnavailable.
func (c *XMLClient) Call(ctx context.Context, method string, args, reply any) error {
	name, ok := xmlNames[method]
	if !ok {
		return fmt.Errorf("%w: no XML-RPC name for %s", ErrBadRequest, method)
	}
	tree, err := wireFromGoCompact(args)
	if err != nil {
		return fmt.Errorf("%w: encode %s args: %v", ErrBadRequest, name, err)
	}
	var body bytes.Buffer
	if err := xmlrpc.EncodeCall(&body, name, tree); err != nil {
		return fmt.Errorf("%w: encode %s args: %v", ErrBadRequest, name, err)
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("%w: client closed", ErrUnavailable)
	}
	raw, err := c.post(ctx, &body)
	if err != nil {
		return c.callError(ctx, name, err)
	}
	if err := wireToGo(raw, reply, "result"); err != nil {
		return fmt.Errorf("%w: decode %s reply: %v", ErrInternal, name, err)
	}
	return nil
}

// xmlStatusError is an HTTP reply other than 2xx.
type xmlStatusError struct {
	code   int
	status string
	msg    string // the start of the body, when it is text
}

func (e *xmlStatusError) Error() string {
	if e.msg != "" {
		return "HTTP " + e.status + ": " + e.msg
	}
	return "HTTP " + e.status
}

// post sends the call in body and decodes the reply: the tree of its
// result, or a *xmlrpc.Fault, an *xmlStatusError, or the error of the
// exchange.
func (c *XMLClient) post(ctx context.Context, body *bytes.Buffer) (any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := statusText(resp)
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can serve again
		return nil, &xmlStatusError{code: resp.StatusCode, status: resp.Status, msg: msg}
	}
	return xmlrpc.DecodeResponse(resp.Body, xmlReplyLimits)
}

// statusText returns the start of a refusal's body when it is plain text
// (the server's reason: a refused Host or Origin), or "".
func statusText(resp *http.Response) string {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
}

// callError turns the error of post into the contract's: a fault into its
// sentinel, some HTTP statuses into theirs, the rest into ErrUnavailable.
func (c *XMLClient) callError(ctx context.Context, name string, err error) error {
	var fault *xmlrpc.Fault
	var status *xmlStatusError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %s to %s: %v", ErrUnavailable, name, c.shown, ctx.Err())
	case errors.As(err, &fault):
		return faultError(fault.Code, fault.String)
	case errors.As(err, &status) && status.code == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s to %s refused the token (set the same token on both sides)", ErrUnauthorized, name, c.shown)
	case errors.As(err, &status) && status.code == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%w: %s to %s: request body too large (HTTP 413)", ErrBadRequest, name, c.shown)
	}
	if dialFailed(err) {
		return &NotSentError{fmt.Errorf("%w: %s to %s: %v", ErrUnavailable, name, c.shown, err)}
	}
	return fmt.Errorf("%w: %s to %s: %v", ErrUnavailable, name, c.shown, err)
}

// dialFailed reports whether err is a failure to connect: the request was
// not sent.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
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

// Close marks the client closed: later calls fail. It releases the idle
// connections of a TLS client (the others share a pool).
func (c *XMLClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
	return nil
}
