//go:build linux

package rawsock

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// maxIO bounds the bytes one system call copies. The goroutine cannot be
// preempted during a raw call (a collection's stop waits for it), so a
// large write goes as several calls of at most 1 MiB.
const maxIO = 1 << 20

// Conn is a TCP connection whose Read and Write are raw system calls.
// Everything else is the connection's own.
type Conn struct {
	net.Conn
	rc syscall.RawConn
}

func wrapTCP(tc *net.TCPConn) net.Conn {
	rc, err := tc.SyscallConn()
	if err != nil {
		return tc
	}
	return &Conn{Conn: tc, rc: rc}
}

// Read reads into p, waiting for data on the poller (with the read
// deadline) while there is none.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n uintptr
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, _, errno = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(min(len(p), maxIO)))
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

// Write writes all of p, waiting on the poller (with the write deadline)
// while the socket's buffer is full. On an error it returns how much was
// written.
func (c *Conn) Write(p []byte) (int, error) {
	done := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for done < len(p) {
			n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[done])), uintptr(min(len(p)-done, maxIO)))
			switch e {
			case 0:
				done += int(n)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return done, c.opError("write", err)
	case errno != 0:
		return done, c.opError("write", os.NewSyscallError("write", errno))
	}
	return done, nil
}

// opError is err as the standard library's connection would return it: a
// *net.OpError named op (the poller's own errors, a deadline or a closed
// connection, come as "raw-read" or "raw-write" ones).
func (c *Conn) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// PeerClosed reports, without waiting or taking any bytes, whether the
// other side has closed the connection (or reset it): true once nothing
// more can come. Call it only while no one reads the connection.
func (c *Conn) PeerClosed() bool {
	var b [1]byte
	closed := false
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			switch errno {
			case syscall.EINTR:
				continue
			case 0:
				closed = n == 0
			default:
				closed = errno != syscall.EAGAIN
			}
			return true // never wait on the poller
		}
	})
	return closed || err != nil
}
