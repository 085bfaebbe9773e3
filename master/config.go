package master

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/listen"
	"github.com/drover/drover/internal/webguard"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Store kinds for Config.Store.
const (
	StoreBolt   = "bolt"
	StoreMemory = "memory"
)

// Values of Config.ClientCancel.
const (
	ClientCancelAny = "any" // a client token cancels any job
	ClientCancelOwn = "own" // a client token cancels only the jobs it submitted
)

// Config configures a Master. The zero value of every field means its
// documented default, so Config{} is a working master on 127.0.0.1:7070
// with a bbolt store in ./drover-data.
type Config struct {
	// Listen is the address of the master's one HTTP listener (net/rpc at
	// /_goRPC_). Port 0 picks a free port; Addr reports it. Default
	// "127.0.0.1:7070".
	Listen string
	// DataDir holds the bbolt store file. Default "./drover-data".
	DataDir string
	// Store is "bolt" (default) or "memory" (nothing on disk).
	Store string
	// HeartbeatInterval is how often workers beat; the master hands it to
	// them at registration. Default 1s; at least MinHeartbeatInterval.
	HeartbeatInterval time.Duration
	// DeadAfter is how long a worker may stay silent before it is reaped
	// and its running jobs requeued as lost. Default 3 heartbeat intervals;
	// it must be more than one interval.
	DeadAfter time.Duration
	// RetryBackoff is the delay before the first retry; it doubles per
	// failure up to MaxBackoff, with jitter. Default 1s, or MaxBackoff
	// when that is shorter; it must not be more than MaxBackoff.
	RetryBackoff time.Duration
	// MaxBackoff caps the retry delay. Default 5m.
	MaxBackoff time.Duration
	// AssignBatch caps the jobs in one Assign call. Default 64.
	AssignBatch int
	// Token, when set, is an admin token (rpcapi.RoleAdmin: it may do
	// everything) named "token". With Token or Tokens set, every request
	// to the master (both RPC paths, the JSON API, the event stream,
	// metrics, the dashboard) must carry one of them, and may do what its
	// role allows. With neither: no auth, everything is allowed to anyone
	// (the master warns when it listens beyond loopback so).
	Token string
	// Tokens are further tokens, each with a name and a role (a tokens
	// file; see docs/security.md). SetTokens replaces them while the
	// master runs. A push worker is called with the token it registered
	// with.
	Tokens []rpcapi.Credential
	// ClientCancel says which jobs a client token (rpcapi.RoleClient)
	// may cancel: ClientCancelAny (the default, also ""), every job, or
	// ClientCancelOwn, only the jobs it submitted (jobs.Job.Submitter is
	// its name). Under ClientCancelOwn a cancel naming a job of another
	// submitter is refused with rpcapi.ErrForbidden and cancels nothing,
	// and a cancel of a group cancels the token's own live jobs of the
	// group and counts the others in CancelReply.Skipped. Admin tokens
	// cancel any job.
	ClientCancel string
	// AllowedHosts are host names, besides the default ones, that the
	// listener answers to in the Host header; "*" allows any. By default
	// it answers to IP addresses, "localhost" and names under .localhost,
	// the machine's host name (os.Hostname) and the host name of Listen:
	// another Host (a web page's own name rebound to this machine's
	// address) gets HTTP 403. Add the names that clients, workers and a
	// reverse proxy reach the master by.
	AllowedHosts []string
	// WorkerHosts are hosts that a push worker may name in its addr
	// whatever address it registers from: IP addresses, CIDR prefixes
	// ("10.0.0.0/8"), host names in which "*" matches any run of
	// characters within one label ("crawler-*.internal"), or "*" for any
	// host. Without them the master calls a worker only at the IP its
	// register_worker call came from (or, for a call from loopback, at a
	// loopback address or "localhost"), so that no caller can make the
	// master send its token to a host of the caller's choosing. A worker
	// that advertises a DNS name, or registers through a proxy or NAT
	// other than the one it is reached at, needs its host here.
	WorkerHosts []string
	// TLS, when set, makes the listener serve TLS with it. Set ClientCAs
	// and ClientAuth for mutual TLS.
	TLS *tls.Config
	// ClientTLS is used to dial workers that advertise https:// addresses
	// (RootCAs to verify them, Certificates for mutual TLS). Nil: the
	// system's roots.
	ClientTLS *tls.Config
	// MaxRequestBody bounds an XML-RPC or JSON request body (bigger gets
	// HTTP 413) and each gob message (one bigger closes the connection
	// before it is read). Default 4 MiB.
	MaxRequestBody int64
	// MaxCallsInFlight bounds the calls that can wait (Wait, Fetch,
	// Submit, ...) running at once for one gob connection; when that many
	// run, the master reads nothing more from that connection until one
	// ends. Default 256.
	MaxCallsInFlight int
	// GobIdleTimeout closes a gob connection after its CONNECT once no
	// call has been in flight on it this long. Default 5m.
	GobIdleTimeout time.Duration
	// MaxXMLDepth bounds the nesting of structs and arrays in an XML-RPC
	// request. Default 32.
	MaxXMLDepth int
	// MaxSubmit bounds the jobs in one Submit call. Default 100000.
	MaxSubmit int
	// MaxArgsBytes bounds a job's args (names and values, summed) and
	// input together. Default 64 KiB.
	MaxArgsBytes int
	// MaxResultBytes bounds a report's output, data, error and stats
	// together; a report over it is recorded as a failed attempt saying
	// so, without retries. Default 1 MiB. Workers are told the smaller
	// of it and half of MaxRequestBody (register_worker's
	// max_result_bytes), so that their reports reach the master.
	MaxResultBytes int
	// MaxConnections bounds open connections to the listener; one more is
	// answered HTTP 503 and closed. Default 10000. Connections count here
	// once they have made an authenticated request; until then they are
	// anonymous, with a budget of their own:
	MaxConnections int
	// MaxAnonymousConnections bounds the open connections that have not
	// yet made an authenticated request; a new one beyond them closes the
	// oldest. Default 64.
	MaxAnonymousConnections int
	// MaxAnonymousPerAddress bounds those from one source IP address; a
	// new one beyond them closes that address's oldest, so a flood from
	// one address churns only its own. Default 32 (at most
	// MaxAnonymousConnections).
	MaxAnonymousPerAddress int
	// PreAuthTimeout closes a connection that has made no authenticated
	// request this long after it was accepted. Default 10s.
	PreAuthTimeout time.Duration
	// MaxSubmitBytes bounds one submit after decoding: its jobs' text
	// (type, args, input, keys, group, tags, and the then job's) plus 512
	// bytes a job for what the master keeps of each. Default 64 MiB.
	MaxSubmitBytes int
	// MaxReplyBytes bounds every reply the master builds; a listing that
	// would be bigger ends its page early and returns a cursor for the
	// rest. Default 16 MiB; at least MinMaxReplyBytes.
	MaxReplyBytes int
	// Retain is how long a finished job (succeeded, failed or cancelled)
	// stays in the master's memory after it finished. Default 1h; at least
	// MinRetain.
	Retain time.Duration
	// RetainJobs bounds the finished jobs kept in memory; past it, the
	// jobs that finished first leave first. Default 100000; at least
	// MinRetainJobs.
	RetainJobs int
	// History is how long a finished job stays in the store, readable from
	// the API and the CLI, after it finished. Default 720h (30 days), or
	// Retain when that is longer; it must not be less than Retain.
	History time.Duration
	// HistoryJobs bounds the finished jobs kept in the store; past it, the
	// jobs that finished first leave first. Default 1000000, or RetainJobs
	// when that is more; it must not be less than RetainJobs.
	HistoryJobs int
	// MetricTypes bounds the job types that get metric series of their
	// own; jobs of further types share the series with type="other".
	// Default 1000; at least MinMetricTypes.
	MetricTypes int
	// GCPercent, when not zero, is set as the process's garbage-collection
	// target at Start (runtime/debug.SetGCPercent, 10 to 10000). A master
	// holds every job and allocates for each one it runs: a higher target
	// spends memory to save CPU (BENCHMARKS.md measures 200). Zero leaves
	// the process's setting: Go's 100, or $GOGC.
	GCPercent int
	// Limits bound the jobs of each limit key (Spec.LimitKey): how many run
	// at once fleet-wide and how fast they are dispatched.
	Limits map[string]Limit
	// DefaultLimit applies to limit keys not in Limits. Zero: no bound.
	DefaultLimit Limit
	// TypeLimits bound the jobs of each type the same way.
	TypeLimits map[string]Limit
	// Notify configures webhooks and email for group ends and final
	// failures.
	Notify Notify
	// Jobs are submitted at start (a jobs file). Each must carry a Key, so a
	// restart with the same jobs does not submit them twice.
	Jobs []jobs.Spec
	// Logger receives the master's logs. Default: logrus's standard logger.
	Logger logrus.FieldLogger
	// StoreImpl, when set, is used instead of opening Store in DataDir. The
	// master closes it on Close.
	StoreImpl jobs.Store
	// Cluster, when set, is the raft group this master leads (package
	// cluster sets it): GET /api/v1/cluster shows it and an admin adds
	// and removes members through it. Without it those endpoints answer
	// 404.
	Cluster ClusterControl
	// Leads, when set, reports whether this master still leads its raft
	// group (package cluster sets it to raft's view, which turns false
	// once the leader's lease lapses). It is checked before every side
	// effect: a lease (and with it an assign or a task in a reply), a call
	// to a worker (assign, cancel), a cancel in a heartbeat's reply and a
	// notification. nil: the master always leads.
	Leads func() bool
	// Term is the raft term in which this master leads (package cluster
	// sets it; 0: a single master). It goes with every reply to a worker
	// and every call to one, so that a worker can refuse a deposed
	// master's work (rpcapi.RegisterReply.Term).
	Term int64

	// clock, when set (tests), is the master's clock instead of the
	// system's.
	clock clock
}

