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
