package worker

import (
	"strings"
	"testing"
)

func TestConfigAllowedHosts(t *testing.T) {
	c := Config{AllowedHosts: []string{"*", "w.example.com"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = Config{AllowedHosts: []string{"http://w.example.com"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "allowed_hosts") {
		t.Errorf("a URL in AllowedHosts: %v", err)
	}
}

// TestConfigIdentity: a worker's identity defaults to what stays the same
// when it restarts: its name and listen address, or, without a name
// (the default one holds the pid), its log_dir and listen address.
func TestConfigIdentity(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Name: "crawler-1", Listen: "10.0.0.2:7071"}, "name crawler-1 listen 10.0.0.2:7071"},
		{Config{LogDir: "/var/log/drover", Listen: "10.0.0.2:7071"}, "log_dir /var/log/drover listen 10.0.0.2:7071"},
		{Config{Name: "crawler-1", Identity: "mine"}, "mine"},
	} {
		cfg := c.cfg
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.Identity != c.want {
			t.Errorf("%+v: identity %q, want %q", c.cfg, cfg.Identity, c.want)
		}
	}
}
