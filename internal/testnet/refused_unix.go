//go:build unix

package testnet

import (
	"fmt"
	"syscall"
)

// RefusedAddr returns an address of 127.0.0.1 that refuses connections
// until the test ends: a port bound and never listened on. Unlike
// DeadAddr's, no other process can take it meanwhile (another test's
// master listening on port 0 may get a port DeadAddr closed), so a test
// may wait on it for long.
func RefusedAddr(tb CleanupTB) string {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
		return ""
	}
	tb.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("bind 127.0.0.1:0: %v", err)
		return ""
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatalf("getsockname: %v", err)
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
