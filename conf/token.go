package conf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvToken overrides the token of the master, the worker and the CLI.
const EnvToken = "DROVER_TOKEN"

// tokenSetting is the token or token_file of a master or worker file.
type tokenSetting struct {
	token    string
	file     string
	fileLine int
}

// resolve returns the token: token as written, or the content of
// token_file (relative to the conf file's directory, whitespace trimmed).
// Setting both, or an empty or unreadable file, is an error naming the
// line.
func (t tokenSetting) resolve(confPath string) (string, error) {
	switch {
	case t.token != "" && t.file != "":
		return "", &Error{File: confPath, Line: t.fileLine, Key: "token_file", Msg: "set token or token_file, not both"}
	case t.file == "":
		return t.token, nil
	}
	p := t.file
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(confPath), p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", &Error{File: confPath, Line: t.fileLine, Key: "token_file", Msg: err.Error(), Err: err}
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", &Error{File: confPath, Line: t.fileLine, Key: "token_file", Msg: fmt.Sprintf("%s is empty", p)}
	}
	return tok, nil
}
