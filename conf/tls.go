package conf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
)

// tlsSetting is tls_cert, tls_key and tls_ca of a master or worker file.
type tlsSetting struct {
	cert, key, ca string
	line          int // of the first tls_ key, for errors
}

// TLSConfigs builds the TLS configurations of a node from PEM files:
// server serves certFile/keyFile and, when caFile is set, requires client
// certificates signed by that CA (mutual TLS); client verifies the other
// side with caFile (the system's roots when empty) and presents the
// node's certificate when there is one. Both are nil when no file is
// given.
func TLSConfigs(certFile, keyFile, caFile string) (server, client *tls.Config, err error) {
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil, nil, nil
	}
	if (certFile == "") != (keyFile == "") {
		return nil, nil, fmt.Errorf("tls_cert and tls_key go together")
	}
	client = &tls.Config{MinVersion: tls.VersionTLS12}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("tls_cert/tls_key: %w", err)
		}
		server = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		client.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, nil, fmt.Errorf("tls_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("tls_ca: %s holds no PEM certificate", caFile)
		}
		client.RootCAs = pool
		if server != nil {
			server.ClientCAs = pool
			server.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return server, client, nil
}

// resolve loads the files named in a conf file (relative to its
// directory).
func (t tlsSetting) resolve(confPath string) (server, client *tls.Config, err error) {
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(confPath), p)
	}
	server, client, err = TLSConfigs(rel(t.cert), rel(t.key), rel(t.ca))
	if err != nil {
		return nil, nil, &Error{File: confPath, Line: t.line, Key: "tls", Msg: err.Error(), Err: err}
	}
	return server, client, nil
}

// set records one tls_ key.
func (t *tlsSetting) set(key, val string, line int) {
	if t.line == 0 || line < t.line {
		t.line = line
	}
	switch key {
	case "tls_cert":
		t.cert = val
	case "tls_key":
		t.key = val
	case "tls_ca":
		t.ca = val
	}
}
