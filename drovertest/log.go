package drovertest

import (
	"strings"
	"sync"
	"testing"
)

// logSink writes log lines to t.Log until the test's cleanup ends.
type logSink struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (s *logSink) shut() {
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
}
