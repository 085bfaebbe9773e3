package conf

import (
	"strings"
	"testing"
)

// TestCallsInFlightKeys reads max_calls_in_flight (both files) and the
// worker's max_request_body, and refuses negative values.
func TestCallsInFlightKeys(t *testing.T) {
	m, err := ParseMaster("m.toml", []byte("max_calls_in_flight = 32\n"))
	if err != nil || m.Config.MaxCallsInFlight != 32 {
		t.Fatalf("master: %+v, %v", m, err)
	}
	w, err := ParseWorker("w.toml", []byte("max_calls_in_flight = 8\nmax_request_body = 1048576\n"))
	if err != nil || w.Config.MaxCallsInFlight != 8 || w.Config.MaxRequestBody != 1<<20 {
		t.Fatalf("worker: %+v, %v", w, err)
	}
	for _, src := range []string{"max_calls_in_flight = -1\n", "max_request_body = -1\n"} {
		if _, err := ParseWorker("w.toml", []byte(src)); err == nil || !strings.Contains(err.Error(), strings.Fields(src)[0]) {
			t.Errorf("worker %q: %v, want an error naming the key", src, err)
		}
	}
	if _, err := ParseMaster("m.toml", []byte("max_calls_in_flight = -1\n")); err == nil {
		t.Error("master: max_calls_in_flight = -1 accepted")
	}
}

// TestConnectionBudgetKeys reads the anonymous connections' budget, the
// pre-auth timeout and max_submit_bytes, and refuses bad values naming the
// key.
func TestConnectionBudgetKeys(t *testing.T) {
	m, err := ParseMaster("m.toml", []byte("max_anonymous_connections = 100\nmax_anonymous_per_address = 5\n"+
		"preauth_timeout = \"3s\"\nmax_submit_bytes = 1048576\ngob_idle_timeout = \"1m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Config; c.MaxAnonymousConnections != 100 || c.MaxAnonymousPerAddress != 5 || c.PreAuthTimeout.String() != "3s" || c.MaxSubmitBytes != 1<<20 ||
		c.GobIdleTimeout.String() != "1m0s" {
		t.Fatalf("parsed %+v", c)
	}
	for _, src := range []string{"max_anonymous_connections = -1\n", "max_anonymous_per_address = \"x\"\n",
		"preauth_timeout = \"soon\"\n", "max_submit_bytes = -5\n", "gob_idle_timeout = \"-1s\"\n"} {
		if _, err := ParseMaster("m.toml", []byte(src)); err == nil || !strings.Contains(err.Error(), strings.Fields(src)[0]) {
			t.Errorf("master %q: %v, want an error naming the key", src, err)
		}
	}
}
