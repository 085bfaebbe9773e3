// Package conf turns drover's TOML files (master, worker and jobs) into the
// library's configurations: master.Config, worker.Config and job specs.
// The library never reads files; conf does.
//
// Every key has a zero value that means the library's default, so an empty
// file (or no file at all) works. Unknown keys are errors, and every error
// about a file's content is an *Error naming the file, the line and the
// key:
//
//	master.toml:4: heartbeat_interval: invalid duration "1x" (use e.g. "500ms", "3s", "1m")
//	worker.toml:7: commands.sleep.argvv: unknown key (did you mean "argv"?)
//	jobs.toml:3: job[1].priority: want an integer, got string
//
// Durations are strings in Go's syntax ("500ms", "3s", "1m30s"). LoadMaster
// and LoadWorker apply the DROVER_* environment variables over the file.
package conf

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/drover/drover/master"
)

// The environment variables that override the files.
const (
	// EnvMaster overrides the worker's master address.
	EnvMaster = "DROVER_MASTER"
	// EnvListen overrides the listen address of the master or the worker.
	EnvListen = "DROVER_LISTEN"
	// EnvDataDir overrides the master's data directory.
	EnvDataDir = "DROVER_DATA_DIR"
)

// LookupFunc finds an environment variable; os.LookupEnv is one.
type LookupFunc func(key string) (value string, ok bool)

// Master is a master's configuration file, decoded.
type Master struct {
	// Config is the master's library configuration. Fields the file leaves
	// out stay zero, which means the library's default; Config.Jobs holds
	// the specs of the jobs file, each with its stable key.
	Config master.Config
	// JobsFile is the jobs_file setting. ParseMaster keeps it as written;
	// LoadMaster resolves a relative path against the directory of the
	// master's file and leaves here the path it loaded.
	JobsFile string
	// TokensFile is the tokens_file setting, resolved as JobsFile is.
	// LoadMaster loads it into Config.Tokens; drover master loads it again
	// on SIGHUP.
	TokensFile string
	// LogLevel is log_level: "debug", "info", "warn", "error" or empty
	// (info). Pass it to Logger.
	LogLevel string
	// LogFormat is log_format: "text", "json" or empty (text).
	LogFormat string

	jobsFileLine   int
	tokensFileLine int
	node
}

var masterKeys = slices.Concat([]string{
	"listen", "data_dir", "store", "heartbeat_interval", "dead_after",
	"retry_backoff", "max_backoff", "assign_batch", "max_request_body", "max_xml_depth", "max_calls_in_flight", "max_submit", "max_args_bytes", "gc_percent",
	"max_result_bytes", "max_connections", "max_anonymous_connections", "max_anonymous_per_address", "preauth_timeout", "gob_idle_timeout", "max_submit_bytes", "max_reply_bytes", "retain", "retain_jobs", "history", "history_jobs",
	"metric_types", "limits", "default_limit", "type_limits", "notify", "jobs_file",
	"allowed_hosts", "worker_hosts", "tokens_file", "client_cancel",
}, nodeKeys)

// LoadMaster reads the master's file at path, loads its jobs file if it
// names one, and applies the environment (DROVER_LISTEN, DROVER_DATA_DIR).
// An empty path means no file: the defaults, with the environment applied.
func LoadMaster(path string) (*Master, error) {
	m := &Master{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("conf: %w", err)
		}
		if m, err = ParseMaster(path, data); err != nil {
			return nil, err
		}
		if m.JobsFile != "" {
			jf := m.JobsFile
			if !filepath.IsAbs(jf) {
				jf = filepath.Join(filepath.Dir(path), jf)
			}
			specs, err := LoadJobs(jf)
			if err != nil {
				var ce *Error
				if errors.As(err, &ce) {
					return nil, err
				}
				return nil, &Error{File: path, Line: m.jobsFileLine, Key: "jobs_file", Msg: err.Error(), Err: err}
			}
			m.JobsFile = jf
			m.Config.Jobs = specs
		}
	}
	if path != "" {
		var err error
		if m.Config.Token, m.Config.TLS, m.Config.ClientTLS, err = m.node.resolve(path); err != nil {
			return nil, err
		}
		if err := m.loadTokens(path); err != nil {
			return nil, err
		}
	}
	ApplyMasterEnv(&m.Config, os.LookupEnv)
	return m, nil
}

