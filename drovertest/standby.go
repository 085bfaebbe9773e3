package drovertest

import (
	"net/http"
	"testing"

	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/rpcapi"
)

// ServeStandby serves a standby master (rpcapi.Standby) on 127.0.0.1:0
// over both transports, answering every call with fault 8 naming
// leader() ("": no leader known), and returns its address. It stops at
// the test's end.
func ServeStandby(tb testing.TB, leader func() string) string {
	tb.Helper()
	api := &rpcapi.Standby{Leader: leader}
	h, err := rpcapi.NewGoRPCHandlerOptions(api, nil, rpcapi.GoRPCOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(rpcapi.GoRPCPath, h)
	mux.Handle(rpcapi.XMLRPCPath, rpcapi.NewXMLRPCHandler(api, nil, rpcapi.XMLRPCOptions{}))
	return testnet.Serve(tb, mux)
}
