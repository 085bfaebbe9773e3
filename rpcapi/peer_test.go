package rpcapi

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// peerMaster records the PeerAddr of each Register call's context.
type peerMaster struct {
	*fakeMaster
	got chan string
}

func (p *peerMaster) Register(ctx context.Context, a *RegisterArgs, r *RegisterReply) error {
	p.got <- PeerAddr(ctx)
	return p.fakeMaster.Register(ctx, a, r)
}

// TestPeerAddr: both servers hand the API the remote address of the
// connection a call came in on (the master checks a registering worker's
// addr against it); an in-process context has none.
func TestPeerAddr(t *testing.T) {
	if got := PeerAddr(context.Background()); got != "" {
		t.Fatalf("PeerAddr of a bare context = %q, want empty", got)
	}
	pm := &peerMaster{fakeMaster: newFakeMaster("p"), got: make(chan string, 1)}
	mux := http.NewServeMux()
	gobH, err := NewGoRPCHandler(pm, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(GoRPCPath, gobH)
	mux.Handle(XMLRPCPath, NewXMLRPCHandler(pm, nil, XMLRPCOptions{}))
	srv := startServer(t, "127.0.0.1:0", mux)
	for name, c := range map[string]Caller{"gob": newTestClient(t, srv.addr), "xmlrpc": newTestXMLClient(t, srv.addr)} {
		if _, err := (MasterClient{C: c}).Register(ctxT(t, 10*time.Second), &RegisterArgs{Name: "n"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		peer := <-pm.got
		host, port, err := net.SplitHostPort(peer)
		n, _ := strconv.Atoi(port)
		_, srvPort, _ := net.SplitHostPort(srv.addr)
		if err != nil || host != "127.0.0.1" || n <= 0 || port == srvPort {
			t.Errorf("%s: PeerAddr %q, want the client's 127.0.0.1:PORT (the server is %s)", name, peer, srv.addr)
		}
	}
}
