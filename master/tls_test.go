package master_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// testPKI is a CA and a certificate it signed for 127.0.0.1, used by
// every node both as server and as client certificate.
type testPKI struct {
	pool *x509.CertPool
	cert tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "drover test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "drover node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{pool: pool, cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

func (p *testPKI) server() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.cert}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert}
}

func (p *testPKI) client() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.cert}, RootCAs: p.pool}
}

// TestMutualTLS: master and worker on mutual TLS over both transports;
// callers without a client certificate or without TLS are refused.
func TestMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		t.Run(transport, func(t *testing.T) {
			m := startMaster(t, master.Config{TLS: pki.server(), ClientTLS: pki.client()})
			addr := "https://" + m.Addr()
			master.StartTestWorker(t, worker.Config{Master: addr, Name: "w", Slots: 1, Transport: transport,
				TLS: pki.server(), ClientTLS: pki.client()}, map[string]worker.HandlerFunc{"echo": echo})
			mc := runEcho(t, addr, transport, rpcapi.WithTLS(pki.client()))
			ws, _ := mc.ListWorkers(context.Background())
			if len(ws.Workers) != 1 || ws.Workers[0].Addr[:8] != "https://" {
				t.Fatalf("worker should advertise https: %+v", ws.Workers)
			}
			for name, opts := range map[string][]rpcapi.Option{
				"no client certificate": {rpcapi.WithTLS(&tls.Config{RootCAs: pki.pool})},
				"unknown CA":            {rpcapi.WithTLS(&tls.Config{})},
			} {
				bad, _ := rpcapi.NewCaller(addr, transport, opts...)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := rpcapi.MasterClient{C: bad}.Status(ctx)
				cancel()
				bad.Close()
				if err == nil {
					t.Errorf("%s: call succeeded", name)
				}
			}
			plain, _ := rpcapi.NewCaller(m.Addr(), transport)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := (rpcapi.MasterClient{C: plain}).Status(ctx); err == nil {
				t.Error("a plain-text call to a TLS master succeeded")
			}
			plain.Close()
		})
	}
}
