package rpcapi

import "context"

// peerKey is the context key of a call's remote address.
type peerKey struct{}

// withPeer returns ctx carrying addr, the remote address of the connection
// a call came in on.
func withPeer(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, peerKey{}, addr)
}

// PeerAddr returns the remote address ("host:port", as net.Conn's
// RemoteAddr gives it) of the connection a call came in on: the servers
// of both transports (NewGoRPCHandler, per connection; NewXMLRPCHandler,
// per request) record it in the context they pass to the API. It is ""
// for a call that did not come through them (an in-process call).
//
// It is the TCP peer: behind a reverse proxy, the proxy's address.
func PeerAddr(ctx context.Context) string {
	s, _ := ctx.Value(peerKey{}).(string)
	return s
}
