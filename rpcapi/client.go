package rpcapi

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/drover/drover/internal/rawsock"
	"github.com/drover/drover/jobs"
)

// Caller is what both transports offer: one call, bounded by ctx. A call
// abandoned because ctx ended may still complete on the server.
type Caller interface {
	Call(ctx context.Context, method string, args, reply any) error
	Close() error
}

// DialTimeout bounds connecting and the CONNECT handshake.
const DialTimeout = 5 * time.Second

// HostPort strips an http:// or https:// scheme and a trailing slash from
// addr.
func HostPort(addr string) string {
	addr = strings.TrimPrefix(addr, "http://")
	addr = strings.TrimPrefix(addr, "https://")
	return strings.TrimSuffix(addr, "/")
}

// splitCredentials takes a user:password@ part off hostPort and returns
// the rest and the password (unescaped, as in a URL), "" when there is
// none.
func splitCredentials(hostPort string) (host, password string) {
	at := strings.LastIndex(hostPort, "@")
	if at < 0 {
		return hostPort, ""
	}
	_, password, _ = strings.Cut(hostPort[:at], ":")
	if p, err := url.PathUnescape(password); err == nil {
		password = p
	}
	return hostPort[at+1:], password
}

// addrError is an address a client cannot use. errors.Is matches it to
// ErrBadRequest; its text is its own.
type addrError struct{ msg string }

func (e *addrError) Error() string { return e.msg }
func (e *addrError) Unwrap() error { return ErrBadRequest }

// badAddr returns an *addrError.
func badAddr(format string, args ...any) error {
	return &addrError{fmt.Sprintf(format, args...)}
}

// checkPort refuses a port that cannot be dialed: not a number (or a
// service name) from 1 to 65535. hostPort is the address, as errors show
// it.
func checkPort(hostPort, port string) error {
	if n, err := net.LookupPort("tcp", port); err != nil || n == 0 {
		return badAddr("rpcapi: address %q: port %q is not a port from 1 to 65535", hostPort, port)
	}
	return nil
}

// checkGoAddr refuses an address a gob client cannot dial: one that is
// not host:port (after an http:// or https:// scheme and a user:password@
// part are taken off), a path after the port included.
func checkGoAddr(addr string) error {
	hostPort, _ := splitCredentials(HostPort(addr))
	_, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		msg := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			msg = ae.Err
		}
		return badAddr("rpcapi: address %q: %s (want host:port)", hostPort, msg)
	}
	return checkPort(hostPort, port)
}

// Client is a net/rpc (gob) client for one node. It connects on first use
// and again after the connection breaks, so it survives the other side
// restarting. It is safe for concurrent use; calls share one connection,
// and calls that find none wait for one dial (each until its own ctx
// ends) rather than each making its own. A call reads replies itself
// while no other call does, so a call alone in flight reads its own
// (see muxConn).
type Client struct {
	goTarget
	life  context.Context    // ends with Close: bounds the dial in flight
	stop  context.CancelFunc // ends life
	dials sync.WaitGroup     // the dial in flight

	mu      sync.Mutex // guards rc, dialing and closed
	rc      *muxConn
	dialing *dialing // the dial in flight, or nil
	closed  bool
}

// dialing is a dial in flight that calls wait for: done is closed once rc
// or err is set.
type dialing struct {
	done chan struct{}
	rc   *muxConn
	err  error
}

// goTarget is the node a gob client dials, and how.
type goTarget struct {
	addr  string
	token string
	tls   *tls.Config // nil: plain TCP
}

// newGoTarget returns the target of a gob client for addr (host:port, or
// an http:// or https:// address) with opts. A user:password@ part in
// addr is taken off it, and its password is the token unless opts give
// one, as the XML-RPC client sends it (HTTP Basic auth).
func newGoTarget(addr string, opts []Option) goTarget {
	o := collect(opts)
	host, password := splitCredentials(HostPort(addr))
	t := goTarget{addr: host, token: cmp.Or(o.token, password), tls: o.tls}
	if t.tls == nil && strings.HasPrefix(addr, "https://") {
		t.tls = &tls.Config{}
	}
	return t
}

// dial connects to the target's net/rpc endpoint.
func (t goTarget) dial(ctx context.Context) (net.Conn, error) {
	return dialGoConn(ctx, t.addr, t.token, t.tls)
}

// NewClient returns a client for the node at addr (host:port). It does not
// connect until the first call.
func NewClient(addr string, opts ...Option) *Client {
	life, stop := context.WithCancel(context.Background())
	return &Client{goTarget: newGoTarget(addr, opts), life: life, stop: stop}
}

// Addr returns the address the client dials.
func (c *Client) Addr() string { return c.addr }