// DefaultListen is the master's default address.
const DefaultListen = "127.0.0.1:7070"

// The floors of Config's fields (and of the keys of master.toml). Validate
// refuses a smaller value that is not zero (zero means the default).
const (
	// MinHeartbeatInterval is the shortest HeartbeatInterval: every beat is
	// a call to the master from every worker, and the master looks for
	// silent workers four times per interval.
	MinHeartbeatInterval = 50 * time.Millisecond
	// MinEvery is the shortest interval of an "@every" schedule:
	// robfig/cron counts whole seconds (it would run "@every 1ns" every
	// second and "@every 1500ms" every second).
	MinEvery = time.Second
	// MinRetain is the shortest Retain: a finished job must stay long
	// enough for a client waiting on it to read its outcome.
	MinRetain = time.Second
	// MinRetainJobs is the fewest RetainJobs: one submit's worth of
	// finished jobs must not push each other out before they are read.
	MinRetainJobs = 100
	// MinMaxReplyBytes is the smallest MaxReplyBytes: one job with args at
	// the default MaxArgsBytes (64 KiB) must fit in a reply.
	MinMaxReplyBytes = 64 << 10
	// MinMetricTypes is the fewest MetricTypes.
	MinMetricTypes = 1
)

// ConfigError is a Config field that Validate refuses. It names the Go
// field and the key of master.toml, so that conf can point at the line.
type ConfigError struct {
	// Field is the Go field: "HeartbeatInterval", "Notify.RetryBackoff".
	Field string
	// Key is the dotted key of master.toml: "heartbeat_interval",
	// "notify.retry_backoff".
	Key string
	// Msg says what is wrong with the value, in the terms of master.toml:
	// "1ns is below the minimum of 50ms".
	Msg string
}

