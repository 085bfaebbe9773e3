package conf

import (
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// Worker is a worker's configuration file, decoded.
type Worker struct {
	// Config is the worker's library configuration. Fields the file leaves
	// out stay zero, which means the library's default; Config.Commands
	// holds the [commands.NAME] tables.
	Config worker.Config
	// LogLevel is log_level: "debug", "info", "warn", "error" or empty
	// (info). Pass it to Logger.
	LogLevel string
	// LogFormat is log_format: "text", "json" or empty (text).
	LogFormat string

	node
}

var workerKeys = slices.Concat([]string{
	"master", "listen", "advertise", "name", "slots", "commands", "transport", "mode", "tags",
	"output_limit", "max_result_bytes", "kill_grace", "shutdown_grace", "report_delay",
	"allowed_hosts", "max_request_body", "max_calls_in_flight", "log_dir", "log_max_bytes", "log_max_age",
}, nodeKeys)

var commandKeys = []string{"argv", "dir", "env", "timeout", "fail_if", "permanent_exit_codes", "retry_exit_codes",
	"kind", "min_items", "max_errors"}

// LoadWorker reads the worker's file at path and applies the environment
// (DROVER_MASTER, DROVER_LISTEN). An empty path means no file: the
// defaults, with the environment applied.
func LoadWorker(path string) (*Worker, error) {
	w := &Worker{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("conf: %w", err)
		}
		if w, err = ParseWorker(path, data); err != nil {
			return nil, err
		}
	}
	if path != "" {
		var err error
		if w.Config.Token, w.Config.TLS, w.Config.ClientTLS, err = w.node.resolve(path); err != nil {
			return nil, err
		}
	}
	ApplyWorkerEnv(&w.Config, os.LookupEnv)
	return w, nil
}

