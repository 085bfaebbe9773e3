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
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/drover/drover/master"
)

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
	// Cluster is the [cluster] table, nil without one: the master is one
	// member of a raft group (docs/ha.md).
	Cluster *Cluster

	jobsFileLine   int
	tokensFileLine int
	node
	sources
}

var masterKeys = slices.Concat([]string{
	"listen", "data_dir", "store", "heartbeat_interval", "dead_after",
	"retry_backoff", "max_backoff", "assign_batch", "max_request_body", "max_xml_depth", "max_calls_in_flight", "max_submit", "max_args_bytes", "gc_percent",
	"max_result_bytes", "max_connections", "max_anonymous_connections", "max_anonymous_per_address", "preauth_timeout", "gob_idle_timeout", "max_submit_bytes", "max_reply_bytes", "retain", "retain_jobs", "history", "history_jobs",
	"metric_types", "limits", "default_limit", "type_limits", "notify", "jobs_file",
	"allowed_hosts", "worker_hosts", "tokens_file", "client_cancel", "cluster",
}, nodeKeys)

// LoadMaster reads the master's file at path, loads its jobs file and
// tokens file if it names them, and applies the environment
// (ApplyMasterEnv). An empty path means no file: the defaults, with the
// environment applied.
func LoadMaster(path string) (*Master, error) {
	m := &Master{}
	if path != "" {
		var err error
		if m, err = readFile(path, ParseMaster); err != nil {
			return nil, err
		}
		if m.JobsFile != "" {
			if m.JobsFile, m.Config.Jobs, err = loadNamed(path, m.JobsFile, "jobs_file", m.jobsFileLine, LoadJobs); err != nil {
				return nil, err
			}
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
	m.env = ApplyMasterEnv(&m.Config, os.LookupEnv)
	return m, nil
}

// loadTokens loads the tokens file that the master's file at path names,
// if any, into Config.Tokens, and leaves its resolved path in TokensFile.
func (m *Master) loadTokens(path string) error {
	if m.TokensFile == "" {
		return nil
	}
	tf, creds, err := loadNamed(path, m.TokensFile, "tokens_file", m.tokensFileLine, LoadTokens)
	if err != nil {
		return err
	}
	m.TokensFile, m.Config.Tokens = tf, creds
	return nil
}

// readFile reads the file at path and decodes it with parse.
func readFile[T any](path string, parse func(name string, data []byte) (T, error)) (T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("conf: %w", err)
	}
	return parse(path, data)
}

// loadNamed loads, with load, the file called name that key (at line) of
// the file at path names, relative to path's directory unless absolute,
// and returns the path it loaded. An error of load's that is not already
// an *Error (say, a missing file) becomes one at key.
func loadNamed[T any](path, name, key string, line int, load func(string) (T, error)) (string, T, error) {
	if !filepath.IsAbs(name) {
		name = filepath.Join(filepath.Dir(path), name)
	}
	v, err := load(name)
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			err = &Error{File: path, Line: line, Key: key, Msg: err.Error(), Err: err}
		}
	}
	return name, v, err
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
	d.keys(path{}, root, masterFields(&m.Config), masterKeys, func(p path, k string, v any) bool {
		return d.masterKey(p, k, v, m)
	})
	d.checkDeadAfter(&m.Config)
	m.keep(d)
	if err := d.err(); err != nil {
		return nil, err
	}
	if err := validateMaster(name, d, m.Config); err != nil {
		return nil, err
	}
	return m, nil
}

// masterFields binds the plain keys of a master's file to c.
func masterFields(c *master.Config) *fields {
	return &fields{
		strs: map[string]*string{"listen": &c.Listen, "data_dir": &c.DataDir},
		durations: map[string]*time.Duration{
			"heartbeat_interval": &c.HeartbeatInterval,
			"dead_after":         &c.DeadAfter,
			"retry_backoff":      &c.RetryBackoff,
			"max_backoff":        &c.MaxBackoff,
			"preauth_timeout":    &c.PreAuthTimeout,
			"gob_idle_timeout":   &c.GobIdleTimeout,
			"retain":             &c.Retain,
			"history":            &c.History,
		},
		ints: map[string]*int{
			"assign_batch":              &c.AssignBatch,
			"max_calls_in_flight":       &c.MaxCallsInFlight,
			"max_submit":                &c.MaxSubmit,
			"max_args_bytes":            &c.MaxArgsBytes,
			"max_result_bytes":          &c.MaxResultBytes,
			"max_connections":           &c.MaxConnections,
			"max_anonymous_connections": &c.MaxAnonymousConnections,
			"max_anonymous_per_address": &c.MaxAnonymousPerAddress,
			"max_submit_bytes":          &c.MaxSubmitBytes,
			"max_reply_bytes":           &c.MaxReplyBytes,
			"retain_jobs":               &c.RetainJobs,
			"history_jobs":              &c.HistoryJobs,
			"metric_types":              &c.MetricTypes,
		},
		int64s: map[string]*int64{"max_request_body": &c.MaxRequestBody},
	}
}

// masterKey decodes k at p, if it is one of masterKeys but for those of
// masterFields, into m, and reports whether it was.
func (d *decoder) masterKey(p path, k string, v any, m *Master) bool {
	c := &m.Config
	switch k {
	case "store":
		c.Store = d.oneOf(p, v, master.StoreBolt, master.StoreMemory)
	case "notify":
		c.Notify = d.notify(p, v)
	case "jobs_file":
		m.JobsFile, m.jobsFileLine = d.str(p, v), d.line(p)
	case "tokens_file":
		m.TokensFile, m.tokensFileLine = d.str(p, v), d.line(p)
	case "client_cancel":
		c.ClientCancel = d.oneOf(p, v, master.ClientCancelOwn, master.ClientCancelAny)
	case "allowed_hosts":
		c.AllowedHosts = d.hosts(p, v)
	case "worker_hosts":
		c.WorkerHosts = d.workerHosts(p, v)
	case "gc_percent":
		c.GCPercent = d.integer(p, v, 0, 10000)
	case "max_xml_depth":
		c.MaxXMLDepth = d.integer(p, v, 0, 1000)
	case "limits":
		c.Limits = d.limits(p, v)
	case "type_limits":
		c.TypeLimits = d.limits(p, v)
	case "default_limit":
		c.DefaultLimit = d.limit(p, v)
	case "cluster":
		m.Cluster = d.cluster(p, v)
	default:
		return d.nodeKey(p, k, v, &m.node, &m.LogLevel, &m.LogFormat)
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
