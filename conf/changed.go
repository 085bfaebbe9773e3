package conf

import (
	"reflect"
	"slices"
)

// Changed returns the keys of the master's file whose values differ
// between old and m, sorted: both as loaded (LoadMaster), so with their
// jobs and tokens files and the environment. A changed token or
// token_file is "token"; a changed tls_cert, tls_key or tls_ca is "tls".
// The content of the jobs file and of the tokens file are "jobs" and
// "tokens". TLS files are compared by name, not content.
func (m *Master) Changed(old *Master) []string {
	o, n := &old.Config, &m.Config
	return changed(masterFields(o), masterFields(n), map[string][2]any{
		"store":         {o.Store, n.Store},
		"notify":        {o.Notify, n.Notify},
		"client_cancel": {o.ClientCancel, n.ClientCancel},
		"allowed_hosts": {o.AllowedHosts, n.AllowedHosts},
		"worker_hosts":  {o.WorkerHosts, n.WorkerHosts},
		"gc_percent":    {o.GCPercent, n.GCPercent},
		"max_xml_depth": {o.MaxXMLDepth, n.MaxXMLDepth},
		"limits":        {o.Limits, n.Limits},
		"type_limits":   {o.TypeLimits, n.TypeLimits},
		"default_limit": {o.DefaultLimit, n.DefaultLimit},
		"jobs_file":     {old.JobsFile, m.JobsFile},
		"jobs":          {o.Jobs, n.Jobs},
		"tokens_file":   {old.TokensFile, m.TokensFile},
		"tokens":        {o.Tokens, n.Tokens},
	}, nodeValues{&old.node, old.LogLevel, old.LogFormat, o.Token}, nodeValues{&m.node, m.LogLevel, m.LogFormat, n.Token})
}

// Changed returns the keys of the worker's file whose values differ
// between old and w, sorted, as Master.Changed does; the [commands]
// tables are "commands".
func (w *Worker) Changed(old *Worker) []string {
	o, n := &old.Config, &w.Config
	return changed(workerFields(o), workerFields(n), map[string][2]any{
		"allowed_hosts": {o.AllowedHosts, n.AllowedHosts},
		"transport":     {o.Transport, n.Transport},
		"mode":          {o.Mode, n.Mode},
		"commands":      {o.Commands, n.Commands},
	}, nodeValues{&old.node, old.LogLevel, old.LogFormat, o.Token}, nodeValues{&w.node, w.LogLevel, w.LogFormat, n.Token})
}

// nodeValues are the values of a loaded file behind its nodeKeys: the
// node, log_level, log_format and the token in use.
type nodeValues struct {
	node                 *node
	level, format, token string
}

// changed returns, sorted, the keys whose values differ between two loads
// of a file: the plain keys bound in a and b, each key of other whose two
// values (old, new) differ, and the nodeKeys (see nodeChanged).
func changed(a, b *fields, other map[string][2]any, old, n nodeValues) []string {
	keys := plainChanged(a, b)
	for k, pair := range other {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			keys = append(keys, k)
		}
	}
	keys = append(keys, nodeChanged(old, n)...)
	slices.Sort(keys)
	return keys
}

// nodeChanged returns the keys of nodeKeys that differ: log_level,
// log_format, token (the token in use) and tls.
func nodeChanged(old, n nodeValues) []string {
	var keys []string
	if old.level != n.level {
		keys = append(keys, "log_level")
	}
	if old.format != n.format {
		keys = append(keys, "log_format")
	}
	if old.token != n.token {
		keys = append(keys, "token")
	}
	if o, t := old.node.tls, n.node.tls; o.cert != t.cert || o.key != t.key || o.ca != t.ca {
		keys = append(keys, "tls")
	}
	return keys
}

// plainChanged returns the keys bound in a and b whose values differ.
func plainChanged(a, b *fields) []string {
	var keys []string
	keys = appendChanged(keys, a.strs, b.strs)
	keys = appendChanged(keys, a.lists, b.lists)
	keys = appendChanged(keys, a.durations, b.durations)
	keys = appendChanged(keys, a.ints, b.ints)
	return appendChanged(keys, a.int64s, b.int64s)
}

func appendChanged[T any](keys []string, a, b map[string]*T) []string {
	for k, p := range a {
		if !reflect.DeepEqual(*p, *b[k]) {
			keys = append(keys, k)
		}
	}
	return keys
}
