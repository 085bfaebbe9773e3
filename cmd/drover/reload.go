package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	drovercluster "github.com/drover/drover/cluster"
	"github.com/drover/drover/conf"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// SIGHUP: drover master and drover worker read their conf file again and
// apply what can change at run time; the rest waits for a restart, and
// the log says which keys that is (README, "Reloading with SIGHUP").

// masterReloadable are the keys of the master's file a SIGHUP applies
// (conf.Master.Changed's names).
var masterReloadable = []string{"log_level", "log_format", "limits", "type_limits", "default_limit",
	"tokens_file", "tokens", "jobs_file", "jobs"}

// jobsFileWait bounds how long a SIGHUP waits for the master's store to
// load before it submits the jobs file.
const jobsFileWait = 10 * time.Second

// reloadTarget is what a master's reload changes at run time: a master
// that runs alone (*master.Master) or a member of a raft group
// (*cluster.Node, which applies each change to the master it runs while
// it leads and keeps it for the masters it starts later). The methods
// are those of master.Master; they may block (SubmitJobsFile until the
// store is loaded or ctx ends) and are called from the signal loop.
type reloadTarget interface {
	SetTokens(tokens []rpcapi.Credential) error
	SetLimits(limits, typeLimits map[string]master.Limit, def master.Limit) error
	SubmitJobsFile(ctx context.Context, specs []jobs.Spec) (added, known int, err error)
}

var (
	_ reloadTarget = (*master.Master)(nil)
	_ reloadTarget = (*drovercluster.Node)(nil)
)

// masterReloader reloads a running master's conf file, or a cluster
// member's.
type masterReloader struct {
	path  string // the --config file; "" for none
	m     reloadTarget
	log   *logrus.Logger
	cur   *conf.Master       // what runs: the file as loaded, with what SIGHUPs applied
	flags func(*conf.Master) // applies the command line's flags over a file
}

// reload loads the conf file again (with its jobs and tokens files, the
// environment and the flags over it) and applies what changed and can
// change at run time: the tokens, the jobs file's jobs, the log level and
// format, the limits, in that order, logging a line for each. A file
// that does not load, tokens the master refuses or a jobs file it refuses
// are logged, and leave everything as it was. A cluster member that does
// not lead keeps the jobs file for when it leads (cluster.ErrNotLeading);
// a changed [cluster] table is named as waiting for a restart.
func (r *masterReloader) reload() {
	nf := loadAgain(r.log, r.path, conf.LoadMaster, r.flags)
	if nf == nil {
		return
	}
	changed := nf.Changed(r.cur)
	if !reflect.DeepEqual(nf.Cluster, r.cur.Cluster) {
		changed = append(changed, "cluster") // the group: at a restart only
		slices.Sort(changed)
	}
	has := func(keys ...string) bool {
		return slices.ContainsFunc(keys, func(k string) bool { return slices.Contains(changed, k) })
	}
	if has("tokens_file", "tokens") {
		if err := r.m.SetTokens(nf.Config.Tokens); err != nil {
			r.log.WithError(err).WithField("tokens_file", nf.TokensFile).Error("SIGHUP: tokens not reloaded; nothing changed")
			return
		}
		r.log.WithField("tokens_file", nf.TokensFile).Info("SIGHUP: tokens reloaded")
	}
	if has("jobs_file", "jobs") {
		ctx, cancel := context.WithTimeout(context.Background(), jobsFileWait)
		added, known, err := r.m.SubmitJobsFile(ctx, nf.Config.Jobs)
		cancel()
		switch {
		case errors.Is(err, drovercluster.ErrNotLeading):
			r.log.WithFields(logrus.Fields{"jobs_file": nf.JobsFile, "jobs": len(nf.Config.Jobs)}).Info("SIGHUP: jobs file kept; this member submits it when it leads")
		case err != nil:
			r.log.WithError(err).WithField("jobs_file", nf.JobsFile).Error("SIGHUP: jobs file not submitted; nothing changed")
			r.restoreTokens(has("tokens_file", "tokens"))
			return
		default:
			r.log.WithFields(logrus.Fields{"jobs_file": nf.JobsFile, "new": added, "known": known}).Info("SIGHUP: jobs file submitted")
		}
	}
	// The log settings before the limits, so that what a raised limit
	// dispatches is logged at the new level.
	setLog(r.log, r.cur.LogLevel, r.cur.LogFormat, nf.LogLevel, nf.LogFormat)
	if has("limits", "type_limits", "default_limit") {
		c := &nf.Config
		if err := r.m.SetLimits(c.Limits, c.TypeLimits, c.DefaultLimit); err != nil { // conf checked them
			r.log.WithError(err).Error("SIGHUP: limits not changed")
		} else {
			r.log.WithField("keys", strings.Join(filter(changed, "limits", "type_limits", "default_limit"), ", ")).Info("SIGHUP: limits changed")
			cur := &r.cur.Config
			cur.Limits, cur.TypeLimits, cur.DefaultLimit = c.Limits, c.TypeLimits, c.DefaultLimit
		}
	}
	r.cur.LogLevel, r.cur.LogFormat = nf.LogLevel, nf.LogFormat
	r.cur.JobsFile, r.cur.Config.Jobs = nf.JobsFile, nf.Config.Jobs
	r.cur.TokensFile, r.cur.Config.Tokens = nf.TokensFile, nf.Config.Tokens
	logRestart(r.log, changed, masterReloadable)
}

