// Package logx holds what master and worker share about their logrus
// loggers.
package logx

import "github.com/sirupsen/logrus"

// DebugOn reports whether l logs at debug level, so hot paths can skip
// building fields for lines nobody reads. A logger other than a
// *logrus.Logger or *logrus.Entry is taken to log everything.
func DebugOn(l logrus.FieldLogger) bool {
	switch x := l.(type) {
	case *logrus.Logger:
		return x.IsLevelEnabled(logrus.DebugLevel)
	case *logrus.Entry:
		return x.Logger.IsLevelEnabled(logrus.DebugLevel)
	}
	return true
}
