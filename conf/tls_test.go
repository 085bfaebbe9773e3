package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSConfigsErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	for _, tc := range []struct {
		cert, key, ca, want string
	}{
		{filepath.Join(dir, "c.pem"), "", "", "go together"},
		{"", filepath.Join(dir, "k.pem"), "", "go together"},
		{filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), "", "tls_cert/tls_key"},
		{"", "", filepath.Join(dir, "nope.pem"), "tls_ca"},
		{"", "", junk, "holds no PEM certificate"},
	} {
		_, _, err := TLSConfigs(tc.cert, tc.key, tc.ca)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("TLSConfigs(%q, %q, %q) = %v, want %q", tc.cert, tc.key, tc.ca, err, tc.want)
		}
	}
	if s, c, err := TLSConfigs("", "", ""); s != nil || c != nil || err != nil {
		t.Errorf("no files: %v %v %v", s, c, err)
	}
}

func TestTLSKeyInFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "worker.toml")
	os.WriteFile(p, []byte("master = \"127.0.0.1:1\"\ntls_ca = \"missing.pem\"\n"), 0o600)
	_, err := LoadWorker(p)
	if err == nil || !strings.Contains(err.Error(), "worker.toml:2") || !strings.Contains(err.Error(), "tls_ca") {
		t.Fatalf("err %v", err)
	}
}
