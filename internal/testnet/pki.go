package testnet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"time"
)

// PKI is a CA and a certificate it signed for 127.0.0.1, which a test's
// nodes use both as server and as client certificate.
type PKI struct {
	Pool *x509.CertPool // holds the CA
	Cert tls.Certificate
}

// NewPKI makes a CA and a certificate for 127.0.0.1, valid for an hour.
func NewPKI(tb TB) *PKI {
	tb.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "drover test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatalf("testnet: %v", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "drover node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatalf("testnet: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &PKI{Pool: pool, Cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// Server is a server config that requires a client certificate of the CA.
func (p *PKI) Server() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.Cert}, ClientCAs: p.Pool, ClientAuth: tls.RequireAndVerifyClientCert}
}

// Client is a client config with the certificate, trusting the CA.
func (p *PKI) Client() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.Cert}, RootCAs: p.Pool}
}
