package webguard

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestCheckHost(t *testing.T) {
	hostname, _ := os.Hostname()
	g := New(Config{Names: []string{"0.0.0.0:7070", "https://worker-7.lan:9000", "box.internal:1"},
		AllowedHosts: []string{"Drover.Example.COM."}})
	for _, host := range []string{"", "127.0.0.1", "127.0.0.1:7070", "[::1]:7070", "::1", "10.1.2.3:80",
		"localhost", "LOCALHOST:7070", "localhost.", "a.localhost:1", "worker-7.lan:9000", "box.internal",
		"drover.example.com:443", "drover.example.com", hostname, hostname + ":7070"} {
		if err := g.CheckHost(host); err != nil {
			t.Errorf("Host %q: %v", host, err)
		}
	}
	for _, host := range []string{"rebind.example", "rebind.example:7070", "127.0.0.1.nip.io", "localhost.evil.com",
		"example.com", "sub.drover.example.com", "0x7f000001", "evil-localhost"} {
		err := g.CheckHost(host)
		if err == nil {
			t.Errorf("Host %q passed", host)
		} else if !strings.Contains(err.Error(), "allowed_hosts") {
			t.Errorf("Host %q: the refusal does not say what to do: %v", host, err)
		}
	}
	if err := New(Config{AllowedHosts: []string{AnyHost}}).CheckHost("rebind.example"); err != nil {
		t.Errorf("allowed_hosts = [\"*\"]: %v", err)
	}
}

func TestCheckAllowedHosts(t *testing.T) {
	if err := CheckAllowedHosts([]string{"*", "drover.example.com", "box"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "http://x", "x:7070", "x/y", "*.example.com", "a b"} {
		if CheckAllowedHosts([]string{"ok", bad}) == nil {
			t.Errorf("%q passed", bad)
		}
	}
}

func TestHandler(t *testing.T) {
	var served int
	h := New(Config{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }))
	for _, c := range []struct {
		name, method, host string
		header             map[string]string
		want               int
	}{
		{"curl", "POST", "127.0.0.1:7070", nil, 200},
		{"Go CONNECT", "CONNECT", "", nil, 200},
		{"same origin", "POST", "127.0.0.1:7070", map[string]string{"Origin": "http://127.0.0.1:7070", "Sec-Fetch-Site": "same-origin"}, 200},
		{"old browser, same origin", "POST", "localhost:7070", map[string]string{"Origin": "http://localhost:7070"}, 200},
		{"cross-site GET", "GET", "127.0.0.1:7070", map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, 200},
		{"cross-site", "POST", "127.0.0.1:7070", map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"another port", "POST", "127.0.0.1:7070", map[string]string{"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-site"}, 403},
		{"old browser, other origin", "POST", "127.0.0.1:7070", map[string]string{"Origin": "http://127.0.0.1:8000"}, 403},
		{"sandboxed page", "POST", "127.0.0.1:7070", map[string]string{"Origin": "null"}, 403},
		{"rebinding GET", "GET", "rebind.example:7070", nil, 403},
		{"rebinding POST, same origin", "POST", "rebind.example:7070", map[string]string{"Origin": "http://rebind.example:7070", "Sec-Fetch-Site": "same-origin"}, 403},
	} {
		r := httptest.NewRequest(c.method, "/RPC2", nil)
		r.Host = c.host
		for k, v := range c.header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		before := served
		h.ServeHTTP(w, r)
		if w.Code != c.want || (served > before) != (c.want == 200) {
			t.Errorf("%s: status %d, served %v; want %d", c.name, w.Code, served > before, c.want)
		}
		if c.want == 403 && !strings.HasPrefix(w.Body.String(), "drover: ") {
			t.Errorf("%s: body %q", c.name, w.Body.String())
		}
	}
}
