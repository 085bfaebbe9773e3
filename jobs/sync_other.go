//go:build !linux

package jobs

import "os"

// fdatasync flushes f.
func fdatasync(f *os.File) error { return f.Sync() }