// ParseWorker decodes data, the content of the worker's file called name
// (used in errors only).
func ParseWorker(name string, data []byte) (*Worker, error) {
	root, d, err := parse(name, data)
	if err != nil {
		return nil, err
	}
	w := &Worker{}
	c := &w.Config
	for k, v := range root {
		p := path{k}
		switch k {
		case "master":
			c.Master = d.str(p, v)
		case "listen":
			c.Listen = d.str(p, v)
		case "advertise":
			c.Advertise = d.str(p, v)
		case "allowed_hosts":
			c.AllowedHosts = d.hosts(p, v)
		case "tags":
			c.Tags = d.strList(p, v)
		case "transport":
			c.Transport = d.oneOf(p, v, rpcapi.TransportGob, rpcapi.TransportXMLRPC)
		case "mode":
			c.Mode = d.oneOf(p, v, rpcapi.ModePush, rpcapi.ModePull)
		case "name":
			c.Name = d.str(p, v)
		case "slots":
			c.Slots = d.integer(p, v, 0, math.MaxInt)
		case "max_request_body":
			c.MaxRequestBody = int64(d.integer(p, v, 0, math.MaxInt))
		case "max_calls_in_flight":
			c.MaxCallsInFlight = d.integer(p, v, 0, math.MaxInt)
		case "output_limit":
			c.OutputLimit = d.integer(p, v, 0, math.MaxInt)
		case "max_result_bytes":
			c.MaxResultBytes = d.integer(p, v, 0, math.MaxInt)
		case "kill_grace":
			c.KillGrace = d.duration(p, v)
		case "shutdown_grace":
			c.ShutdownGrace = d.duration(p, v)
		case "report_delay":
			c.ReportDelay = d.duration(p, v)
		case "log_dir":
			c.LogDir = d.str(p, v)
		case "log_max_bytes":
			c.LogMaxBytes = int64(d.integer(p, v, 0, math.MaxInt))
		case "log_max_age":
			c.LogMaxAge = d.duration(p, v)
		case "commands":
			c.Commands = d.commands(p, v)
		default:
			if !d.nodeKey(p, k, v, &w.node, &w.LogLevel, &w.LogFormat) {
				d.unknown(p, workerKeys)
			}
		}
	}
	if c.ReportDelay > worker.MaxReportDelay {
		d.errorf(path{"report_delay"}, "%s is above the maximum of %s", c.ReportDelay, worker.MaxReportDelay)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	// Validate a copy, so that the zero values stay zero (defaults).
	check := w.Config
	if err := check.Validate(); err != nil {
		return nil, &Error{File: name, Msg: err.Error(), Err: err}
	}
	return w, nil
}

// commands decodes the [commands] table: one table per command name.
func (d *decoder) commands(p path, v any) map[string]worker.Command {
	t := d.table(p, v)
	if t == nil {
		return nil
	}
	out := make(map[string]worker.Command, len(t))
	for name, v := range t {
		cp := p.key(name)
		ct := d.table(cp, v)
		if ct == nil {
			continue
		}
		before := len(d.errs)
		var cmd worker.Command
		for k, v := range ct {
			d.commandKey(cp.key(k), k, v, &cmd)
		}
		if _, ok := ct["argv"]; !ok && len(d.errs) == before {
			d.errorf(cp.key("argv"), `missing: give the program and its arguments, e.g. argv = ["sleep", "{seconds}"]`)
		}
		if len(d.errs) == before {
			// The worker's own checks (name, templates), on this command
			// alone so that an error gets this command's line.
			one := worker.Config{Commands: map[string]worker.Command{name: cmd}}
			if err := one.Validate(); err != nil {
				d.wrap(cp, err)
			}
		}
		out[name] = cmd
	}
	return out
}

// commandKey decodes key k of a [commands.NAME] table into cmd.
func (d *decoder) commandKey(p path, k string, v any, cmd *worker.Command) {
	switch k {
	case "argv":
		cmd.Argv = d.strList(p, v)
		if a, ok := v.([]any); ok && len(a) == 0 {
			d.errorf(p, "must not be empty: give the program and its arguments")
		} else if ok && a[0] == "" {
			d.errorf(p.index(0), "empty program name")
		}
	case "dir":
		cmd.Dir = d.str(p, v)
	case "env":
		if t := d.table(p, v); t != nil {
			cmd.Env = make(map[string]string, len(t))
			for name, e := range t {
				cmd.Env[name] = d.str(p.key(name), e)
			}
		}
	case "timeout":
		cmd.Timeout = d.duration(p, v)
	case "fail_if":
		cmd.FailIf = d.strList(p, v)
	case "permanent_exit_codes":
		cmd.PermanentExitCodes = d.exitCodes(p, v)
	case "retry_exit_codes":
		cmd.RetryExitCodes = d.exitCodes(p, v)
	case "kind":
		cmd.Kind = d.oneOf(p, v, worker.KindScrapy)
	case "min_items":
		cmd.MinItems = d.integer(p, v, 0, math.MaxInt)
	case "max_errors":
		cmd.MaxErrors = d.integer(p, v, 0, math.MaxInt)
	default:
		d.unknown(p, commandKeys)
	}
}

// exitCodes returns v as a list of exit codes, 1..255.
func (d *decoder) exitCodes(p path, v any) []int {
	a, ok := v.([]any)
	if !ok {
		d.errorf(p, "want an array of exit codes, got %s", typeName(v))
		return nil
	}
	out := make([]int, len(a))
	for i, e := range a {
		out[i] = d.integer(p.index(i), e, 1, 255)
	}
	return out
}

// ApplyWorkerEnv sets c.Master from DROVER_MASTER, c.Listen from
// DROVER_LISTEN and c.Token from DROVER_TOKEN when lookup finds them set
// and not empty.
func ApplyWorkerEnv(c *worker.Config, lookup LookupFunc) {
	setFromEnv(&c.Master, EnvMaster, lookup)
	setFromEnv(&c.Listen, EnvListen, lookup)
	setFromEnv(&c.Token, EnvToken, lookup)
}
