package worker

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestRedactMasterText: the texts rpcapi and net/http make of a failed
// call to a master lose the user name and password of its address, in
// every form they take there; the rest of the text stays.
func TestRedactMasterText(t *testing.T) {
	for _, tc := range []struct{ masters, in, want string }{
		{"http://drover:secret123@127.0.0.1:17311",
			`rpcapi: unavailable: heartbeat to http://drover:secret123@127.0.0.1:17311/RPC2: Post "http://drover:***@127.0.0.1:17311/RPC2": dial tcp 127.0.0.1:17311: connect: connection refused`,
			`rpcapi: unavailable: heartbeat to http://127.0.0.1:17311/RPC2: Post "http://127.0.0.1:17311/RPC2": dial tcp 127.0.0.1:17311: connect: connection refused`},
		{"http://drover:secret123@127.0.0.1:17311",
			"rpcapi: unavailable: dial drover:secret123@127.0.0.1:17311: dial tcp: address drover:secret123@127.0.0.1:17311: too many colons in address",
			"rpcapi: unavailable: dial 127.0.0.1:17311: dial tcp: address 127.0.0.1:17311: too many colons in address"},
		{"drover:s3cr%t@m.example:7070", "dial drover:s3cr%t@m.example:7070: refused", "dial m.example:7070: refused"},
		{"https://a:p%40ss@m:1/RPC2,https://tok@n:2", "to https://a:p%40ss@m:1/RPC2, then https://tok@n:2/RPC2 and https://a:***@m:1",
			"to https://m:1/RPC2, then https://n:2/RPC2 and https://m:1"},
		{"https://a:p@ss@m:1", "to https://a:p@ss@m:1/RPC2 failed", "to https://m:1/RPC2 failed"},
		{"127.0.0.1:7070", "heartbeat to 127.0.0.1:7070: mail me@example.com", "heartbeat to 127.0.0.1:7070: mail me@example.com"},
		{"10.0.0.1:7070", "not the leader: the leader is http://u:pw@10.0.0.2:7070", "not the leader: the leader is http://10.0.0.2:7070"},
	} {
		if got := redactMasterText(tc.in, tc.masters); got != tc.want {
			t.Errorf("masters %q:\n%s\ngot  %s\nwant %s", tc.masters, tc.in, got, tc.want)
		}
	}
	sent := &rpcapi.NotSentError{Err: errors.New("dial u:pw@h:1")}
	err := redactMasterErr(errors.Join(rpcapi.ErrUnavailable, sent), "http://u:pw@h:1")
	var ns *rpcapi.NotSentError
	if strings.Contains(err.Error(), "pw") || !errors.Is(err, rpcapi.ErrUnavailable) || !errors.As(err, &ns) {
		t.Errorf("redacted error %q: want no password, and errors.Is and As to see what it wraps", err)
	}
}

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestMasterCredentialsNotLogged: with a master address that carries a
// user name and password, the "worker started" line and the errors of
// the calls to the master that fail name the master without them, over
// both transports.
func TestMasterCredentialsNotLogged(t *testing.T) {
	for _, tr := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		t.Run(tr, func(t *testing.T) {
			addr := deadAddr(t)
			var out testproc.Buffer
			log := logrus.New()
			log.SetOutput(&out)
			w, err := New(Config{Master: "http://drover:secret123@" + addr, Transport: tr, Name: "creds", NoFence: true,
				LogDir: t.TempDir(), Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			w.Handle("noop", func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{}, nil })
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			defer shutdown(t, w)
			poll.Until(t, 10*time.Second, "a failed registration logged", func() bool {
				return strings.Contains(out.String(), "cannot register with the master")
			})
			text := out.String()
			t.Log(text)
			if !strings.Contains(text, `master="http://`+addr+`"`) {
				t.Errorf("the worker started line does not name the master as http://%s", addr)
			}
			if !strings.Contains(text, addr) {
				t.Errorf("the error does not name the master's address %s", addr)
			}
			for _, secret := range []string{"secret123", "drover:", "drover@", "***"} {
				if strings.Contains(text, secret) {
					t.Errorf("the worker's log holds %q", secret)
				}
			}
		})
	}
}

// TestMasterCredentialsNotInConfigErrors: a master address the worker
// cannot use is refused by Validate with an error that names it without
// its user name and password.
func TestMasterCredentialsNotInConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Master: "http://drover:secret123@127.0.0.1:7070,"},
		{Master: "ftp://drover:secret123@127.0.0.1:7070"},
		{Master: "ftp://drover:secret123@127.0.0.1:7070", Transport: rpcapi.TransportXMLRPC},
		{Master: "http://drover:secret123@", Transport: rpcapi.TransportXMLRPC},
	} {
		err := c.Validate()
		if err == nil || strings.Contains(err.Error(), "secret123") || !strings.Contains(err.Error(), "Master (master)") {
			t.Errorf("Master %q over %q: %v; want an error naming the field, without the password", c.Master, c.Transport, err)
		}
		if _, err := New(c); err == nil || strings.Contains(err.Error(), "secret123") {
			t.Errorf("New with Master %q: %v; want an error without the password", c.Master, err)
		}
	}
}
