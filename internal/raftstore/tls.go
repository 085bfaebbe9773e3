package raftstore

import (
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// TLS secures the raft transport: members accept only connections that
// present a certificate signed by the group's CA, and dial with their
// own. Server must require and verify client certificates; Client must
// carry the member's certificate and the CA.
type TLS struct {
	Server *tls.Config
	Client *tls.Config
}

// stream is the raft transport's raft.StreamLayer: TCP, or mutual TLS.
// Its connections leave from the address it listens on when that is a
// specific IP (a host with several addresses keeps raft on one of them).
// With a group gate, every connection it dials starts with this member's
// group ID, and every one it accepts is checked for the dialer's (group.go).
type stream struct {
	net.Listener
	adv    net.Addr
	dialer net.Dialer
	client *tls.Config // nil: plain TCP
	group  *groupGate  // nil: no group ID sent or checked
}

func newStream(bind string, adv net.Addr, t *TLS) (*stream, error) {
	if t != nil && (t.Server == nil || t.Client == nil || t.Server.ClientAuth != tls.RequireAndVerifyClientCert) {
		return nil, errors.New("raftstore: raft over TLS needs a server config that requires client certificates and a client config")
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	s := &stream{Listener: ln, adv: adv}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
		s.dialer.LocalAddr = &net.TCPAddr{IP: ta.IP}
	}
	if t != nil {
		s.Listener, s.client = tls.NewListener(ln, t.Server), t.Client
	}
	return s, nil
}

// Addr implements net.Listener: the advertised address.
func (s *stream) Addr() net.Addr { return s.adv }

// Accept implements net.Listener: the connection checks the dialer's
// group ID at its first read, not here, so that a silent peer does not
// hold up the transport's accept loop.
func (s *stream) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if err != nil || s.group == nil {
		return c, err
	}
	return &groupConn{Conn: c, g: s.group}, nil
}

// Dial implements raft.StreamLayer.
func (s *stream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := s.dial(address, timeout)
	if err != nil || s.group == nil {
		return c, err
	}
	if timeout > 0 {
		c.SetWriteDeadline(time.Now().Add(timeout))
	}
	if _, err := c.Write(s.group.header()); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	return c, nil
}

func (s *stream) dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := s.dialer
	d.Timeout = timeout
	if s.client == nil {
		return d.Dial("tcp", string(address))
	}
	cfg := s.client.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(string(address)); err == nil {
			cfg.ServerName = host
		}
	}
	return tls.DialWithDialer(&d, "tcp", string(address), cfg)
}
