package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/conf"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// masterCmd runs a master until SIGINT or SIGTERM.
func masterCmd(fs *pflag.FlagSet) runFunc {
	config := fs.String("config", "", "master conf `file` (TOML); none means defaults")
	listen := fs.String("listen", "", "listen `addr` (overrides the file and $DROVER_LISTEN)")
	dataDir := fs.String("data-dir", "", "data `dir` (overrides the file and $DROVER_DATA_DIR)")
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
		cfg := mf.Config
		setIf(&cfg.Listen, *listen)
		setIf(&cfg.DataDir, *dataDir)
		setIf(&cfg.Store, *store)
		log, err := logf.logger(&mf.LogLevel, &mf.LogFormat)
		if err != nil {
			return err
		}
		cfg.Logger = log
		m, err := master.New(cfg)
		if err != nil {
			return err
		}
		// Before Start, so that a signal sent once the master listens is
		// never missed (a SIGHUP would kill the process).
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		if err := m.Start(); err != nil {
			return err
		}
		for {
			select {
			case <-ctx.Done():
				log.Info("signal received; stopping")
				return m.Close()
			case <-hup:
				reloadTokens(m, mf.TokensFile, log)
			case <-m.Failed(): // the store's load failed after the listener opened
				m.Close()
				return m.Err()
			}
		}
	}
}

// reloadTokens loads the tokens file at path into m, on SIGHUP. A file
// that does not load, or a set the master refuses, is logged and leaves
// the tokens as they were.
func reloadTokens(m *master.Master, path string, log logrus.FieldLogger) {
	if path == "" {
		log.Warn("SIGHUP: no tokens_file to reload; nothing changed")
		return
	}
	creds, err := conf.LoadTokens(path)
	if err == nil {
		err = m.SetTokens(creds)
	}
	if err != nil {
		log.WithError(err).WithField("tokens_file", path).Error("SIGHUP: tokens not reloaded; the previous tokens stay in force")
		return
	}
	log.WithField("tokens_file", path).Info("SIGHUP: tokens reloaded")
}

// workerCmd runs a worker until SIGINT or SIGTERM, then drains it.
func workerCmd(fs *pflag.FlagSet) runFunc {
	config := fs.String("config", "", "worker conf `file` (TOML)")
	masterAddr := fs.String("master", "", "master `addr` (overrides the file and $DROVER_MASTER)")
	listen := fs.String("listen", "", "listen `addr` (overrides the file and $DROVER_LISTEN)")
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
		cfg := wf.Config
		setIf(&cfg.Master, *masterAddr)
		setIf(&cfg.Listen, *listen)
		setIf(&cfg.Name, *name)
		setIf(&cfg.Transport, *transport)
		setIf(&cfg.Mode, *mode)
		if len(tags) > 0 {
			cfg.Tags = tags
		}
		if *slots != 0 {
			cfg.Slots = *slots
		}
		log, err := logf.logger(&wf.LogLevel, &wf.LogFormat)
		if err != nil {
			return err
		}
		cfg.Logger = log
		w, err := worker.New(cfg)
		if err != nil {
			return err
		}
		if err := w.Start(); err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		<-ctx.Done()
		stop() // a second signal kills at once
		log.Info("signal received; draining")
		return w.Shutdown(context.Background())
	}
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

// logger sets *level and *format (the conf file's) to the flags given,
// and returns their logger.
func (f logFlags) logger(level, format *string) (*logrus.Logger, error) {
	setIf(level, *f.level)
	setIf(format, *f.format)
	return conf.Logger(*level, *format)
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}
