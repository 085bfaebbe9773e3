package worker

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/webguard"
	"github.com/drover/drover/rpcapi"
)

// Command is a named command template: a job whose type is the template's
// name runs argv with each {name} replaced by the job's arg of that name
// (or {name:default}'s default when the job has no such arg), inside one
// argv element, never through a shell. {job_id}, {attempt}, {group} and
// {worker} (the worker's Name) are set by the worker. Its environment is
// the worker's less every DROVER_* variable, plus Env, plus DROVER_JOB_ID,
// DROVER_ATTEMPT, DROVER_GROUP, DROVER_MASTER and DROVER_RESULT (a file
// whose content, up to MaxResultBytes, becomes the job's data), and on
// Linux DROVER_JOB_MARK (see Config.Identity).
type Command struct {
	// Argv is the program and its arguments. Argv[0] is looked up in PATH.
	Argv []string
	// Dir is the working directory (templated like Argv). Empty: the
	// worker's own.
	Dir string
	// Env sets environment variables of the job (values templated like
	// Argv), over the worker's own. Names starting with DROVER_ are
	// refused: those are the worker's to set.
	Env map[string]string
	// Timeout bounds one run; the job's own timeout wins when it is
	// shorter. Zero: none beyond the job's.
	Timeout time.Duration

	// The success rules: what fails a run beyond a non-zero exit code
	// (see judge).

	// FailIf are regular expressions (Go syntax) matched against each line
	// of the output: a run that exits 0 fails (and is retried) when one
	// matches.
	FailIf []string
	// PermanentExitCodes are exit codes that fail the job at once, without
	// retries. RetryExitCodes, when not empty, are the only exit codes that
	// are retried: any other non-zero one fails the job at once. A code
	// cannot be in both. Codes are 1..255.
	PermanentExitCodes []int
	RetryExitCodes     []int
	// Kind is "" or KindScrapy ("scrapy"): a Scrapy crawl, judged by its
	// closing stats, which the attempt records and the worker counts in
	// its metrics (see scrapyStats.judge).
	Kind string
	// MinItems (scrapy) fails a crawl that scraped fewer items. Zero: no
	// bound.
	MinItems int
	// MaxErrors (scrapy) fails a crawl that logged more errors. Zero: no
	// bound (a crawl that logged errors and scraped no item fails anyway).
	MaxErrors int
}

