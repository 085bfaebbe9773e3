package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/sirupsen/logrus"

	drovercluster "github.com/drover/drover/cluster"
	"github.com/drover/drover/conf"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// masterCmd runs a master until SIGINT or SIGTERM; SIGHUP reloads its
// conf file (masterReloader).
func masterCmd(fs *pflag.FlagSet) runFunc {
	config := fs.String("config", "", "master conf `file` (TOML); none means defaults")
	listen := fs.String("listen", "", "listen `addr` (overrides the file and $DROVER_MASTER_LISTEN)")
	dataDir := fs.String("data-dir", "", "data `dir` (overrides the file and $DROVER_MASTER_DATA_DIR)")
	store := fs.String("store", "", "store: bolt or memory (overrides the file)")
	logf := addLogFlags(fs)
	return func(pos []string, _ io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		mf, err := conf.LoadMaster(*config)
		if err != nil {
			return err
		}
		flags := func(f *conf.Master) {
			setIf(&f.Config.Listen, *listen)
			setIf(&f.Config.DataDir, *dataDir)
			setIf(&f.Config.Store, *store)
			logf.apply(&f.LogLevel, &f.LogFormat)
		}
		flags(mf)
		log, err := newLogger(mf.LogLevel, mf.LogFormat, mf.EnvNotices())
		if err != nil {
			return err
		}
		cfg := mf.Config
		cfg.Logger = log
		if mf.Cluster != nil {
			return runMember(mf, cfg, &masterReloader{path: *config, log: log, cur: mf, flags: flags})
		}
		m, err := master.New(cfg)
		if err != nil {
			return err
		}
		sig := daemonSignals()
		defer sig.close()
		if err := m.Start(); err != nil {
			return withSource(err, flagOr(*listen, "--listen", mf.Source("listen")))
		}
		r := &masterReloader{path: *config, m: m, log: log, cur: mf, flags: flags}
		for {
			select {
			case <-sig.ctx.Done():
				log.Info("signal received; stopping")
				return m.Close()
			case <-sig.hup:
				r.reload()
			case <-m.Failed(): // the store's load failed after the listener opened
				m.Close()
				return m.Err()
			}
		}
	}
}

// runMember runs the master as a member of its file's [cluster] until
// SIGINT or SIGTERM (docs/ha.md); SIGHUP reloads its conf file with r,
// whose target is the member.
func runMember(mf *conf.Master, cfg master.Config, r *masterReloader) error {
	c := mf.Cluster
	sig := daemonSignals()
	defer sig.close()
	n, err := drovercluster.Start(drovercluster.Config{Master: cfg, ID: c.ID, RaftListen: c.RaftListen, Members: c.Members, Join: c.Join})
	if err != nil {
		return err
	}
	r.m = n
	for {
		select {
		case <-sig.ctx.Done():
			cfg.Logger.Info("signal received; stopping")
			return n.Close()
		case <-sig.hup:
			r.reload()
		case <-n.Done(): // its local store failed: exit so that it is restarted
			n.Close()
			return n.Err()
		}
	}
}

// workerCmd runs a worker until SIGINT or SIGTERM, then drains it; SIGHUP
// reloads its conf file's log settings (workerReloader).
func workerCmd(fs *pflag.FlagSet) runFunc {
	config := fs.String("config", "", "worker conf `file` (TOML)")
	masterAddr := fs.String("master", "", "master `addr` (overrides the file and $DROVER_MASTER)")
	listen := fs.String("listen", "", "listen `addr` (overrides the file and $DROVER_WORKER_LISTEN)")
	name := fs.String("name", "", "worker `name` (overrides the file)")
	slots := fs.Int("slots", 0, "jobs run at once (overrides the file)")
	transport := fs.String("transport", "", "protocol to the master: gob or xmlrpc (overrides the file)")
	mode := fs.String("mode", "", "push (the master calls us) or pull (we poll the master) (overrides the file)")
	var tags listFlag
	fs.Var(&tags, "tag", "a `tag` of this worker, e.g. region=eu (repeatable; replaces the file's tags)")
	logf := addLogFlags(fs)
	return func(pos []string, _ io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		wf, err := conf.LoadWorker(*config)
		if err != nil {
			return err
		}
		flags := func(f *conf.Worker) {
			c := &f.Config
			setIf(&c.Master, *masterAddr)
			setIf(&c.Listen, *listen)
			setIf(&c.Name, *name)
			setIf(&c.Transport, *transport)
			setIf(&c.Mode, *mode)
			if len(tags) > 0 {
				c.Tags = tags
			}
			if *slots != 0 {
				c.Slots = *slots
			}
			logf.apply(&f.LogLevel, &f.LogFormat)
		}
		flags(wf)
		log, err := newLogger(wf.LogLevel, wf.LogFormat, wf.EnvNotices())
		if err != nil {
			return err
		}
		cfg := wf.Config
		cfg.Logger = log
		w, err := worker.New(cfg)
		if err != nil {
			return err
		}
		sig := daemonSignals()
		defer sig.close()
		if err := w.Start(); err != nil {
			var le *worker.LogDirError
			if errors.As(err, &le) {
				return errors.New(le.Message("log_dir")) // the conf key, not the Go field
			}
			return withSource(err, flagOr(*listen, "--listen", wf.Source("listen")))
		}
		r := &workerReloader{path: *config, log: log, cur: wf, flags: flags}
		for {
			select {
			case <-sig.ctx.Done():
				sig.cancel() // a second signal kills at once
				log.Info("signal received; draining")
				return w.Shutdown(context.Background())
			case <-sig.hup:
				r.reload()
			}
		}
	}
}

// newLogger returns the logger of level and format, having logged
// notices (about the environment) as warnings.
func newLogger(level, format string, notices []string) (*logrus.Logger, error) {
	log, err := conf.Logger(level, format)
	if err != nil {
		return nil, err
	}
	for _, n := range notices {
		log.Warn(n)
	}
	return log, nil
}

// flagOr returns flag when value (a flag's) is set, else from.
func flagOr(value, flag, from string) string {
	if value != "" {
		return flag
	}
	return from
}

// logFlags are --log-level and --log-format, which override the conf
// file's.
type logFlags struct{ level, format *string }

func addLogFlags(fs *pflag.FlagSet) logFlags {
	return logFlags{
		level:  fs.String("log-level", "", "log level: debug, info, warn, error (overrides the file)"),
		format: fs.String("log-format", "", "log format: text or json (overrides the file)"),
	}
}

// apply sets *level and *format (a conf file's) to the flags given.
func (f logFlags) apply(level, format *string) {
	setIf(level, *f.level)
	setIf(format, *f.format)
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// signals are what a master or worker process acts on: ctx ends at
// SIGINT or SIGTERM (cancel undoes that, so that a second one kills at
// once), and hup receives SIGHUPs.
type signals struct {
	ctx    context.Context
	cancel context.CancelFunc
	hup    chan os.Signal
}

// daemonSignals starts catching the signals; called before Start, so that
// a signal sent once the process listens is never missed (a SIGHUP would
// kill it).
func daemonSignals() signals {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	s := signals{ctx: ctx, cancel: cancel, hup: make(chan os.Signal, 1)}
	signal.Notify(s.hup, syscall.SIGHUP)
	return s
}

// close stops catching them.
func (s signals) close() {
	s.cancel()
	signal.Stop(s.hup)
}