// loadTokens loads the tokens file that the master's file at path names,
// if any, into Config.Tokens, and leaves its resolved path in TokensFile.
func (m *Master) loadTokens(path string) error {
	if m.TokensFile == "" {
		return nil
	}
	tf := m.TokensFile
	if !filepath.IsAbs(tf) {
		tf = filepath.Join(filepath.Dir(path), tf)
	}
	creds, err := LoadTokens(tf)
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			return err
		}
		return &Error{File: path, Line: m.tokensFileLine, Key: "tokens_file", Msg: err.Error(), Err: err}
	}
	m.TokensFile, m.Config.Tokens = tf, creds
	return nil
}

// ParseMaster decodes data, the content of the master's file called name
// (used in errors only). It reads no other file: JobsFile is left for the
// caller (LoadMaster) to load.
func ParseMaster(name string, data []byte) (*Master, error) {
	root, d, err := parse(name, data)
	if err != nil {
		return nil, err
	}
	m := &Master{}
	for k, v := range root {
		p := path{k}
		if !d.masterKey(p, k, v, m) {
			d.unknown(p, masterKeys)
		}
	}
	d.checkDeadAfter(&m.Config)
	if err := d.err(); err != nil {
		return nil, err
	}
	if err := validateMaster(name, d, m.Config); err != nil {
		return nil, err
	}
	return m, nil
}

// masterKey decodes k at p, if it is one of masterKeys, into m, and
// reports whether it was.
func (d *decoder) masterKey(p path, k string, v any, m *Master) bool {
	c := &m.Config
	return d.masterServerKey(p, k, v, m) || d.masterDurationKey(p, k, v, c) || d.masterSizeKey(p, k, v, c) ||
		d.masterRetentionKey(p, k, v, c) || d.masterLimitKey(p, k, v, c) ||
		d.nodeKey(p, k, v, &m.node, &m.LogLevel, &m.LogFormat)
}

// masterServerKey decodes the keys of where the master listens, what it
// stores where, whom it notifies and which jobs file it loads.
func (d *decoder) masterServerKey(p path, k string, v any, m *Master) bool {
	c := &m.Config
	switch k {
	case "listen":
		c.Listen = d.str(p, v)
	case "data_dir":
		c.DataDir = d.str(p, v)
	case "store":
		c.Store = d.oneOf(p, v, master.StoreBolt, master.StoreMemory)
	case "notify":
		c.Notify = d.notify(p, v)
	case "jobs_file":
		m.JobsFile = d.str(p, v)
		m.jobsFileLine = d.line(p)
	case "allowed_hosts":
		c.AllowedHosts = d.hosts(p, v)
	case "worker_hosts":
		c.WorkerHosts = d.workerHosts(p, v)
	case "tokens_file":
		m.TokensFile = d.str(p, v)
		m.tokensFileLine = d.line(p)
	case "client_cancel":
		c.ClientCancel = d.oneOf(p, v, master.ClientCancelOwn, master.ClientCancelAny)
	default:
		return false
	}
	return true
}

// masterDurationKey decodes the keys of the heartbeat and the retry
// timing.
func (d *decoder) masterDurationKey(p path, k string, v any, c *master.Config) bool {
	switch k {
	case "heartbeat_interval":
		c.HeartbeatInterval = d.duration(p, v)
	case "dead_after":
		c.DeadAfter = d.duration(p, v)
	case "retry_backoff":
		c.RetryBackoff = d.duration(p, v)
	case "max_backoff":
		c.MaxBackoff = d.duration(p, v)
	default:
		return false
	}
	return true
}

