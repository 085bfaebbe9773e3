//go:build !linux

package watchdog

import (
	"errors"
	"time"
)

// Watchdog does nothing on this system: there is no /proc to find a job's
// processes in.
type Watchdog struct{}

// Start fails on this system.
func Start(identity string, grace time.Duration) (*Watchdog, error) {
	return nil, errors.ErrUnsupported
}

func (d *Watchdog) Pid() int                   { return 0 }
func (d *Watchdog) Mark() (string, uint64)     { return "", 0 }
func (d *Watchdog) Deadline(t time.Time) error { return nil }
func (d *Watchdog) Term(seq uint64) error      { return nil }
func (d *Watchdog) End(seq uint64) error       { return nil }
func (d *Watchdog) Group(uint64, int) error    { return nil }
func (d *Watchdog) Close() error               { return nil }

// KillDead finds nothing on this system.
func KillDead(identity string) int { return 0 }