// conn returns the connection, dialing it if there is none: one dial for
// every call that finds none, each waiting for it until its own ctx ends.
func (c *Client) conn(ctx context.Context) (*muxConn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: client closed", ErrUnavailable)
	}
	if c.rc != nil {
		rc := c.rc
		c.mu.Unlock()
		return rc, nil
	}
	if err := ctx.Err(); err != nil {
		c.mu.Unlock()
		return nil, c.unconnected(err)
	}
	d := c.dialing
	if d == nil {
		// The dial is no one call's: a call that gives up waiting for it
		// leaves it to the others. Close ends it; DialTimeout bounds it.
		d = &dialing{done: make(chan struct{})}
		c.dialing = d
		c.dials.Go(func() { c.dialFor(d) })
	}
	c.mu.Unlock()
	select {
	case <-d.done:
		return d.rc, d.err
	case <-ctx.Done():
		return nil, c.unconnected(ctx.Err())
	}
}

// unconnected is the error of a call whose ctx ended (ctxErr) before it
// had a connection: it was not sent.
func (c *Client) unconnected(ctxErr error) error {
	return &NotSentError{fmt.Errorf("%w: connect %s%s: %v", ErrUnavailable, c.addr, GoRPCPath, ctxErr)}
}

// dialFor makes the dial d and hands its connection to the client and to
// the calls waiting for d.
func (c *Client) dialFor(d *dialing) {
	conn, err := c.dial(c.life)
	var rc *muxConn
	if err == nil {
		rc = newMuxConn(conn)
	}
	c.mu.Lock()
	c.dialing = nil
	if c.closed {
		if rc != nil {
			rc.Close()
		}
		rc, err = nil, fmt.Errorf("%w: client closed", ErrUnavailable)
	}
	if rc != nil {
		c.rc = rc
	}
	c.mu.Unlock()
	d.rc, d.err = rc, err
	close(d.done)
}

// drop forgets rc if it is still the current connection.
func (c *Client) drop(rc *muxConn) {
	c.mu.Lock()
	if c.rc == rc {
		c.rc = nil
	}
	c.mu.Unlock()
	rc.Close()
}

// Call implements Caller. Server errors come back with their sentinel
// (errors.Is works); a broken connection is ErrUnavailable.
func (c *Client) Call(ctx context.Context, method string, args, reply any) error {
	rc, err := c.conn(ctx)
	if err != nil {
		return err
	}
	err, sent := rc.call(ctx, method, args, reply)
	if !sent {
		// The connection broke before this call (the other side
		// restarted), so it was not sent: redial once.
		c.drop(rc)
		if rc, err = c.conn(ctx); err != nil {
			return err
		}
		err, _ = rc.call(ctx, method, args, reply)
	}
	var se rpc.ServerError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return decode(string(se))
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return fmt.Errorf("%w: %s to %s: %v", ErrUnavailable, method, c.addr, err)
	default:
		// The connection is broken (EOF, reset, closed): redial next time.
		c.drop(rc)
		return fmt.Errorf("%w: %s to %s: %v", ErrUnavailable, method, c.addr, err)
	}
}

// NotSentError is a call that never reached the node: connecting to it
// failed (refused, timed out, the CONNECT answered with something else),
// so the node did nothing. Its text and errors.Is are those of Err (an
// ErrUnavailable); NotSent finds it.
type NotSentError struct{ Err error }

func (e *NotSentError) Error() string { return e.Err.Error() }
func (e *NotSentError) Unwrap() error { return e.Err }

// NotSent reports whether err says that the call never reached the node
// (a *NotSentError in its chain): another node may be called instead
// without the call happening twice.
func NotSent(err error) bool {
	var ns *NotSentError
	return errors.As(err, &ns)
}

// Close closes the connection and ends a dial in flight; later calls
// fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	rc := c.rc
	c.rc = nil
	c.mu.Unlock()
	c.stop()
	c.dials.Wait()
	if rc != nil {
		return rc.Close()
	}
	return nil
}