// Config configures a Worker. Zero values mean the documented defaults.
type Config struct {
	// Master is the master's address. Default "127.0.0.1:7070". A list
	// separated by commas names a leader and its standbys (spaces around
	// the commas are ignored, an empty element is an error): the worker
	// follows the leader among them (rpcapi.Follow) and registers again
	// with what it runs when it reaches a new one.
	Master string
	// Listen is the worker's own endpoint. Default "127.0.0.1:0" (a free
	// port on loopback).
	Listen string
	// Advertise is the address the master dials to reach this worker, when
	// it differs from the listener's (NAT, 0.0.0.0). Default: the
	// listener's address.
	Advertise string
	// AllowedHosts are host names, besides the default ones, that the
	// worker's endpoint answers to in the Host header; "*" allows any. By
	// default it answers to IP addresses, "localhost" and names under
	// .localhost, the machine's host name (os.Hostname) and the host names
	// of Listen and Advertise: another Host (a web page's own name rebound
	// to this machine's address) gets HTTP 403.
	AllowedHosts []string
	// Name identifies the worker to people. Default "HOSTNAME-PID".
	Name string
	// Transport is the protocol to the master, and the one the master uses
	// to reach this worker: "gob" (default) or "xmlrpc". The worker's
	// endpoint serves both.
	Transport string
	// Mode is "push" (default: the master calls the worker's endpoint) or
	// "pull" (the worker has no endpoint and long-polls the master, for
	// workers that cannot accept connections).
	Mode string
	// Token is sent on every call to the master and required on every
	// call to this worker (so only its master can assign it jobs). It must
	// equal the master's. Empty: no auth.
	Token string
	// TLS, when set, makes the worker's endpoint serve TLS with it (set
	// ClientCAs and ClientAuth for mutual TLS); the worker then advertises
	// an https:// address.
	TLS *tls.Config
	// ClientTLS is used to reach the master over TLS (RootCAs to verify it,
	// Certificates for mutual TLS). An https:// master address uses TLS
	// even without it, with the system's roots.
	ClientTLS *tls.Config
	// Tags describe the worker ("region=eu", "gpu"); jobs that require tags
	// go only to workers that have them all.
	Tags []string
	// Slots is how many jobs run at once. Default 4.
	Slots int
	// Commands are the subprocess templates, by job type.
	Commands map[string]Command
	// OutputLimit caps the captured output of a job (the tail is kept).
	// Default 64 KiB.
	OutputLimit int
	// MaxResultBytes bounds the data a handler returns (Result.Data) or a
	// command writes to $DROVER_RESULT, and so does the master's
	// max_result_bytes when it is lower; more fails the attempt without
	// retries, and the data is not kept. A handler's Output is cut to its
	// last OutputLimit bytes like a subprocess's, and any output is cut
	// further when it and the data would pass the master's
	// max_result_bytes. Default 1 MiB.
	MaxResultBytes int
	// LogDir keeps the full log of every command attempt: its stdout and
	// its stderr, in LogDir/JOB.ATTEMPT/. Default: drover-logs-UID in the
	// system's temporary directory (os.TempDir), made with mode 0700 when
	// it is not there; when it is, Start refuses it (a *LogDirError)
	// unless it is a directory (not a link) of the worker's user that
	// neither group nor others can write. A LogDir that is set may be a link. Workers that
	// share a LogDir share its bounds.
	LogDir string
	// logDirDefault: LogDir was empty, and is the default (Validate).
	logDirDefault bool
	// LogMaxBytes bounds the logs in LogDir: when an attempt ends (and when
	// the worker starts) the oldest logs of ended attempts are removed
	// until the rest take this much at most. One attempt's log, both
	// streams together, stops growing 180 bytes short of it, the room of
	// the note of one line that ends each stream it cut, so that it fits
	// the bound whole and is never removed by it when it ends. Default 1
	// GiB; at least MinLogMaxBytes.
	LogMaxBytes int64
	// LogMaxAge removes the logs of attempts that ended longer ago than
	// this, at the same moments, and besides every tenth of it (at least
	// every second, at most every hour) while no attempt ends. Default 7
	// days.
	LogMaxAge time.Duration
	// MaxRequestBody bounds a request to the endpoint: an XML-RPC body
	// (bigger gets HTTP 413) and each gob message (one bigger closes the
	// connection before it is read). Default 16 MiB: an Assign of the
	// master's assign_batch (64) jobs at its max_args_bytes (64 KiB) each
	// is 4 MiB before XML's escaping.
	MaxRequestBody int64
	// MaxCallsInFlight bounds the calls running at once for one gob
	// connection to the endpoint (see rpcapi.GoRPCOptions): read_log
	// calls, which run at once; the other calls never wait and run one at
	// a time. Default 256.
	MaxCallsInFlight int
	// KillGrace is the wait between SIGTERM and SIGKILL to a job's
	// processes. Default 5s.
	KillGrace time.Duration
	// NoFence turns fencing off (worker.toml: fence = false): a worker that
	// has had no heartbeat answered for the master's dead_after then lets
	// its jobs run on (at least once: the master may start them elsewhere
	// meanwhile). By default the worker stops them (see fence.go), so
	// that a job never runs on two workers at once.
	NoFence bool
	// Identity is what this worker is across restarts on this machine:
	// every process of a command job carries it (hashed, in
	// DROVER_JOB_MARK), and a starting worker kills the processes that
	// the dead earlier lives of its identity left, and no one else's.
	// Default: "name NAME listen LISTEN" when Name is set, else
	// "log_dir LOGDIR listen LISTEN" (the default Name holds the pid,
	// which a restart changes). Workers that share an identity end each
	// other's leftovers when one of them starts.
	Identity string
	// ShutdownGrace is how long Shutdown lets running jobs finish when its
	// context has no deadline. Default 30s.
	ShutdownGrace time.Duration
	// ReportDelay is how long finished results wait to be sent together
	// in one Complete call while another call is in flight (with none in
	// flight they go at once). Default 500µs; at most MaxReportDelay.
	ReportDelay time.Duration
	// Logger receives the worker's logs. Default: logrus's standard logger.
	Logger logrus.FieldLogger
}

// The defaults of Config.LogMaxBytes and Config.LogMaxAge.
const (
	DefaultLogMaxBytes = 1 << 30
	DefaultLogMaxAge   = 7 * 24 * time.Hour
)

// DefaultMaster is where a worker looks for its master by default.
const DefaultMaster = "127.0.0.1:7070"

// MaxReportDelay is the longest ReportDelay: results held longer delay
// every job's end as the master sees it, and the master gives up on an
// attempt with a timeout 10s (plus dead_after) past that timeout.
const MaxReportDelay = time.Second

var typeName = regexp.MustCompile(`^[A-Za-z0-9_.:/-]+$`)