func (e *ConfigError) Error() string {
	return "master: " + e.Field + " (" + e.Key + "): " + e.Msg
}

func fieldErr(field, key, format string, args ...any) error {
	return &ConfigError{Field: field, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// CheckSchedule reports whether expr, a cron expression in time zone tz
// (UTC when empty), is one the master accepts: it parses, it fires at
// least once in the coming five years, and an "@every" interval is a
// whole number of seconds no shorter than MinEvery.
func CheckSchedule(expr, tz string) error {
	s, err := parseSchedule(expr, tz)
	if err != nil {
		return err
	}
	expr = strings.TrimSpace(expr)
	if d, ok := s.(cron.ConstantDelaySchedule); ok {
		// robfig/cron rounds the written interval: read it as written.
		const every = "@every "
		written := d.Delay
		if w, err := time.ParseDuration(strings.TrimPrefix(expr, every)); err == nil && strings.HasPrefix(expr, every) {
			written = w
		}
		switch {
		case written < MinEvery:
			return fmt.Errorf("schedule %q: the interval %s is below the minimum of %s", expr, written, MinEvery)
		case written%time.Second != 0:
			return fmt.Errorf("schedule %q: the interval %s is not a whole number of seconds (it would run every %s)", expr, written, d.Delay)
		}
		return nil
	}
	if s.Next(time.Now()).IsZero() {
		return fmt.Errorf("schedule %q never fires", expr)
	}
	return nil
}

func (c *Config) setDefaults() {
	c.Listen = cmp.Or(c.Listen, DefaultListen)
	c.DataDir = cmp.Or(c.DataDir, "./drover-data")
	c.Store = cmp.Or(c.Store, StoreBolt)
	c.ClientCancel = cmp.Or(c.ClientCancel, ClientCancelAny)
	c.HeartbeatInterval = cmp.Or(c.HeartbeatInterval, time.Second)
	c.DeadAfter = cmp.Or(c.DeadAfter, 3*c.HeartbeatInterval)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, 5*time.Minute)
	if c.RetryBackoff == 0 {
		c.RetryBackoff = time.Second
		if c.MaxBackoff > 0 {
			c.RetryBackoff = min(c.RetryBackoff, c.MaxBackoff)
		}
	}
	c.AssignBatch = cmp.Or(c.AssignBatch, 64)
	c.MaxRequestBody = cmp.Or(c.MaxRequestBody, 4<<20)
	c.MaxXMLDepth = cmp.Or(c.MaxXMLDepth, 32)
	c.GobIdleTimeout = cmp.Or(c.GobIdleTimeout, rpcapi.DefaultGoRPCIdleTimeout)
	c.MaxCallsInFlight = cmp.Or(c.MaxCallsInFlight, rpcapi.DefaultMaxCallsInFlight)
	c.MaxSubmit = cmp.Or(c.MaxSubmit, MaxSubmit)
	c.MaxSubmitBytes = cmp.Or(c.MaxSubmitBytes, 64<<20)
	c.MaxArgsBytes = cmp.Or(c.MaxArgsBytes, 64<<10)
	c.MaxResultBytes = cmp.Or(c.MaxResultBytes, 1<<20)
	c.MaxConnections = cmp.Or(c.MaxConnections, 10000)
	c.MaxAnonymousConnections = cmp.Or(c.MaxAnonymousConnections, listen.DefaultAnonymousConnections)
	c.MaxAnonymousPerAddress = cmp.Or(c.MaxAnonymousPerAddress, min(listen.DefaultAnonymousPerAddress, c.MaxAnonymousConnections))
	c.PreAuthTimeout = cmp.Or(c.PreAuthTimeout, listen.DefaultPreAuthTimeout)
	c.MaxReplyBytes = cmp.Or(c.MaxReplyBytes, 16<<20)
	c.Retain = cmp.Or(c.Retain, time.Hour)
	c.RetainJobs = cmp.Or(c.RetainJobs, 100000)
	c.History = cmp.Or(c.History, max(720*time.Hour, c.Retain))
	c.HistoryJobs = cmp.Or(c.HistoryJobs, max(1000000, c.RetainJobs))
	c.MetricTypes = cmp.Or(c.MetricTypes, 1000)
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
}

// Validate fills defaults and reports the first invalid field. An invalid
// field of its own is a *ConfigError.
// leads reports whether the master may act (see Leads).
func (c *Config) leads() bool { return c.Leads == nil || c.Leads() }

func (c *Config) Validate() error {
	c.setDefaults()
	if err := c.checkFields(); err != nil {
		return err
	}
	if _, err := c.keyring(c.Tokens); err != nil {
		return fieldErr("Tokens", "tokens_file", "%v", err)
	}
	if err := webguard.CheckAllowedHosts(c.AllowedHosts); err != nil {
		return fieldErr("AllowedHosts", "allowed_hosts", "%v", err)
	}
	for i, h := range c.WorkerHosts {
		if err := CheckWorkerHost(h); err != nil {
			return fieldErr("WorkerHosts", "worker_hosts", "entry %d: %v", i+1, err)
		}
	}
	for name, l := range c.Limits {
		if err := l.check(); err != nil {
			return fmt.Errorf("master: limits %q: %w", name, err)
		}
	}
	for name, l := range c.TypeLimits {
		if err := l.check(); err != nil {
			return fmt.Errorf("master: type_limits %q: %w", name, err)
		}
	}
	if err := c.Notify.Validate(); err != nil {
		return fmt.Errorf("master: notify: %w", err)
	}
	if err := c.DefaultLimit.check(); err != nil {
		return fmt.Errorf("master: default_limit: %w", err)
	}
	for i := range c.Jobs {
		s := &c.Jobs[i]
		if err := s.Validate(); err != nil {
			return fmt.Errorf("master: initial job %d: %w", i+1, err)
		}
		if s.Key == "" {
			return fmt.Errorf("master: initial job %d (type %q) has no key", i+1, s.Type)
		}
		if s.Schedule != "" {
			if err := CheckSchedule(s.Schedule, s.Timezone); err != nil {
				return fmt.Errorf("master: initial job %d (schedule %q): %w", i+1, s.Name, err)
			}
		}
	}
	return nil
}

// checkFields checks the fields of c, defaults filled in, one by one and
// against each other.
func (c *Config) checkFields() error {
	negInt := func(field, key string, n int64) error {
		if n < 0 {
			return fieldErr(field, key, "must not be negative, got %d", n)
		}
		return nil
	}
	negDur := func(field, key string, d time.Duration) error {
		if d < 0 {
			return fieldErr(field, key, "must not be negative, got %s", d)
		}
		return nil
	}
	for _, err := range []error{
		negDur("HeartbeatInterval", "heartbeat_interval", c.HeartbeatInterval),
		negDur("DeadAfter", "dead_after", c.DeadAfter),
		negDur("MaxBackoff", "max_backoff", c.MaxBackoff),
		negDur("RetryBackoff", "retry_backoff", c.RetryBackoff),
		negDur("Retain", "retain", c.Retain),
		negDur("History", "history", c.History),
		negInt("AssignBatch", "assign_batch", int64(c.AssignBatch)),
		negInt("MaxRequestBody", "max_request_body", c.MaxRequestBody),
		negInt("MaxXMLDepth", "max_xml_depth", int64(c.MaxXMLDepth)),
		negInt("MaxCallsInFlight", "max_calls_in_flight", int64(c.MaxCallsInFlight)),
		negInt("MaxSubmit", "max_submit", int64(c.MaxSubmit)),
		negInt("MaxArgsBytes", "max_args_bytes", int64(c.MaxArgsBytes)),
		negInt("MaxResultBytes", "max_result_bytes", int64(c.MaxResultBytes)),
		negInt("MaxConnections", "max_connections", int64(c.MaxConnections)),
		negInt("MaxAnonymousConnections", "max_anonymous_connections", int64(c.MaxAnonymousConnections)),
		negInt("MaxAnonymousPerAddress", "max_anonymous_per_address", int64(c.MaxAnonymousPerAddress)),
		negDur("PreAuthTimeout", "preauth_timeout", c.PreAuthTimeout),
		negDur("GobIdleTimeout", "gob_idle_timeout", c.GobIdleTimeout),
		negInt("MaxSubmitBytes", "max_submit_bytes", int64(c.MaxSubmitBytes)),
		negInt("MaxReplyBytes", "max_reply_bytes", int64(c.MaxReplyBytes)),
		negInt("RetainJobs", "retain_jobs", int64(c.RetainJobs)),
		negInt("HistoryJobs", "history_jobs", int64(c.HistoryJobs)),
		negInt("MetricTypes", "metric_types", int64(c.MetricTypes)),
	} {
		if err != nil {
			return err
		}
	}
	n := &c.Notify
	switch {
	case c.ClientCancel != ClientCancelAny && c.ClientCancel != ClientCancelOwn:
		return fieldErr("ClientCancel", "client_cancel", "invalid value %q (want %q or %q)", c.ClientCancel, ClientCancelOwn, ClientCancelAny)
	case c.Store != StoreBolt && c.Store != StoreMemory:
		return fieldErr("Store", "store", "invalid value %q (want %q or %q)", c.Store, StoreBolt, StoreMemory)
	case c.HeartbeatInterval < MinHeartbeatInterval:
		return fieldErr("HeartbeatInterval", "heartbeat_interval", "%s is below the minimum of %s", c.HeartbeatInterval, MinHeartbeatInterval)
	case c.DeadAfter <= c.HeartbeatInterval:
		return fieldErr("DeadAfter", "dead_after", "%s must be more than heartbeat_interval (%s)", c.DeadAfter, c.HeartbeatInterval)
	case c.RetryBackoff > c.MaxBackoff:
		return fieldErr("RetryBackoff", "retry_backoff", "%s is more than max_backoff (%s)", c.RetryBackoff, c.MaxBackoff)
	case n.RetryBackoff > 0 && n.MaxBackoff > 0 && n.RetryBackoff > n.MaxBackoff:
		return fieldErr("Notify.RetryBackoff", "notify.retry_backoff", "%s is more than notify.max_backoff (%s)", n.RetryBackoff, n.MaxBackoff)
	case c.GCPercent != 0 && (c.GCPercent < 10 || c.GCPercent > 10000):
		return fieldErr("GCPercent", "gc_percent", "%d: want 10 to 10000, or 0 for the process's setting", c.GCPercent)
	case c.MaxReplyBytes < MinMaxReplyBytes:
		return fieldErr("MaxReplyBytes", "max_reply_bytes", "%d is below the minimum of %d (64 KiB)", c.MaxReplyBytes, MinMaxReplyBytes)
	case c.Retain < MinRetain:
		return fieldErr("Retain", "retain", "%s is below the minimum of %s", c.Retain, MinRetain)
	case c.RetainJobs < MinRetainJobs:
		return fieldErr("RetainJobs", "retain_jobs", "%d is below the minimum of %d", c.RetainJobs, MinRetainJobs)
	case c.History < c.Retain:
		return fieldErr("History", "history", "%s is less than retain (%s): a finished job leaves the store before it leaves memory", c.History, c.Retain)
	case c.HistoryJobs < c.RetainJobs:
		return fieldErr("HistoryJobs", "history_jobs", "%d is less than retain_jobs (%d): the store would keep fewer finished jobs than memory", c.HistoryJobs, c.RetainJobs)
	case c.MetricTypes < MinMetricTypes:
		return fieldErr("MetricTypes", "metric_types", "%d is below the minimum of %d", c.MetricTypes, MinMetricTypes)
	}
	return nil
}

// reportRoom is the max_result_bytes workers are told: MaxResultBytes,
// or half of MaxRequestBody when that is less, leaving the other half
// for a task_complete's encoding (XML-RPC's escapes can take more).
func (c *Config) reportRoom() int {
	return int(min(int64(c.MaxResultBytes), c.MaxRequestBody/2))
}
