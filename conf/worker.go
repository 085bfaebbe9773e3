package conf

import (
	"os"
	"slices"
	"time"

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
	sources
}

var workerKeys = slices.Concat([]string{
	"master", "listen", "advertise", "name", "slots", "commands", "transport", "mode", "tags",
	"output_limit", "max_result_bytes", "kill_grace", "shutdown_grace", "report_delay",
	"allowed_hosts", "max_request_body", "max_calls_in_flight", "log_dir", "log_max_bytes", "log_max_age",
	"fence", "identity",
}, nodeKeys)

var commandKeys = []string{"argv", "dir", "env", "timeout", "fail_if", "permanent_exit_codes", "retry_exit_codes",
	"kind", "min_items", "max_errors"}

// LoadWorker reads the worker's file at path and applies the environment
// (ApplyWorkerEnv). An empty path means no file: the defaults, with the
// environment applied.
func LoadWorker(path string) (*Worker, error) {
	w := &Worker{}
	if path != "" {
		var err error
		if w, err = readFile(path, ParseWorker); err != nil {
			return nil, err
		}
	}
	if path != "" {
		var err error
		if w.Config.Token, w.Config.TLS, w.Config.ClientTLS, err = w.node.resolve(path); err != nil {
			return nil, err
		}
	}
	w.env = ApplyWorkerEnv(&w.Config, os.LookupEnv)
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
	d.keys(path{}, root, workerFields(c), workerKeys, func(p path, k string, v any) bool {
		switch k {
		case "allowed_hosts":
			c.AllowedHosts = d.hosts(p, v)
		case "transport":
			c.Transport = d.oneOf(p, v, rpcapi.TransportGob, rpcapi.TransportXMLRPC)
		case "mode":
			c.Mode = d.oneOf(p, v, rpcapi.ModePush, rpcapi.ModePull)
		case "fence":
			c.NoFence = !d.boolean(p, v)
		case "commands":
			c.Commands = d.commands(p, v)
		default:
			return d.nodeKey(p, k, v, &w.node, &w.LogLevel, &w.LogFormat)
		}
		return true
	})
	w.keep(d)
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

// workerFields binds the plain keys of a worker's file to c.
func workerFields(c *worker.Config) *fields {
	return &fields{
		strs: map[string]*string{
			"master":    &c.Master,
			"listen":    &c.Listen,
			"advertise": &c.Advertise,
			"name":      &c.Name,
			"log_dir":   &c.LogDir,
			"identity":  &c.Identity,
		},
		lists: map[string]*[]string{"tags": &c.Tags},
		durations: map[string]*time.Duration{
			"kill_grace":     &c.KillGrace,
			"shutdown_grace": &c.ShutdownGrace,
			"report_delay":   &c.ReportDelay,
			"log_max_age":    &c.LogMaxAge,
		},
		ints: map[string]*int{
			"slots":               &c.Slots,
			"max_calls_in_flight": &c.MaxCallsInFlight,
			"output_limit":        &c.OutputLimit,
			"max_result_bytes":    &c.MaxResultBytes,
		},
		int64s: map[string]*int64{"max_request_body": &c.MaxRequestBody, "log_max_bytes": &c.LogMaxBytes},
	}
}

// commands decodes the [commands] table: one table per command name.
func (d *decoder) commands(p path, v any) map[string]worker.Command {
	return named(d, p, v, d.command)
}

// command decodes the table of the command called name, at cp, and
// reports whether it is a table.
func (d *decoder) command(cp path, name string, v any) (cmd worker.Command, ok bool) {
	ct := d.table(cp, v)
	if ct == nil {
		return cmd, false
	}
	before := len(d.errs)
	fs := &fields{
		strs:      map[string]*string{"dir": &cmd.Dir},
		lists:     map[string]*[]string{"fail_if": &cmd.FailIf},
		durations: map[string]*time.Duration{"timeout": &cmd.Timeout},
		ints:      map[string]*int{"min_items": &cmd.MinItems, "max_errors": &cmd.MaxErrors},
	}
	d.keys(cp, ct, fs, commandKeys, func(p path, k string, v any) bool { return d.commandKey(p, k, v, &cmd) })
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
	return cmd, true
}

// commandKey decodes key k of a [commands.NAME] table into cmd, if it is
// one of commandKeys but for the plain ones (dir, fail_if, timeout,
// min_items, max_errors) that commands decodes, and reports whether it was.
func (d *decoder) commandKey(p path, k string, v any, cmd *worker.Command) bool {
	switch k {
	case "argv":
		cmd.Argv = d.strList(p, v)
		if a, ok := v.([]any); ok && len(a) == 0 {
			d.errorf(p, "must not be empty: give the program and its arguments")
		} else if ok && a[0] == "" {
			d.errorf(p.index(0), "empty program name")
		}
	case "env":
		if t := d.table(p, v); t != nil {
			cmd.Env = make(map[string]string, len(t))
			for name, e := range t {
				cmd.Env[name] = d.str(p.key(name), e)
			}
		}
	case "permanent_exit_codes":
		cmd.PermanentExitCodes = d.exitCodes(p, v)
	case "retry_exit_codes":
		cmd.RetryExitCodes = d.exitCodes(p, v)
	case "kind":
		cmd.Kind = d.oneOf(p, v, worker.KindScrapy)
	default:
		return false
	}
	return true
}

// exitCodes returns v as a list of exit codes, 1..255.
func (d *decoder) exitCodes(p path, v any) []int {
	return list(d, p, v, "exit codes", func(p path, e any) int { return d.integer(p, e, 1, 255) })
}