func (c *Config) setDefaults() {
	named := c.Name != ""
	c.Master = cmp.Or(c.Master, DefaultMaster)
	c.Listen = cmp.Or(c.Listen, "127.0.0.1:0")
	if c.Name == "" {
		h, _ := os.Hostname()
		if h == "" {
			h = "worker"
		}
		c.Name = h + "-" + strconv.Itoa(os.Getpid())
	}
	c.Slots = cmp.Or(c.Slots, 4)
	c.OutputLimit = cmp.Or(c.OutputLimit, 64<<10)
	c.MaxRequestBody = cmp.Or(c.MaxRequestBody, 16<<20)
	c.MaxCallsInFlight = cmp.Or(c.MaxCallsInFlight, rpcapi.DefaultMaxCallsInFlight)
	c.MaxResultBytes = cmp.Or(c.MaxResultBytes, 1<<20)
	if c.LogDir == "" {
		c.LogDir = filepath.Join(os.TempDir(), "drover-logs-"+strconv.Itoa(os.Getuid()))
		c.logDirDefault = true
	}
	c.LogMaxBytes = cmp.Or(c.LogMaxBytes, DefaultLogMaxBytes)
	c.LogMaxAge = cmp.Or(c.LogMaxAge, DefaultLogMaxAge)
	c.KillGrace = cmp.Or(c.KillGrace, 5*time.Second)
	c.ShutdownGrace = cmp.Or(c.ShutdownGrace, 30*time.Second)
	c.ReportDelay = cmp.Or(c.ReportDelay, 500*time.Microsecond)
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
	if c.Identity == "" && named {
		c.Identity = "name " + c.Name + " listen " + c.Listen
	} else if c.Identity == "" {
		c.Identity = "log_dir " + c.LogDir + " listen " + c.Listen
	}
}

// Validate fills defaults and reports the first invalid field.
func (c *Config) Validate() error {
	c.setDefaults()
	if err := webguard.CheckAllowedHosts(c.AllowedHosts); err != nil {
		return fmt.Errorf("worker: AllowedHosts (allowed_hosts): %w", err)
	}
	if _, err := rpcapi.Addrs(c.Master); err != nil {
		return redactMasterErr(fmt.Errorf("worker: Master (master): %w", err), c.Master)
	}
	switch {
	case c.Transport != "" && c.Transport != rpcapi.TransportGob && c.Transport != rpcapi.TransportXMLRPC:
		return fmt.Errorf("worker: transport %q: want %q or %q", c.Transport, rpcapi.TransportGob, rpcapi.TransportXMLRPC)
	case c.Mode != "" && c.Mode != rpcapi.ModePush && c.Mode != rpcapi.ModePull:
		return fmt.Errorf("worker: mode %q: want %q or %q", c.Mode, rpcapi.ModePush, rpcapi.ModePull)
	}
	// An address the transport cannot use is refused here, where the
	// error can leave out its user name and password, rather than by New.
	mc, err := rpcapi.NewMasterCaller(c.Master, c.Transport)
	if err != nil {
		return redactMasterErr(fmt.Errorf("worker: Master (master): %w", err), c.Master)
	}
	mc.Close()
	for _, err := range []error{
		negative("slots", c.Slots),
		negative("OutputLimit (output_limit)", c.OutputLimit),
		negative("MaxRequestBody (max_request_body)", c.MaxRequestBody),
		negative("MaxCallsInFlight (max_calls_in_flight)", c.MaxCallsInFlight),
		negative("MaxResultBytes (max_result_bytes)", c.MaxResultBytes),
		negative("LogMaxBytes (log_max_bytes)", c.LogMaxBytes),
		negative("LogMaxAge (log_max_age)", c.LogMaxAge),
		negative("KillGrace (kill_grace)", c.KillGrace),
		negative("ShutdownGrace (shutdown_grace)", c.ShutdownGrace),
		negative("ReportDelay (report_delay)", c.ReportDelay),
	} {
		if err != nil {
			return err
		}
	}
	if c.Slots > rpcapi.MaxSlots {
		return fmt.Errorf("worker: slots %d is above the master's maximum of %d", c.Slots, rpcapi.MaxSlots)
	}
	if c.LogMaxBytes < MinLogMaxBytes {
		return fmt.Errorf("worker: LogMaxBytes (log_max_bytes) %d is below the minimum of %d", c.LogMaxBytes, MinLogMaxBytes)
	}
	if c.ReportDelay > MaxReportDelay {
		return fmt.Errorf("worker: ReportDelay (report_delay) %s is above the maximum of %s", c.ReportDelay, MaxReportDelay)
	}
	for name, cmd := range c.Commands {
		if !typeName.MatchString(name) {
			return fmt.Errorf("worker: command name %q: use letters, digits and _ . : / -", name)
		}
		if len(cmd.Argv) == 0 || cmd.Argv[0] == "" {
			return fmt.Errorf("worker: command %q has an empty argv", name)
		}
		if cmd.Timeout < 0 {
			return fmt.Errorf("worker: command %q has a negative timeout", name)
		}
		if _, err := parseTemplate(cmd); err != nil {
			return fmt.Errorf("worker: command %q: %w", name, err)
		}
		if err := checkRules(cmd); err != nil {
			return fmt.Errorf("worker: command %q: %w", name, err)
		}
	}
	return nil
}

// negative returns the error for the field named name (its Go name and
// conf key) when its value v is below zero, and nil otherwise. A duration
// prints as time.Duration does ("-1s").
func negative[T ~int | ~int64](name string, v T) error {
	if v < 0 {
		return fmt.Errorf("worker: %s %v is negative", name, v)
	}
	return nil
}
