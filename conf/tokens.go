package conf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"

	"github.com/drover/drover/rpcapi"
)

// TokensFilePerm are the permission bits a tokens file must not have: any
// for other users, and write for its group. 0600, 0400, 0640 and 0440
// pass.
const TokensFilePerm = 0o027

// LoadTokens reads the tokens file at path (see ParseTokens). A file that
// other users may read or write, or that its group may write, is an
// error that says its mode, before anything is read.
func LoadTokens(path string) ([]rpcapi.Credential, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("conf: %w", err)
	}
	if mode := fi.Mode().Perm(); mode&TokensFilePerm != 0 {
		return nil, &Error{File: path, Msg: fmt.Sprintf("mode %04o: a tokens file must not be readable or writable by other users, "+
			"nor writable by its group (chmod 600 %s)", mode, path)}
	}
	return readFile(path, ParseTokens)
}

// ParseTokens decodes data, the content of a tokens file called name
// (used in errors only): one token per line as three fields separated by
// white space, its name, its role (admin, client, worker or read) and the
// token itself:
//
//	# name     role    token
//	ci         client  4f9c0e7d2a...
//	crawlers   worker  8a1b66f3c9...
//	grafana    read    77de1b0a54...
//
// Blank lines and lines whose first non-blank character is # are
// skipped; there are no comments after a token (a token may hold a #). A
// line that is not three fields, a name that is not 1 to 64 letters,
// digits or ._@- characters, an unknown role, a name or a token already
// on an earlier line, and a file without any token are *Errors naming the
// line and the token's name; no error shows a token.
func ParseTokens(name string, data []byte) ([]rpcapi.Credential, error) {
	var creds []rpcapi.Credential
	names := make(map[string]int)  // name -> line
	tokens := make(map[string]int) // token -> line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		c, err := parseTokenLine(text)
		if err != nil {
			return nil, &Error{File: name, Line: line, Key: c.Name, Msg: err.Error()}
		}
		if l, ok := names[c.Name]; ok {
			return nil, &Error{File: name, Line: line, Key: c.Name, Msg: fmt.Sprintf("name already used on line %d", l)}
		}
		if l, ok := tokens[c.Token]; ok {
			return nil, &Error{File: name, Line: line, Key: c.Name, Msg: fmt.Sprintf("the same token as line %d: every token must be different", l)}
		}
		names[c.Name], tokens[c.Token] = line, line
		creds = append(creds, c)
	}
	if err := sc.Err(); err != nil {
		return nil, &Error{File: name, Msg: err.Error(), Err: err}
	}
	if len(creds) == 0 {
		return nil, &Error{File: name, Msg: "no tokens: want one line per token, NAME ROLE TOKEN"}
	}
	if _, err := rpcapi.NewKeyring(creds); err != nil { // checked above; a backstop
		return nil, &Error{File: name, Msg: err.Error(), Err: err}
	}
	return creds, nil
}

// parseTokenLine decodes one line of a tokens file. On an error, the
// credential has the name if the line has three fields (with fewer, the
// first may be a token, which an error must not show).
func parseTokenLine(text string) (rpcapi.Credential, error) {
	f := strings.Fields(text)
	if len(f) != 3 {
		return rpcapi.Credential{}, fmt.Errorf("want three fields, NAME ROLE TOKEN, got %d", len(f))
	}
	c := rpcapi.Credential{Name: f[0], Role: rpcapi.Role(f[1]), Token: f[2]}
	if !c.Role.Valid() {
		return c, fmt.Errorf("unknown role %q (want admin, client, worker or read)", f[1])
	}
	// The role is valid and the token is one field: NewKeyring can only
	// refuse the name, or a control character in the token.
	if strings.ContainsFunc(c.Token, unicode.IsControl) {
		return c, errors.New("the token holds a control character, which no HTTP header can carry")
	}
	if _, err := rpcapi.NewKeyring([]rpcapi.Credential{c}); err != nil {
		return c, fmt.Errorf("name %q: want 1 to 64 letters, digits or ._@- characters", c.Name)
	}
	return c, nil
}
