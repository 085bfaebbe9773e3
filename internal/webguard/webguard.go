// Package webguard keeps web browsers from being turned against a drover
// listener (a master's or a push worker's). It wraps the listener's whole
// handler with two checks:
//
//   - The Host header must name this machine: an IP address, "localhost"
//     (or a name under .localhost), the machine's host name, a name of the
//     listener's own (its listen or advertise address), or one of
//     allowed_hosts ("*" allows any). A web page that rebinds its own DNS
//     name to this machine's address sends its own name as Host and is
//     refused, so DNS rebinding reaches nothing.
//   - A request that is not GET, HEAD or OPTIONS must not come from a page
//     on another origin: a browser says so in Sec-Fetch-Site, or (older
//     browsers) in an Origin that differs from Host
//     (http.CrossOriginProtection). Requests without those headers, from
//     curl, Python's xmlrpc.client and drover's own Go clients, pass.
//
// Refusals are HTTP 403 with a message that says why. XML-RPC adds a check
// of its own (rpcapi: an XML Content-Type, which no form post or no-cors
// fetch can send).
package webguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
)

// AnyHost, as an entry of allowed_hosts, lets every Host through.
const AnyHost = "*"

// Config says which names a listener answers to and how it refuses.
type Config struct {
	// Names are the listener's own addresses (its listen and advertise
	// addresses: "host", "host:port" or a URL); their host names are
	// allowed.
	Names []string
	// AllowedHosts are further host names to allow (allowed_hosts in
	// conf), compared without case and without a trailing dot; AnyHost
	// allows every Host.
	AllowedHosts []string
	// Deny writes a refusal with its status and message. Nil: plain
	// text, "drover: " and the message.
	Deny func(w http.ResponseWriter, r *http.Request, status int, msg string)
}

// CheckAllowedHosts reports the first entry of an allowed_hosts list that
// is not a bare host name (or AnyHost): empty, or with a scheme, port, path
// or spaces.
func CheckAllowedHosts(hosts []string) error {
	for _, h := range hosts {
		if h == AnyHost {
			continue
		}
		if h == "" || strings.ContainsAny(h, " \t/:@*?#[]") {
			return fmt.Errorf("%q: want a host name such as \"drover.example.com\" (no scheme, port or path), or \"*\" for any", h)
		}
	}
	return nil
}

// Guard holds the names a listener answers to.
type Guard struct {
	any   bool
	names map[string]bool
	cop   *http.CrossOriginProtection
	deny  func(w http.ResponseWriter, r *http.Request, status int, msg string)
}

// New returns the guard of a listener with cfg.
func New(cfg Config) *Guard {
	g := &Guard{names: map[string]bool{"localhost": true}, cop: http.NewCrossOriginProtection(), deny: cfg.Deny}
	if g.deny == nil {
		g.deny = func(w http.ResponseWriter, r *http.Request, status int, msg string) {
			http.Error(w, "drover: "+msg, status)
		}
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		g.names[normal(h)] = true
	}
	for _, n := range cfg.Names {
		if h := hostOf(n); h != "" && !isIP(h) {
			g.names[h] = true
		}
	}
	for _, h := range cfg.AllowedHosts {
		if h == AnyHost {
			g.any = true
			continue
		}
		g.names[normal(h)] = true
	}
	return g
}

// hostOf returns the host name of an address: "host", "host:port" or a
// URL.
func hostOf(addr string) string {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return ""
		}
		return normal(u.Hostname())
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return normal(h)
	}
	return normal(strings.Trim(addr, "[]"))
}

func normal(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

func isIP(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

// CheckHost reports whether host, a request's Host header, may reach the
// listener. An empty Host passes: browsers always send one, and Go's
// net/rpc CONNECT (HTTP/1.0) sends none.
func (g *Guard) CheckHost(host string) error {
	if g.any || host == "" {
		return nil
	}
	h := hostOf(host)
	if isIP(h) || g.names[h] || strings.HasSuffix(h, ".localhost") {
		return nil
	}
	return fmt.Errorf("the Host header %q is not a name of this listener (a guard against DNS rebinding): "+
		"it answers to IP addresses, localhost, the machine's host name, its listen and advertise names "+
		"and allowed_hosts; if %q is one of its names, add it to allowed_hosts", host, h)
}

// CheckOrigin reports whether r, unless it is a GET, HEAD or OPTIONS,
// comes from a page on another origin.
func (g *Guard) CheckOrigin(r *http.Request) error {
	err := g.cop.Check(r)
	if err == nil {
		return nil
	}
	why := "Origin " + r.Header.Get("Origin") + " is not " + r.Host
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		why = "Sec-Fetch-Site is " + s
	}
	return errors.New("cross-origin request refused (" + why + "): a page on another origin may not " +
		r.Method + " " + r.URL.Path + " here; browsers may change things only from the dashboard served by this listener")
}

// Handler wraps h with both checks.
func (g *Guard) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := g.CheckHost(r.Host)
		if err == nil {
			err = g.CheckOrigin(r)
		}
		if err != nil {
			g.deny(w, r, http.StatusForbidden, err.Error())
			return
		}
		h.ServeHTTP(w, r)
	})
}