// dialGoConn connects to a node's net/rpc endpoint: the CONNECT to
// GoRPCPath, with the token.
func dialGoConn(ctx context.Context, addr, token string, tlsCfg *tls.Config) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if tlsCfg != nil {
		d := tls.Dialer{Config: tlsCfg}
		conn, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, &NotSentError{fmt.Errorf("%w: dial %s: %v", ErrUnavailable, addr, err)}
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// ctx ending (a Close) ends the handshake too.
	expire := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer expire()
	req := "CONNECT " + GoRPCPath + " HTTP/1.0\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\n"
	}
	io.WriteString(conn, req+"\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "CONNECT"})
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		conn.Close()
		return nil, fmt.Errorf("%w: %s refused the token (set the same token on both sides)", ErrUnauthorized, addr)
	}
	if err == nil && resp.Status != "200 Connected to Go RPC" {
		err = fmt.Errorf("unexpected HTTP response %q", resp.Status)
		if msg := statusText(resp); msg != "" {
			err = fmt.Errorf("unexpected HTTP response %q: %s", resp.Status, msg)
		}
	}
	if err == nil && !expire() {
		err = ctx.Err() // ended as the handshake did: the deadline is spent
	}
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &NotSentError{fmt.Errorf("%w: connect %s%s: %v", ErrUnavailable, addr, GoRPCPath, err)}
	}
	conn.SetDeadline(time.Time{})
	return rawsock.Wrap(conn), nil
}

// MasterClient calls a master through any Caller.
type MasterClient struct{ C Caller }

// WorkerClient calls a worker through any Caller.
type WorkerClient struct{ C Caller }

// Register announces a worker (register_worker) and returns its ID, its
// secret and the master's timings.
func (m MasterClient) Register(ctx context.Context, a *RegisterArgs) (*RegisterReply, error) {
	return invoke[RegisterReply](ctx, m.C, MasterRegister, a)
}

// Heartbeat reports a worker alive with what it holds (heartbeat); the
// reply lists the attempts it must stop.
func (m MasterClient) Heartbeat(ctx context.Context, a *HeartbeatArgs) (*HeartbeatReply, error) {
	return invoke[HeartbeatReply](ctx, m.C, MasterHeartbeat, a)
}

// Complete records finished attempts (task_complete) and counts those
// accepted, dropped and refused.
func (m MasterClient) Complete(ctx context.Context, a *CompleteArgs) (*CompleteReply, error) {
	return invoke[CompleteReply](ctx, m.C, MasterComplete, a)
}

// Logout makes a worker dead (logout_worker); the master requeues what it
// still held.
func (m MasterClient) Logout(ctx context.Context, a *LogoutArgs) error {
	return m.C.Call(ctx, MasterLogout, a, new(Empty))
}

// Status returns the master's counts by state, its workers and its
// version (get_master_status).
func (m MasterClient) Status(ctx context.Context) (*StatusReply, error) {
	return invoke[StatusReply](ctx, m.C, MasterStatus, &Empty{})
}

// Submit submits the specs of a, all or none (submit_jobs), and returns
// one job ID per spec, in order: a spec whose key is known gets that
// job's ID, and no new job.
func (m MasterClient) Submit(ctx context.Context, a *SubmitArgs) (*SubmitReply, error) {
	return invoke[SubmitReply](ctx, m.C, MasterSubmit, a)
}

// GetJob returns job id and why it waits (get_job), or ErrNotFound.
func (m MasterClient) GetJob(ctx context.Context, id string) (*JobInfo, error) {
	return invoke[JobInfo](ctx, m.C, MasterGetJob, &GetJobArgs{ID: id})
}

// ListJobs returns one page of jobs: a.Limit of them at most (0: the
// master's default page size), and the cursor of the next page. See
// AllJobs to list them all.
func (m MasterClient) ListJobs(ctx context.Context, a *ListJobsArgs) (*ListJobsReply, error) {
	return invoke[ListJobsReply](ctx, m.C, MasterListJobs, a)
}

// AllJobs calls fn with each page of the jobs a selects, from a.Cursor to
// the last page, one ListJobs call a page, until fn returns an error. The
// master bounds each reply; the client holds one page at a time.
func (m MasterClient) AllJobs(ctx context.Context, a ListJobsArgs, fn func([]jobs.Job) error) error {
	for {
		r, err := m.ListJobs(ctx, &a)
		if err != nil {
			return err
		}
		if err := fn(r.Jobs); err != nil {
			return err
		}
		if r.NextCursor == "" {
			return nil
		}
		a.Cursor = r.NextCursor
	}
}

// ListAllJobs returns every job a selects, walking every page.
func (m MasterClient) ListAllJobs(ctx context.Context, a ListJobsArgs) ([]jobs.Job, error) {
	var out []jobs.Job
	err := m.AllJobs(ctx, a, func(page []jobs.Job) error { out = append(out, page...); return nil })
	return out, err
}

// ListWorkersPage returns one page of workers and the cursor of the next.
func (m MasterClient) ListWorkersPage(ctx context.Context, a *ListWorkersArgs) (*ListWorkersReply, error) {
	return invoke[ListWorkersReply](ctx, m.C, MasterListWorkers, a)
}

