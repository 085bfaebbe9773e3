// Package rawsock reads and writes a TCP connection's socket with raw
// system calls.
//
// A Go program that waits on the network between short calls (a worker
// waiting for its next task, a master between heartbeats) lets its
// runtime go idle, and the runtime's monitor thread then sleeps deeply.
// Each read or write made through the standard library enters the
// kernel through the scheduler's syscall path, which wakes that thread
// again: two more context switches a call. On a two-core machine that
// was a quarter of a worker's CPU in a 4 x 1 slot run.
//
// A socket the runtime's poller owns is non-blocking, so a read or a
// write on it returns at once, and a raw system call (which does not
// tell the scheduler) is safe for it. Conn makes them through the
// connection's syscall.RawConn, which waits on the poller, with the
// connection's deadlines, when the socket is not ready.
package rawsock

import "net"

// Wrap returns c with raw reads and writes if c is a *net.TCPConn and
// the system is one where they are made (Linux), and c itself otherwise.
// It does not look inside wrappers: a TLS connection's socket carries
// records, not the bytes its reader wants.
func Wrap(c net.Conn) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		return wrapTCP(tc)
	}
	return c
}
