package master

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
)

// Store kinds for Config.Store.
const (
	StoreBolt   = "bolt"
	StoreMemory = "memory"
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
	// them at registration. Default 1s.
	HeartbeatInterval time.Duration
	// DeadAfter is how long a worker may stay silent before it is reaped
	// and its running jobs requeued as lost. Default 3 heartbeat intervals;
	// it must be more than one interval.
	DeadAfter time.Duration
	// RetryBackoff is the delay before the first retry; it doubles per
	// failure up to MaxBackoff, with jitter. Default 1s.
	RetryBackoff time.Duration
	// MaxBackoff caps the retry delay. Default 5m.
	MaxBackoff time.Duration
	// AssignBatch caps the jobs in one Assign call. Default 64.
	AssignBatch int
	// Token, when set, is required on every call to the master (net/rpc
	// and XML-RPC) and is sent on every call the master makes to workers;
	// workers must have the same token. Empty: no auth (the master warns
	// when it listens beyond loopback without one).
	Token string
	// TLS, when set, makes the listener serve TLS with it. Set ClientCAs
	// and ClientAuth for mutual TLS.
	TLS *tls.Config
	// ClientTLS is used to dial workers that advertise https:// addresses
	// (RootCAs to verify them, Certificates for mutual TLS). Nil: the
	// system's roots.
	ClientTLS *tls.Config
	// MaxRequestBody bounds an XML-RPC request body; bigger gets HTTP 413.
	// Default 4 MiB.
	MaxRequestBody int64
	// MaxXMLDepth bounds the nesting of structs and arrays in an XML-RPC
	// request. Default 32.
	MaxXMLDepth int
	// MaxSubmit bounds the jobs in one Submit call. Default 100000.
	MaxSubmit int
	// MaxArgsBytes bounds a job's args (names and values, summed).
	// Default 64 KiB.
	MaxArgsBytes int
	// MaxResultBytes bounds a report's output plus data; a report over it
	// is recorded as a failed attempt saying so. Default 1 MiB.
	MaxResultBytes int
	// MaxConnections bounds open connections to the listener; one more is
	// answered HTTP 503 and closed. Default 10000.
	MaxConnections int
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
}

// DefaultListen is the master's default address.
const DefaultListen = "127.0.0.1:7070"

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DataDir == "" {
		c.DataDir = "./drover-data"
	}
	if c.Store == "" {
		c.Store = StoreBolt
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.DeadAfter == 0 {
		c.DeadAfter = 3 * c.HeartbeatInterval
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.AssignBatch == 0 {
		c.AssignBatch = 64
	}
	if c.MaxRequestBody == 0 {
		c.MaxRequestBody = 4 << 20
	}
	if c.MaxXMLDepth == 0 {
		c.MaxXMLDepth = 32
	}
	if c.MaxSubmit == 0 {
		c.MaxSubmit = MaxSubmit
	}
	if c.MaxArgsBytes == 0 {
		c.MaxArgsBytes = 64 << 10
	}
	if c.MaxResultBytes == 0 {
		c.MaxResultBytes = 1 << 20
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 10000
	}
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
}

// Validate fills defaults and reports the first invalid field.
func (c *Config) Validate() error {
	c.setDefaults()
	switch {
	case c.Store != StoreBolt && c.Store != StoreMemory:
		return fmt.Errorf("master: store %q: want %q or %q", c.Store, StoreBolt, StoreMemory)
	case c.HeartbeatInterval < 0:
		return fmt.Errorf("master: heartbeat_interval %s is negative", c.HeartbeatInterval)
	case c.DeadAfter <= c.HeartbeatInterval:
		return fmt.Errorf("master: dead_after %s must be more than heartbeat_interval %s", c.DeadAfter, c.HeartbeatInterval)
	case c.RetryBackoff < 0 || c.MaxBackoff < 0:
		return fmt.Errorf("master: negative retry backoff")
	case c.MaxRequestBody < 0 || c.MaxXMLDepth < 0 || c.MaxSubmit < 0 || c.MaxArgsBytes < 0 ||
		c.MaxResultBytes < 0 || c.MaxConnections < 0:
		return fmt.Errorf("master: a max_* limit is negative")
	case c.AssignBatch < 0:
		return fmt.Errorf("master: assign_batch %d is negative", c.AssignBatch)
	case c.GCPercent != 0 && (c.GCPercent < 10 || c.GCPercent > 10000):
		return fmt.Errorf("master: gc_percent %d: want 10 to 10000, or 0 for the process's setting", c.GCPercent)
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
	}
	return nil
}
