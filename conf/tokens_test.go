package conf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/drover/drover/rpcapi"
)

// TestParseTokens: a tokens file's lines become credentials; comments and
// blank lines are skipped, and a token may hold a #.
func TestParseTokens(t *testing.T) {
	data := "# name role token\n\n  ops admin  a-1#x \n\tci\tclient\tc-2\n  # indented comment\ngrafana read r-3\nfleet worker w-4"
	got, err := ParseTokens("tokens", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []rpcapi.Credential{
		{Name: "ops", Role: rpcapi.RoleAdmin, Token: "a-1#x"},
		{Name: "ci", Role: rpcapi.RoleClient, Token: "c-2"},
		{Name: "grafana", Role: rpcapi.RoleRead, Token: "r-3"},
		{Name: "fleet", Role: rpcapi.RoleWorker, Token: "w-4"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseTokens:\n got %+v\nwant %+v", got, want)
	}
}

// TestParseTokensErrors: every bad file is an *Error that names the line
// and the token's name, and never shows a token.
func TestParseTokensErrors(t *testing.T) {
	for _, tc := range []struct {
		data string
		line int
		want string
	}{
		{"ci client secret-1\ngrafana reader secret-2\n", 2, `tokens:2: grafana: unknown role "reader" (want admin, client, worker or read)`},
		{"ci client secret-1\nci read secret-2\n", 2, `tokens:2: ci: name already used on line 1`},
		{"# x\nci client secret-1\n\nops admin secret-1\n", 4, `tokens:4: ops: the same token as line 2: every token must be different`},
		{"ci client\n", 1, `tokens:1: want three fields, NAME ROLE TOKEN, got 2`},
		{"ci client secret\x01-1\n", 1, `tokens:1: ci: the token holds a control character, which no HTTP header can carry`},
		{"secret-1\n", 1, `tokens:1: want three fields, NAME ROLE TOKEN, got 1`},
		{"ci client secret-1 trailing\n", 1, `tokens:1: want three fields, NAME ROLE TOKEN, got 4`},
		{"c/i client secret-1\n", 1, `tokens:1: c/i: name "c/i": want 1 to 64 letters, digits or ._@- characters`},
		{"# only comments\n\n", 0, `tokens: no tokens: want one line per token, NAME ROLE TOKEN`},
		{"", 0, `tokens: no tokens`},
	} {
		_, err := ParseTokens("tokens", []byte(tc.data))
		var ce *Error
		if !errors.As(err, &ce) || ce.Line != tc.line || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("ParseTokens(%q): %v; want line %d, %q", tc.data, err, tc.line, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseTokens(%q): the error shows a token: %v", tc.data, err)
		}
	}
}

// TestLoadTokensMode: a tokens file that other users may read or write,
// or its group may write, is refused with its mode, before it is read.
func TestLoadTokensMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte("ci client secret-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o600, true}, {0o400, true}, {0o640, true}, {0o440, true}, {0o644, false}, {0o604, false}, {0o660, false}, {0o602, false}} {
		if err := os.Chmod(p, tc.mode); err != nil {
			t.Fatal(err)
		}
		creds, err := LoadTokens(p)
		if tc.ok {
			if err != nil || len(creds) != 1 {
				t.Errorf("mode %04o: %v, %d tokens", tc.mode, err, len(creds))
			}
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), fmt.Sprintf("mode %04o: a tokens file must not be readable or writable by other users", tc.mode)) {
			t.Errorf("mode %04o: %v; want a refusal", tc.mode, err)
		}
	}
	if _, err := LoadTokens(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// TestLoadMasterTokensFile: tokens_file is read relative to the master's
// file into Config.Tokens, beside the single token; a tokens file that
// does not load stops LoadMaster with its own error, and a missing one
// with an error at the tokens_file line.
func TestLoadMasterTokensFile(t *testing.T) {
	clearEnv(t)
	t.Setenv(EnvToken, "")
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("tokens", "ci client secret-1\n", 0o600)
	mp := write("master.toml", "token = \"admin-secret\"\n\ntokens_file = \"tokens\"\n", 0o600)
	m, err := LoadMaster(mp)
	if err != nil {
		t.Fatal(err)
	}
	if m.TokensFile != filepath.Join(dir, "tokens") || m.Config.Token != "admin-secret" ||
		!reflect.DeepEqual(m.Config.Tokens, []rpcapi.Credential{{Name: "ci", Role: rpcapi.RoleClient, Token: "secret-1"}}) {
		t.Errorf("LoadMaster: %q %+v", m.TokensFile, m.Config.Tokens)
	}

	write("tokens", "ci boss secret-1\n", 0o600)
	if _, err := LoadMaster(mp); err == nil || err.Error() != filepath.Join(dir, "tokens")+`:1: ci: unknown role "boss" (want admin, client, worker or read)` {
		t.Errorf("bad tokens file: %v", err)
	}
	mp = write("master.toml", "tokens_file = \"nope\"\n", 0o600)
	_, err = LoadMaster(mp)
	var ce *Error
	if !errors.As(err, &ce) || ce.File != mp || ce.Line != 1 || ce.Key != "tokens_file" || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing tokens file: %v", err)
	}
}
