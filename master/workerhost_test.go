package master

import (
	"errors"
	"strings"
	"testing"

	"github.com/drover/drover/rpcapi"
)

// TestWorkerEndpoint: where the master calls a push worker, from the addr
// it registers and the address the registration came from
// (docs/protocol.md, register_worker): only the caller's own IP (any
// loopback address or localhost from loopback; an unspecified host stands
// for it) or a host of worker_hosts, only at the transport's fixed path.
func TestWorkerEndpoint(t *testing.T) {
	const (
		gob = rpcapi.TransportGob
		xml = rpcapi.TransportXMLRPC
	)
	hosts := []string{"10.9.0.0/16", "192.0.2.7", "crawler-*.internal", "fd00::7"}
	for _, c := range []struct {
		addr, transport, peer string
		workerHosts           []string
		want                  string // "" for refused with fault 3
	}{
		// The caller's own IP.
		{"10.0.0.5:7071", gob, "10.0.0.5:40000", nil, "10.0.0.5:7071"},
		{"http://10.0.0.5:7071", xml, "10.0.0.5:40000", nil, "http://10.0.0.5:7071/RPC2"},
		{"http://10.0.0.5:7071/", xml, "10.0.0.5:40000", nil, "http://10.0.0.5:7071/RPC2"},
		{"http://10.0.0.5:7071/RPC2", xml, "10.0.0.5:40000", nil, "http://10.0.0.5:7071/RPC2"},
		{"10.0.0.5:7071", xml, "10.0.0.5:40000", nil, "http://10.0.0.5:7071/RPC2"},
		{"https://10.0.0.5:7071", gob, "10.0.0.5:40000", nil, "https://10.0.0.5:7071"},
		{"https://10.0.0.5:7071", xml, "10.0.0.5:40000", nil, "https://10.0.0.5:7071/RPC2"},
		{"10.0.0.5:7071", gob, "[::ffff:10.0.0.5]:40000", nil, "10.0.0.5:7071"},
		{"[2001:db8::5]:7071", gob, "[2001:db8::5]:40000", nil, "[2001:db8::5]:7071"},
		// An unspecified host stands for it.
		{"0.0.0.0:7071", gob, "10.0.0.5:40000", nil, "10.0.0.5:7071"},
		{"[::]:7071", gob, "10.0.0.5:40000", nil, "10.0.0.5:7071"},
		{":7071", gob, "[2001:db8::5]:40000", nil, "[2001:db8::5]:7071"},
		{"http://0.0.0.0:7071/RPC2", xml, "10.0.0.5:40000", nil, "http://10.0.0.5:7071/RPC2"},
		{":7071", gob, "", nil, ""},
		// Loopback to loopback.
		{"127.0.0.1:7071", gob, "127.0.0.1:40000", nil, "127.0.0.1:7071"},
		{"127.0.0.2:7071", gob, "127.0.0.1:40000", nil, "127.0.0.2:7071"},
		{"[::1]:7071", gob, "127.0.0.1:40000", nil, "[::1]:7071"},
		{"localhost:7071", gob, "[::1]:40000", nil, "localhost:7071"},
		{"http://LOCALHOST.:7071", xml, "127.0.0.1:40000", nil, "http://LOCALHOST.:7071/RPC2"},
		// Another host: a remote caller aiming the master at its own
		// loopback, at another machine, at a name.
		{"127.0.0.1:7071", gob, "10.0.0.5:40000", nil, ""},
		{"localhost:7071", gob, "10.0.0.5:40000", nil, ""},
		{"10.0.0.6:7071", gob, "10.0.0.5:40000", nil, ""},
		{"10.0.0.6:7071", gob, "127.0.0.1:40000", nil, ""},
		{"crawler-1.internal:7071", gob, "10.0.0.5:40000", nil, ""},
		{"10.0.0.5:7071", gob, "", nil, ""},
		// ... unless worker_hosts allows it.
		{"10.9.3.4:7071", gob, "10.0.0.5:40000", hosts, "10.9.3.4:7071"},
		{"10.8.3.4:7071", gob, "10.0.0.5:40000", hosts, ""},
		{"192.0.2.7:7071", gob, "", hosts, "192.0.2.7:7071"},
		{"[fd00::7]:7071", gob, "10.0.0.5:40000", hosts, "[fd00::7]:7071"},
		{"http://Crawler-12.Internal:7071", xml, "10.0.0.5:40000", hosts, "http://Crawler-12.Internal:7071/RPC2"},
		{"crawler-1.eu.internal:7071", gob, "10.0.0.5:40000", hosts, ""},
		{"crawler.internal:7071", gob, "10.0.0.5:40000", hosts, ""},
		{"anything.example:7071", gob, "10.0.0.5:40000", []string{"*"}, "anything.example:7071"},
		// Never another path, a query, a fragment, user info, a bad port.
		{"http://10.0.0.5:7071/internal/admin?x=1", xml, "10.0.0.5:40000", nil, ""},
		{"http://10.0.0.5:7071/RPC2?x=1", xml, "10.0.0.5:40000", nil, ""},
		{"http://10.0.0.5:7071/RPC2?", xml, "10.0.0.5:40000", nil, ""},
		{"http://10.0.0.5:7071/#x", xml, "10.0.0.5:40000", nil, ""},
		{"http://10.0.0.5:7071/RPC2", gob, "10.0.0.5:40000", nil, ""},
		{"http://u:p@10.0.0.5:7071", xml, "10.0.0.5:40000", nil, ""},
		{"10.0.0.5:7071/internal", gob, "10.0.0.5:40000", nil, ""},
		{"ftp://10.0.0.5:7071", xml, "10.0.0.5:40000", nil, ""},
		{"http://10.0.0.5", xml, "10.0.0.5:40000", nil, ""},
		{"10.0.0.5:0", gob, "10.0.0.5:40000", nil, ""},
		{"10.0.0.5:65536", gob, "10.0.0.5:40000", nil, ""},
		{"10.0.0.5:+80", gob, "10.0.0.5:40000", nil, ""},
		{"10.0.0.5", gob, "10.0.0.5:40000", nil, ""},
		{"a b:7071", gob, "10.0.0.5:40000", []string{"*"}, ""},
	} {
		reg := &registry{hosts: c.workerHosts}
		got, err := reg.workerEndpoint(c.addr, c.transport, c.peer)
		switch {
		case c.want == "" && !errors.Is(err, rpcapi.ErrBadRequest):
			t.Errorf("%s %q from %q (worker_hosts %q): %q, %v; want fault 3", c.transport, c.addr, c.peer, c.workerHosts, got, err)
		case c.want != "" && (err != nil || got != c.want):
			t.Errorf("%s %q from %q (worker_hosts %q): %q, %v; want %q", c.transport, c.addr, c.peer, c.workerHosts, got, err, c.want)
		}
	}
}

// TestWorkerHostsConfig: worker_hosts takes "*", IP addresses, CIDR
// prefixes and host names with "*" within labels; anything else is a
// ConfigError naming the key and the entry.
func TestWorkerHostsConfig(t *testing.T) {
	for _, ok := range [][]string{nil, {"*"}, {"10.0.0.5", "10.0.0.0/8", "fd00::/8", "crawler-*.internal", "w1.example.com."}} {
		c := Config{Store: StoreMemory, WorkerHosts: ok}
		if err := c.Validate(); err != nil {
			t.Errorf("worker_hosts %q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "http://w1:7071", "w1:7071", "10.0.0.0/33", "a..b", "w?.internal", "w/x"} {
		c := Config{Store: StoreMemory, WorkerHosts: []string{"10.0.0.5", bad}}
		var ce *ConfigError
		err := c.Validate()
		if !errors.As(err, &ce) || ce.Key != "worker_hosts" || !strings.Contains(ce.Msg, "entry 2") {
			t.Errorf("worker_hosts entry %q: %v, want a ConfigError for worker_hosts entry 2", bad, err)
		}
	}
}
