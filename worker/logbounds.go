package worker

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/drover/drover/rpcapi"
)

// The bounds of the log directory: log_max_bytes and log_max_age.

// ageEvery is how often ageLoop applies log_max_age when maxAge is age:
// a tenth of it, at least a second and at most an hour.
func ageEvery(age time.Duration) time.Duration {
	return min(max(age/10, time.Second), time.Hour)
}

// ageLoop removes the logs older than maxAge every ageEvery(maxAge) until
// ctx ends, so that a worker no attempt ends on still drops them. It
// applies log_max_age only: log_max_bytes is applied when an attempt
// ends, which is when the logs grow.
func (s *logStore) ageLoop(ctx context.Context) {
	t := time.NewTicker(ageEvery(s.maxAge))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.mu.Lock()
			s.applyBounds(now, "", math.MaxInt64)
			s.mu.Unlock()
		}
	}
}

// prune reads the directory, then applies the bounds: the worker calls it
// once, when it starts.
func (s *logStore) prune(now time.Time) {
	if err := s.dirOK(); err != nil {
		s.log.WithError(err).Warn("log_max_bytes and log_max_age not applied: the log directory is not safe to prune")
		return
	}
	des, err := os.ReadDir(s.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.WithError(err).Warn("cannot list the log directory to apply log_max_bytes and log_max_age")
	}
	var found []logEntry
	for _, de := range des {
		// de.IsDir is false for a link, whatever it points to.
		if !de.IsDir() || !logDirName.MatchString(de.Name()) {
			continue
		}
		if e, ok := s.entry(de.Name()); ok {
			found = append(found, e)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range found {
		s.remember(e)
	}
	s.applyBounds(now, "", s.maxBytes)
}

// applyBounds removes the logs older than maxAge, then the oldest until
// the rest, running attempts' included, take maxBytes (s.maxBytes, or no
// bound at all for ageLoop) at most. A log
// another worker's running attempt holds is passed over. It stops at the
// log called keep (the attempt that ends), which stays, with any later
// one: an attempt's bytes fit maxBytes (its LogEntryCost aside), so only
// running attempts' logs can keep the directory over the bound then,
// until the next attempt ends. Removing an entry never follows a link (os.RemoveAll removes a
// link, not what it points to). The caller holds mu (no log starts
// meanwhile: open waits).
func (s *logStore) applyBounds(now time.Time, keep string, maxBytes int64) {
	if err := s.dirOK(); err != nil {
		s.log.WithError(err).Warn("log_max_bytes and log_max_age not applied: the log directory is not safe to prune")
		return
	}
	total := s.total
	for _, a := range s.active {
		total += s.entryCost + a.written()
	}
	var held []logEntry // older logs that stay: another worker's running attempt, or not removable
	i := 0
	for ; i < len(s.order); i++ {
		e := s.order[i]
		if cur, ok := s.ended[e.name]; !ok || cur.mod != e.mod {
			continue // forgotten, or a later log of that name stands elsewhere in order
		}
		if e.name == keep || now.Sub(e.mod) <= s.maxAge && total <= maxBytes {
			break
		}
		dir := filepath.Join(s.dir, e.name)
		if logHeld(filepath.Join(dir, rpcapi.StreamStdout)) {
			held = append(held, e)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			s.log.WithError(err).WithField("log", e.name).Warn("cannot remove an old log")
			held = append(held, e)
			continue
		}
		s.forget(e.name)
		total -= e.size
	}
	// Within the bounds at once (the common case), order stays as it is.
	s.order = s.order[i:]
	if len(held) > 0 {
		s.order = append(held, s.order...)
	}
}
