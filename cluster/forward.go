package cluster

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/master"
)

// forwardedBy names, on a request a standby forwards, the member that
// forwarded it. A standby does not forward such a request again: two
// members that each name the other as leader (views of an election in
// progress) answer instead of passing it back and forth.
const forwardedBy = "X-Drover-Forwarded-By"

// forwarder passes a standby's JSON API and dashboard requests to the
// leader, so that both work on any member, as Consul's and Nomad's
// servers forward to theirs. The standby has checked the request first
// (Host and origin, and its token): the leader checks the token again and
// applies the role's rights. What the browser said of the request's
// origin stays at the standby (the leader would see a page of another
// host), and the request goes to the leader under the leader's own
// address as Host.
type forwarder struct {
	id       string        // this member's
	leader   func() string // the leader's RPC address, "" when none is known
	scheme   string        // "https" when the members serve TLS
	fallback http.Handler  // answers when there is no leader to forward to
	log      logrus.FieldLogger
	proxy    *httputil.ReverseProxy
}

func newForwarder(id string, leader func() string, tlsOn bool, tr *http.Transport, fallback http.Handler, log logrus.FieldLogger) *forwarder {
	f := &forwarder{id: id, leader: leader, scheme: "http", fallback: fallback, log: log}
	if tlsOn {
		f.scheme = "https"
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:       f.rewrite,
		Transport:     tr,
		FlushInterval: -1, // the event stream, as it comes
		ErrorHandler:  f.failed,
	}
	return f
}

// forwardTimeout bounds the connection to the leader and its answer's
// headers (not the body: the event stream lasts).
const forwardTimeout = 10 * time.Second

// ServeHTTP forwards r to the leader, or lets the fallback answer when
// no leader is known or r was forwarded once already.
func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addr := f.leader()
	if addr == "" || r.Header.Get(forwardedBy) != "" {
		f.fallback.ServeHTTP(w, r)
		return
	}
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), leaderKey{}, addr)))
}

// leaderKey keys the leader's address a request goes to in its context.
type leaderKey struct{}

func (f *forwarder) rewrite(pr *httputil.ProxyRequest) {
	addr := pr.In.Context().Value(leaderKey{}).(string)
	pr.Out.URL.Scheme, pr.Out.URL.Host = f.scheme, addr
	pr.Out.Host = addr
	for _, h := range []string{"Origin", "Referer", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Sec-Fetch-User"} {
		pr.Out.Header.Del(h)
	}
	pr.Out.Header.Set(forwardedBy, f.id)
	pr.SetXForwarded()
}

// failed answers as the standby does without a leader when the leader
// cannot be reached.
func (f *forwarder) failed(w http.ResponseWriter, r *http.Request, err error) {
	f.log.WithError(err).WithFields(logrus.Fields{"leader": r.Context().Value(leaderKey{}), "path": r.URL.Path}).
		Warn("standby: cannot forward to the leader")
	f.fallback.ServeHTTP(w, r)
}

// forwardTransport is the standby's client to the leader: over TLS when
// the members serve it, with the member's client certificate (a member's
// TLS is mutual), and bounded waits for the connection and the answer's
// headers.
func forwardTransport(cfg *master.Config) *http.Transport {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: forwardTimeout}).DialContext,
		TLSHandshakeTimeout:   forwardTimeout,
		ResponseHeaderTimeout: forwardTimeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       time.Minute,
	}
	if cfg.TLS != nil && cfg.ClientTLS != nil {
		tr.TLSClientConfig = cfg.ClientTLS.Clone()
		tr.TLSClientConfig.ServerName = "" // the leader's, from its address
	}
	return tr
}
