package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/drover/drover/conf"
	"github.com/drover/drover/rpcapi"
)

// defaultMaster is the master's address when neither --master nor
// $DROVER_MASTER names one.
const defaultMaster = "127.0.0.1:7070"

// connFlags are a client command's flags that say how to reach the master.
type connFlags struct {
	fs                                               *pflag.FlagSet
	addr, transport, token, tokenFile, ca, cert, key *string
}

// addConnFlags adds --master and how to reach it to fs.
func addConnFlags(fs *pflag.FlagSet) *connFlags {
	def := defaultMaster
	if v := os.Getenv("DROVER_MASTER"); v != "" {
		def = v
	}
	return &connFlags{
		fs:        fs,
		addr:      fs.String("master", def, "master `addr`, or a comma list of masters whose leader is followed ($DROVER_MASTER, else "+defaultMaster+")"),
		transport: fs.String("transport", rpcapi.TransportGob, "protocol to the master: gob or xmlrpc"),
		token:     fs.String("token", "", "the master's `token`; other users of this machine see it in ps: prefer --token-file or $DROVER_TOKEN"),
		tokenFile: fs.String("token-file", "", "read the master's token from `file` (surrounding whitespace ignored)"),
		ca:        fs.String("tls-ca", "", "CA `file` (PEM) that signed the master's certificate"),
		cert:      fs.String("tls-cert", "", "client certificate `file` (PEM) for mutual TLS"),
		key:       fs.String("tls-key", "", "client key `file` (PEM) for mutual TLS"),
	}
}

// where names the master the flags reach and where its address came
// from: "127.0.0.1:7070 (the default)".
func (f *connFlags) where() string {
	from := "the default"
	switch {
	case f.fs.Changed("master"):
		from = "--master"
	case os.Getenv("DROVER_MASTER") != "":
		from = "$DROVER_MASTER"
	}
	return fmt.Sprintf("%s (from %s)", *f.addr, from)
}

// secrets returns the token and the client TLS config (nil: none) the
// flags name; a file that cannot be read is a usage error.
func (f *connFlags) secrets() (string, *tls.Config, error) {
	tok, err := clientToken(*f.token, *f.tokenFile, os.Getenv(conf.EnvToken))
	if err != nil {
		return "", nil, usageError(err)
	}
	_, tc, err := conf.TLSConfigs(*f.cert, *f.key, *f.ca)
	if err != nil {
		return "", nil, usageError(err)
	}
	return tok, tc, nil
}

// dial returns a client of the master the flags name, whose errors say
// which master could not be reached, or refused the call. Given a list
// of masters (a leader and its standbys), it follows the leader among
// them (rpcapi.Follow).
func (f *connFlags) dial() (rpcapi.MasterClient, error) {
	tok, tc, err := f.secrets()
	if err != nil {
		return rpcapi.MasterClient{}, err
	}
	opts := []rpcapi.Option{rpcapi.WithToken(tok)}
	if tc != nil {
		opts = append(opts, rpcapi.WithTLS(tc))
	}
	c, err := rpcapi.NewMasterCaller(*f.addr, *f.transport, opts...)
	if err != nil {
		return rpcapi.MasterClient{}, usageError(err)
	}
	return rpcapi.MasterClient{C: masterCaller{Caller: c, f: f}}, nil
}

// call dials the master and returns its client and a context for the
// command's calls (callTimeout); done cancels the one and closes the
// other.
func (f *connFlags) call() (mc rpcapi.MasterClient, c context.Context, done func(), err error) {
	mc, err = f.dial()
	if err != nil {
		return mc, nil, nil, err
	}
	c, cancel := ctx()
	return mc, c, func() {
		cancel()
		mc.C.Close()
	}, nil
}

// fetch dials the master, makes the one call of a command (callTimeout)
// and closes the connection.
func fetch[R any](f *connFlags, call func(rpcapi.MasterClient, context.Context) (R, error)) (R, error) {
	mc, c, done, err := f.call()
	if err != nil {
		var zero R
		return zero, err
	}
	defer done()
	return call(mc, c)
}

// fetchArg is fetch of a call that takes an argument, a.
func fetchArg[A, R any](f *connFlags, call func(rpcapi.MasterClient, context.Context, A) (R, error), a A) (R, error) {
	return fetch(f, func(mc rpcapi.MasterClient, c context.Context) (R, error) { return call(mc, c, a) })
}

// masterCaller is a client of the master whose errors name it (see
// annotate).
type masterCaller struct {
	rpcapi.Caller
	f *connFlags
}

func (c masterCaller) Call(ctx context.Context, method string, args, reply any) error {
	return c.f.annotate(c.Caller.Call(ctx, method, args, reply))
}

// annotate adds the master's address, and where it came from, to an
// error that says the master could not be reached or refused the call.
func (f *connFlags) annotate(err error) error {
	switch {
	case errors.Is(err, rpcapi.ErrUnavailable):
		return fmt.Errorf("cannot reach the master at %s: %w", f.where(), err)
	case errors.Is(err, rpcapi.ErrUnauthorized), errors.Is(err, rpcapi.ErrForbidden):
		return fmt.Errorf("the master at %s refused the call: %w", f.where(), err)
	}
	return err
}

// leaderAddr returns the master's address for a command that calls the
// JSON API: --master itself, or, when it lists several masters, the one
// that answers get_master_status as the leader.
func (f *connFlags) leaderAddr() (string, error) {
	if !strings.Contains(*f.addr, ",") {
		return *f.addr, nil
	}
	mc, c, done, err := f.call()
	if err != nil {
		return "", err
	}
	defer done()
	if _, err := mc.Status(c); err != nil {
		return "", err
	}
	if a, ok := mc.C.(masterCaller).Caller.(interface{ Addr() string }); ok {
		return a.Addr(), nil
	}
	return *f.addr, nil
}
