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

// tlsStream is a raft.StreamLayer over mutual TLS.
type tlsStream struct {
	net.Listener // a TLS listener
	adv          net.Addr
	client       *tls.Config
}

func newTLSStream(bind string, adv net.Addr, t *TLS) (*tlsStream, error) {
	if t.Server == nil || t.Client == nil || t.Server.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, errors.New("raftstore: raft over TLS needs a server config that requires client certificates and a client config")
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	return &tlsStream{Listener: tls.NewListener(ln, t.Server), adv: adv, client: t.Client}, nil
}

// Addr implements net.Listener: the advertised address.
func (s *tlsStream) Addr() net.Addr { return s.adv }

// Dial implements raft.StreamLayer.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	cfg := s.client.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(string(address)); err == nil {
			cfg.ServerName = host
		}
	}
	return tls.DialWithDialer(d, "tcp", string(address), cfg)
}