// restoreTokens puts back the tokens that ran before this reload, if it
// replaced them.
func (r *masterReloader) restoreTokens(replaced bool) {
	if !replaced {
		return
	}
	if err := r.m.SetTokens(r.cur.Config.Tokens); err != nil {
		r.log.WithError(err).Error("SIGHUP: the previous tokens could not be put back")
		return
	}
	r.log.Info("SIGHUP: the previous tokens are back in force")
}

// setLog sets log's level and format to level and format when they differ
// from the old ones, and logs each change. Both were checked when their
// file was loaded.
func setLog(log *logrus.Logger, oldLevel, oldFormat, level, format string) {
	nl, err := conf.Logger(level, format)
	if err != nil {
		log.WithError(err).Error("SIGHUP: log settings not changed")
		return
	}
	if level != oldLevel {
		log.SetLevel(nl.Level)
		log.WithFields(logrus.Fields{"from": orDefault(oldLevel, "info"), "to": orDefault(level, "info")}).Info("SIGHUP: log level changed")
	}
	if format != oldFormat {
		log.SetFormatter(nl.Formatter)
		log.WithFields(logrus.Fields{"from": orDefault(oldFormat, "text"), "to": orDefault(format, "text")}).Info("SIGHUP: log format changed")
	}
}

// logRestart logs the keys of changed that are not in reloadable: those
// take effect at the next start. Without any, it logs what the reload
// did when it did nothing.
func logRestart(log logrus.FieldLogger, changed, reloadable []string) {
	var restart []string
	for _, k := range changed {
		if !slices.Contains(reloadable, k) {
			restart = append(restart, k)
		}
	}
	switch {
	case len(restart) > 0:
		log.WithField("keys", strings.Join(restart, ", ")).Warn("SIGHUP: these keys changed but take effect only at a restart")
	case len(changed) == 0:
		log.Info("SIGHUP: conf reloaded; nothing changed")
	}
}

// filter returns the keys of keys that are in want, in keys' order.
func filter(keys []string, want ...string) []string {
	var out []string
	for _, k := range keys {
		if slices.Contains(want, k) {
			out = append(out, k)
		}
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// withSource adds to err, when it is a listen error, where the listen
// address came from: from is "--listen", "$NAME", "FILE:LINE" or "" (the
// default).
func withSource(err error, from string) error {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "listen" {
		return err
	}
	if from == "" {
		from = "the default"
	}
	return fmt.Errorf("%w (the listen address is from %s)", err, from)
}

// loadAgain loads the conf file path again with load and applies flags
// over it. With no file, or one that does not load, it logs why and
// returns nil: nothing changes.
func loadAgain[F any](log *logrus.Logger, path string, load func(string) (*F, error), flags func(*F)) *F {
	if path == "" {
		log.Warn("SIGHUP: no conf file (--config) to reload; nothing changed")
		return nil
	}
	nf, err := load(path)
	if err != nil {
		log.WithError(err).Error("SIGHUP: conf not reloaded; nothing changed")
		return nil
	}
	flags(nf)
	return nf
}

// workerReloader reloads a running worker's conf file: only its log level
// and format change at run time.
type workerReloader struct {
	path  string // the --config file; "" for none
	log   *logrus.Logger
	cur   *conf.Worker       // what runs
	flags func(*conf.Worker) // applies the command line's flags over a file
}

// reload loads the conf file again, applies its log level and format,
// and logs the other keys that changed. A file that does not load is
// logged and changes nothing.
func (r *workerReloader) reload() {
	nf := loadAgain(r.log, r.path, conf.LoadWorker, r.flags)
	if nf == nil {
		return
	}
	changed := nf.Changed(r.cur)
	setLog(r.log, r.cur.LogLevel, r.cur.LogFormat, nf.LogLevel, nf.LogFormat)
	r.cur.LogLevel, r.cur.LogFormat = nf.LogLevel, nf.LogFormat
	logRestart(r.log, changed, []string{"log_level", "log_format"})
}
