//go:build !unix

package testnet

// RefusedAddr is DeadAddr here: a port closed again, which another
// process may take while the test waits on it.
func RefusedAddr(tb CleanupTB) string {
	tb.Helper()
	return DeadAddr(tb)
}
