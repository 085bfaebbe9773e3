package worker

import (
	"net/url"
	"regexp"
	"strings"
)

// What the worker logs, the errors it returns and a job's DROVER_MASTER
// name its master without the user name and password a master address
// may carry (http://drover:TOKEN@host:7070, where the password may be
// the token):
// the "worker started" line prints redactUserinfo(Config.Master), and
// the errors of calls to the master, whose text rpcapi and net/http
// write with the address as given (or with the password as "***"), go
// through redactMasterErr before they are logged.

// urlUserinfo matches the user name and password part of a URL in a
// text, up to its last '@' before the host ("http://u:p@" of
// "http://u:p@host/RPC2"), with the scheme as group 1.
var urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#"'<>]*@`)

// redactMasterText returns s with the user name and password part
// ("user:password@") of every URL in it taken out, whatever its form
// (as given, written again by net/url, or url.URL.Redacted's
// "user:***@"), and that of the master addresses in masters (a list
// separated by commas, as Config.Master) where it stands without a
// scheme: rpcapi's gob client dials "user:password@host:port" for
// "http://user:password@host:port", and says so when that fails.
func redactMasterText(s, masters string) string {
	for a := range strings.SplitSeq(masters, ",") {
		if ui := userinfo(strings.TrimSpace(a)); ui != "" {
			s = strings.ReplaceAll(s, ui+"@", "")
		}
	}
	return urlUserinfo.ReplaceAllString(s, "$1")
}

// userinfo returns the user name and password part of the address a as
// written there, without its '@', or "".
func userinfo(a string) string {
	if _, after, ok := strings.Cut(a, "://"); ok {
		a = after
	}
	host, _, _ := strings.Cut(a, "/")
	if at := strings.LastIndexByte(host, '@'); at > 0 {
		return host[:at]
	}
	return ""
}

// redactedError is an error whose text had the master's user name and
// password taken out; errors.Is and errors.As see the error it wraps.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactMasterErr returns err with its text redacted as
// redactMasterText does, or err itself when there is nothing to take
// out.
func redactMasterErr(err error, masters string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := redactMasterText(msg, masters); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

// masterErr is redactMasterErr for this worker's masters: what an error
// of a call to them is logged as.
func (w *Worker) masterErr(err error) error { return redactMasterErr(err, w.cfg.Master) }

// redactUserinfo returns the master's address addr as a job sees it in
// DROVER_MASTER: without the user name and password of a URL such as
// http://drover:TOKEN@host:7070, which may be the token, in each address
// of a list separated by commas.
func redactUserinfo(addr string) string {
	if strings.Contains(addr, ",") {
		parts := strings.Split(addr, ",")
		for i, p := range parts {
			parts[i] = redactOne(strings.TrimSpace(p))
		}
		return strings.Join(parts, ",")
	}
	return redactOne(addr)
}

// redactOne is redactUserinfo of one address.
func redactOne(addr string) string {
	u, err := url.Parse(addr)
	if err != nil || u.User == nil {
		if at := strings.LastIndexByte(addr, '@'); at >= 0 && !strings.Contains(addr, "://") {
			return addr[at+1:] // host:port with credentials: url.Parse fails
		}
		return addr
	}
	u.User = nil
	return u.String()
}
