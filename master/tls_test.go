package master_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestMutualTLS: master and worker on mutual TLS over both transports;
// callers without a client certificate or without TLS are refused.
func TestMutualTLS(t *testing.T) {
	pki := testnet.NewPKI(t)
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		t.Run(transport, func(t *testing.T) {
			m := startMaster(t, master.Config{TLS: pki.Server(), ClientTLS: pki.Client()})
			addr := "https://" + m.Addr()
			master.StartTestWorker(t, worker.Config{Master: addr, Name: "w", Slots: 1, Transport: transport,
				TLS: pki.Server(), ClientTLS: pki.Client()}, map[string]worker.HandlerFunc{"echo": echo})
			mc := runEcho(t, addr, transport, rpcapi.WithTLS(pki.Client()))
			ws, _ := mc.ListWorkers(context.Background())
			if len(ws.Workers) != 1 || ws.Workers[0].Addr[:8] != "https://" {
				t.Fatalf("worker should advertise https: %+v", ws.Workers)
			}
			for name, opts := range map[string][]rpcapi.Option{
				"no client certificate": {rpcapi.WithTLS(&tls.Config{RootCAs: pki.Pool})},
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
