package rpcapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"net/http"
	"strings"
)

// Option configures a client.
type Option func(*options)

type options struct {
	token string
	tls   *tls.Config
}

// WithToken makes a client send token with every call: as an
// "Authorization: Bearer" header on the net/rpc CONNECT and on every
// XML-RPC POST.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithTLS makes a client use TLS with cfg (its RootCAs verify the server;
// its Certificates serve mutual TLS). An https:// address uses TLS even
// without this option, with the system's roots.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// TokenOf returns the token a request carries: a Bearer token (the
// scheme's name in any case, as HTTP has it), or the password of HTTP
// Basic auth (any user name), so that Python's
// ServerProxy("http://drover:TOKEN@host:port/RPC2") works unchanged.
func TokenOf(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if scheme, t, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(t)
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return pw
	}
	return ""
}

// TokenMatches reports whether a presented token equals the expected one.
// It compares their SHA-256 digests in constant time, so neither the
// content nor the length of the expected token shows in how long it takes
// (subtle.ConstantTimeCompare on the tokens themselves returns at once
// when the lengths differ).
func TokenMatches(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// RequireToken wraps h so that every request must carry token (see
// TokenOf); others get 401. An empty token lets everything through.
// A request that passes marks its connection authenticated (Authenticate).
// token is an admin token (see Auth.Require): the endpoint of a worker,
// which knows one token, uses it.
func RequireToken(token string, h http.Handler) http.Handler {
	return NewAuth(SingleToken(token)).Require(h)
}
