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
type stream struct {
	net.Listener
	adv    net.Addr
	dialer net.Dialer
	client *tls.Config // nil: plain TCP
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

// Dial implements raft.StreamLayer.
func (s *stream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
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