// ListWorkers returns every worker the master lists (live ones and the
// latest dead ones), the latest registered first, walking every page. Its
// first call has no args, as a master from before paging expects.
func (m MasterClient) ListWorkers(ctx context.Context) (*ListWorkersReply, error) {
	all := new(ListWorkersReply)
	var a ListWorkersArgs
	for {
		r, err := m.ListWorkersPage(ctx, &a)
		if err != nil {
			return all, err
		}
		all.Workers = append(all.Workers, r.Workers...)
		if r.NextCursor == "" {
			return all, nil
		}
		a.Cursor = r.NextCursor
	}
}

// Cancel cancels the jobs a names, or its group's (cancel_jobs).
func (m MasterClient) Cancel(ctx context.Context, a *CancelArgs) (*CancelReply, error) {
	return invoke[CancelReply](ctx, m.C, MasterCancel, a)
}

// Purge deletes the finished jobs a selects (purge_jobs) and says how
// many it deleted.
func (m MasterClient) Purge(ctx context.Context, a *PurgeArgs) (*PurgeReply, error) {
	return invoke[PurgeReply](ctx, m.C, MasterPurge, a)
}

// Wait blocks until the jobs a names are final or its timeout (at most
// 30 s) passes (wait_jobs); loop for longer waits.
func (m MasterClient) Wait(ctx context.Context, a *WaitArgs) (*WaitReply, error) {
	return invoke[WaitReply](ctx, m.C, MasterWait, a)
}

// Fetch long-polls for a pull worker's tasks and cancels (fetch_tasks).
func (m MasterClient) Fetch(ctx context.Context, a *FetchArgs) (*FetchReply, error) {
	return invoke[FetchReply](ctx, m.C, MasterFetch, a)
}

// ListSchedules returns the master's schedules (list_schedules).
func (m MasterClient) ListSchedules(ctx context.Context) (*ListSchedulesReply, error) {
	return invoke[ListSchedulesReply](ctx, m.C, MasterSchedules, &Empty{})
}

// PauseSchedule pauses schedule name (pause_schedule) and returns it, or
// ErrNotFound.
func (m MasterClient) PauseSchedule(ctx context.Context, name string) (*ScheduleInfo, error) {
	return invoke[ScheduleInfo](ctx, m.C, MasterPause, &ScheduleArgs{Name: name})
}

// ResumeSchedule resumes schedule name (resume_schedule) and returns it,
// or ErrNotFound.
func (m MasterClient) ResumeSchedule(ctx context.Context, name string) (*ScheduleInfo, error) {
	return invoke[ScheduleInfo](ctx, m.C, MasterResume, &ScheduleArgs{Name: name})
}

// Assign hands tasks to a push worker (assign_task), which says at once
// which it accepted.
func (w WorkerClient) Assign(ctx context.Context, a *AssignArgs) (*AssignReply, error) {
	return invoke[AssignReply](ctx, w.C, WorkerAssign, a)
}

// Cancel tells a push worker to stop these attempts (cancel_task).
func (w WorkerClient) Cancel(ctx context.Context, a *WorkerCancelArgs) error {
	return w.C.Call(ctx, WorkerCancel, a, new(Empty))
}

// Ping returns a worker's name, running count and slots (ping).
func (w WorkerClient) Ping(ctx context.Context) (*PingReply, error) {
	return invoke[PingReply](ctx, w.C, WorkerPing, &Empty{})
}

// invoke calls method with args on c and returns the reply. The reply is
// returned even with an error, as net/rpc leaves it.
func invoke[R any](ctx context.Context, c Caller, method string, args any) (*R, error) {
	r := new(R)
	return r, c.Call(ctx, method, args, r)
}

// GetGroup returns one group with its unsuccessful jobs (a list, empty
// when none failed), or ErrNotFound.
func (m MasterClient) GetGroup(ctx context.Context, name string) (*GroupInfo, error) {
	r := new(GroupInfo)
	if err := m.C.Call(ctx, MasterGetGroup, &GetGroupArgs{Name: name}, r); err != nil {
		return r, err
	}
	r.AsDetail()
	return r, nil
}

// ListGroups returns one page of groups and the cursor of the next.
func (m MasterClient) ListGroups(ctx context.Context, a *ListGroupsArgs) (*ListGroupsReply, error) {
	return invoke[ListGroupsReply](ctx, m.C, MasterListGroups, a)
}

// ListQueues returns the queues view (list_queues): the lanes a selects,
// biggest first, and how many the limit left out. Its lists are never
// nil (AsView).
func (m MasterClient) ListQueues(ctx context.Context, a *ListQueuesArgs) (*ListQueuesReply, error) {
	r := new(ListQueuesReply)
	if err := m.C.Call(ctx, MasterListQueues, a, r); err != nil {
		return r, err
	}
	r.AsView()
	return r, nil
}