// masterSizeKey decodes the keys that bound batches, requests, replies,
// connections and the garbage collector.
func (d *decoder) masterSizeKey(p path, k string, v any, c *master.Config) bool {
	switch k {
	case "assign_batch":
		c.AssignBatch = d.integer(p, v, 0, math.MaxInt)
	case "gc_percent":
		c.GCPercent = d.integer(p, v, 0, 10000)
	case "max_request_body":
		c.MaxRequestBody = int64(d.integer(p, v, 0, math.MaxInt))
	case "max_calls_in_flight":
		c.MaxCallsInFlight = d.integer(p, v, 0, math.MaxInt)
	case "max_xml_depth":
		c.MaxXMLDepth = d.integer(p, v, 0, 1000)
	case "max_submit":
		c.MaxSubmit = d.integer(p, v, 0, math.MaxInt)
	case "max_args_bytes":
		c.MaxArgsBytes = d.integer(p, v, 0, math.MaxInt)
	case "max_result_bytes":
		c.MaxResultBytes = d.integer(p, v, 0, math.MaxInt)
	case "max_connections":
		c.MaxConnections = d.integer(p, v, 0, math.MaxInt)
	case "max_anonymous_connections":
		c.MaxAnonymousConnections = d.integer(p, v, 0, math.MaxInt)
	case "max_anonymous_per_address":
		c.MaxAnonymousPerAddress = d.integer(p, v, 0, math.MaxInt)
	case "preauth_timeout":
		c.PreAuthTimeout = d.duration(p, v)
	case "gob_idle_timeout":
		c.GobIdleTimeout = d.duration(p, v)
	case "max_submit_bytes":
		c.MaxSubmitBytes = d.integer(p, v, 0, math.MaxInt)
	case "max_reply_bytes":
		c.MaxReplyBytes = d.integer(p, v, 0, math.MaxInt)
	default:
		return false
	}
	return true
}

// masterRetentionKey decodes the keys of how long finished jobs stay in
// memory and in history, and of how many job types get metrics.
func (d *decoder) masterRetentionKey(p path, k string, v any, c *master.Config) bool {
	switch k {
	case "retain":
		c.Retain = d.duration(p, v)
	case "retain_jobs":
		c.RetainJobs = d.integer(p, v, 0, math.MaxInt)
	case "history":
		c.History = d.duration(p, v)
	case "history_jobs":
		c.HistoryJobs = d.integer(p, v, 0, math.MaxInt)
	case "metric_types":
		c.MetricTypes = d.integer(p, v, 0, math.MaxInt)
	default:
		return false
	}
	return true
}

// masterLimitKey decodes the keys of the limits on jobs by key and by
// type.
func (d *decoder) masterLimitKey(p path, k string, v any, c *master.Config) bool {
	switch k {
	case "limits":
		c.Limits = d.limits(p, v)
	case "type_limits":
		c.TypeLimits = d.limits(p, v)
	case "default_limit":
		c.DefaultLimit = d.limit(p, v)
	default:
		return false
	}
	return true
}

// checkDeadAfter records an error at dead_after when c sets it to no more
// than the heartbeat interval the master will use.
func (d *decoder) checkDeadAfter(c *master.Config) {
	if c.DeadAfter == 0 {
		return
	}
	// The heartbeat interval the master will use: the file's or the
	// library's default, which Validate fills in.
	hb := master.Config{HeartbeatInterval: c.HeartbeatInterval}
	_ = hb.Validate()
	if c.DeadAfter <= hb.HeartbeatInterval {
		d.errorf(path{"dead_after"}, "%s must be more than heartbeat_interval (%s)", c.DeadAfter, hb.HeartbeatInterval)
	}
}

// validateMaster validates check, a copy of the master's Config from the
// file called name, and returns its error as an *Error at the key's line.
func validateMaster(name string, d *decoder, check master.Config) error {
	// Validate a copy: it fills in defaults, and the zero values must stay
	// zero so that flags applied later still get the defaults that follow
	// from them (dead_after from heartbeat_interval).
	if err := check.Validate(); err != nil {
		// A field of its own (a floor, or two keys that do not agree):
		// point at the key's line.
		var fe *master.ConfigError
		if errors.As(err, &fe) {
			p := path(strings.Split(fe.Key, "."))
			return &Error{File: name, Line: d.line(p), Key: p.String(), Msg: fe.Msg, Err: err}
		}
		return &Error{File: name, Msg: err.Error(), Err: err}
	}
	return nil
}

// ApplyMasterEnv sets c.Listen from DROVER_LISTEN, c.DataDir from
// DROVER_DATA_DIR and c.Token from DROVER_TOKEN when lookup finds them set
// and not empty.
func ApplyMasterEnv(c *master.Config, lookup LookupFunc) {
	setFromEnv(&c.Listen, EnvListen, lookup)
	setFromEnv(&c.DataDir, EnvDataDir, lookup)
	setFromEnv(&c.Token, EnvToken, lookup)
}

func setFromEnv(dst *string, name string, lookup LookupFunc) {
	if v, ok := lookup(name); ok && v != "" {
		*dst = v
	}
}
