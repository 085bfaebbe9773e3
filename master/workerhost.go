package master

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/drover/drover/rpcapi"
)

// The master dials a push worker's endpoint with its own token, so where
// it dials is not the caller's to choose: only the host the registration
// came from (or one the conf allows, WorkerHosts), only the port the
// worker names, only the fixed path of the transport.

// workerEndpoint checks the addr of a push worker's registration, made
// over transport from peer (the call's remote address, rpcapi.PeerAddr;
// "" when unknown), and returns the address the master dials: the
// scheme, host and port of addr with the transport's fixed path, which
// the master builds itself. An empty or unspecified host (0.0.0.0, ::)
// stands for the peer's IP. Any other host must be the peer's IP, a
// loopback address or "localhost" when the peer is loopback, or a host
// allowed by WorkerHosts. Errors are rpcapi.ErrBadRequest.
func (reg *registry) workerEndpoint(addr, transport, peer string) (string, error) {
	scheme, host, port, err := splitWorkerAddr(addr, transport)
	if err != nil {
		return "", fmt.Errorf("%w: addr %q: %v", rpcapi.ErrBadRequest, addr, err)
	}
	var from netip.Addr
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		from = ap.Addr().Unmap().WithZone("")
	}
	ip, err := netip.ParseAddr(host)
	isIP := err == nil
	if isIP {
		ip = ip.Unmap().WithZone("")
	}
	switch {
	case host == "" || isIP && ip.IsUnspecified():
		if !from.IsValid() {
			return "", fmt.Errorf("%w: addr %q has no host, and the address the call came from is unknown", rpcapi.ErrBadRequest, addr)
		}
		host = from.String()
	case reg.workerHostAllowed(host, ip, isIP):
	case isIP && from.IsValid() && ip == from:
	case from.IsValid() && from.IsLoopback() && (isIP && ip.IsLoopback() || strings.EqualFold(strings.TrimSuffix(host, "."), "localhost")):
	default:
		came := from.String()
		if !from.IsValid() {
			came = "an unknown address"
		}
		return "", fmt.Errorf("%w: addr %q: the master calls a worker only at the address it registers from (%s); "+
			"advertise that address, or allow %q in the master's worker_hosts", rpcapi.ErrBadRequest, addr, came, host)
	}
	hp := net.JoinHostPort(host, port)
	switch {
	case transport == rpcapi.TransportXMLRPC:
		if scheme == "" {
			scheme = "http"
		}
		return scheme + "://" + hp + rpcapi.XMLRPCPath, nil
	case scheme == "https":
		return "https://" + hp, nil
	}
	return hp, nil
}

// splitWorkerAddr splits a worker's addr (host:port, or an http:// or
// https:// URL with no path but the transport's fixed one) into its
// scheme ("" for host:port), host and port, refusing anything else: user
// info, a query, a fragment, another path, a port out of range.
func splitWorkerAddr(addr, transport string) (scheme, host, port string, err error) {
	hostport := addr
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		switch {
		case err != nil:
			return "", "", "", err
		case u.Scheme != "http" && u.Scheme != "https":
			return "", "", "", fmt.Errorf("scheme %q: want http or https", u.Scheme)
		case u.User != nil:
			return "", "", "", errors.New("user info is not allowed")
		case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
			return "", "", "", errors.New("a query or fragment is not allowed")
		case u.Path != "" && u.Path != "/" && !(transport == rpcapi.TransportXMLRPC && u.Path == rpcapi.XMLRPCPath):
			return "", "", "", fmt.Errorf("path %q: the master calls the fixed path of the transport "+
				"(%s for xmlrpc); give no other", u.Path, rpcapi.XMLRPCPath)
		}
		scheme, hostport = u.Scheme, u.Host
	}
	host, port, err = net.SplitHostPort(hostport)
	if err != nil {
		return "", "", "", fmt.Errorf("want host:port or an http(s):// URL: %v", err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return "", "", "", fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && !validHostName(host, false) {
		return "", "", "", fmt.Errorf("host %q is neither an IP address nor a host name", host)
	}
	return scheme, host, port, nil
}

// validHostName reports whether h is a host name: dot-separated labels of
// letters, digits, '-' and '_' (and '*' when wild), with an optional
// trailing dot.
func validHostName(h string, wild bool) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || wild && c == '*'
			if !ok {
				return false
			}
		}
	}
	return true
}

// CheckWorkerHost reports whether h is a valid entry of
// Config.WorkerHosts (worker_hosts in master.toml): "*", an IP address, a
// CIDR prefix ("10.0.0.0/8"), or a host name in which "*" matches any run
// of characters within one label ("crawler-*.internal").
func CheckWorkerHost(h string) error {
	if h == "*" {
		return nil
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if strings.Contains(h, "/") && !strings.Contains(h, "://") {
		if _, err := netip.ParsePrefix(h); err != nil {
			return fmt.Errorf("%q: not a CIDR prefix: %v", h, err)
		}
		return nil
	}
	if !validHostName(h, true) {
		return fmt.Errorf(`%q: want "*", an IP address, a CIDR prefix (10.0.0.0/8) or a host name `+
			`(crawler-*.internal: "*" matches within one label)`, h)
	}
	return nil
}

// workerHostAllowed reports whether host (ip when isIP) matches one of
// WorkerHosts. Names match names only, without case or trailing dot; an
// IP matches an equal address or a prefix that holds it.
func (reg *registry) workerHostAllowed(host string, ip netip.Addr, isIP bool) bool {
	for _, p := range reg.hosts {
		if p == "*" {
			return true
		}
		if a, err := netip.ParseAddr(p); err == nil {
			if isIP && a.Unmap().WithZone("") == ip {
				return true
			}
			continue
		}
		if pre, err := netip.ParsePrefix(p); err == nil {
			if isIP && pre.Contains(ip) {
				return true
			}
			continue
		}
		if !isIP && matchHostName(p, host) {
			return true
		}
	}
	return false
}

// matchHostName reports whether host matches the name pattern p, label by
// label, "*" matching any run of characters within a label.
func matchHostName(p, host string) bool {
	ps := strings.Split(strings.ToLower(strings.TrimSuffix(p, ".")), ".")
	hs := strings.Split(strings.ToLower(strings.TrimSuffix(host, ".")), ".")
	if len(ps) != len(hs) {
		return false
	}
	for i := range ps {
		// A label holds no '/', '?', '[' or '\' (CheckWorkerHost), so
		// path.Match reads only '*' as special.
		if ok, _ := path.Match(ps[i], hs[i]); !ok {
			return false
		}
	}
	return true
}
