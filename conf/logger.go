package conf

import (
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
)

// The values of log_level and log_format.
var (
	logLevels = map[string]logrus.Level{
		"debug": logrus.DebugLevel,
		"info":  logrus.InfoLevel,
		"warn":  logrus.WarnLevel,
		"error": logrus.ErrorLevel,
	}
	logFormats = map[string]func() logrus.Formatter{
		"text": func() logrus.Formatter { return &logrus.TextFormatter{} },
		"json": func() logrus.Formatter { return &logrus.JSONFormatter{} },
	}
)

// checkLog reports whether s is a valid value for key, which is
// "log_level" or "log_format". Empty means the default.
func checkLog(key, s string) error {
	if s == "" {
		return nil
	}
	switch _, level := logLevels[s]; {
	case key == "log_level" && !level:
		return fmt.Errorf("invalid value %q (want %s)", s, quotedList([]string{"debug", "info", "warn", "error"}))
	case key == "log_format" && logFormats[s] == nil:
		return fmt.Errorf("invalid value %q (want %s)", s, quotedList([]string{"text", "json"}))
	}
	return nil
}

// Logger returns a logger writing to os.Stderr at level ("debug", "info",
// "warn" or "error"; empty means "info") in format ("text" or "json";
// empty means "text"). An invalid value is an error naming its key,
// log_level or log_format.
func Logger(level, format string) (*logrus.Logger, error) {
	if err := checkLog("log_level", level); err != nil {
		return nil, fmt.Errorf("log_level: %w", err)
	}
	if err := checkLog("log_format", format); err != nil {
		return nil, fmt.Errorf("log_format: %w", err)
	}
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetLevel(logrus.InfoLevel)
	if level != "" {
		l.SetLevel(logLevels[level])
	}
	if format != "" {
		l.SetFormatter(logFormats[format]())
	}
	return l, nil
}
