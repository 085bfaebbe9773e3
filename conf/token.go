package conf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvToken is the token the CLI sends. The master and the worker read it
// when their own (EnvMasterToken, EnvWorkerToken) is unset. Deprecated
// for them: set theirs.
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
	tok, err := ReadTokenFile(p)
	if err != nil {
		return "", &Error{File: confPath, Line: t.fileLine, Key: "token_file", Msg: err.Error(), Err: err}
	}
	return tok, nil
}

// ReadTokenFile returns the token in the file at path, without the
// whitespace around it. The error of an unreadable file is os.ReadFile's,
// which names path; an empty file (or one of whitespace only) is an error
// "PATH is empty".
func ReadTokenFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}
