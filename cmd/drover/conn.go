package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"

	"github.com/drover/drover/conf"
	"github.com/drover/drover/rpcapi"
)

// connFlags are a client command's flags that say how to reach the master.
type connFlags struct {
	addr, transport, token, tokenFile, ca, cert, key *string
}

// addConnFlags adds --master and how to reach it to fs.
func addConnFlags(fs *flag.FlagSet) *connFlags {
	def := "127.0.0.1:7070"
	if v := os.Getenv("DROVER_MASTER"); v != "" {
		def = v
	}
	return &connFlags{
		addr:      fs.String("master", def, "master `addr` ($DROVER_MASTER)"),
		transport: fs.String("transport", rpcapi.TransportGob, "protocol to the master: gob or xmlrpc"),
		token:     fs.String("token", "", "the master's `token`; other users of this machine see it in ps: prefer --token-file or $DROVER_TOKEN"),
		tokenFile: fs.String("token-file", "", "read the master's token from `file` (surrounding whitespace ignored)"),
		ca:        fs.String("tls-ca", "", "CA `file` (PEM) that signed the master's certificate"),
		cert:      fs.String("tls-cert", "", "client certificate `file` (PEM) for mutual TLS"),
		key:       fs.String("tls-key", "", "client key `file` (PEM) for mutual TLS"),
	}
}

// secrets returns the token and the client TLS config (nil: none) the
// flags name, exiting with status 2 when they cannot be read.
func (f *connFlags) secrets() (string, *tls.Config) {
	tok, err := clientToken(*f.token, *f.tokenFile, os.Getenv(conf.EnvToken))
	if err != nil {
		fmt.Fprintln(os.Stderr, "drover:", err)
		os.Exit(2)
	}
	_, tc, err := conf.TLSConfigs(*f.cert, *f.key, *f.ca)
	if err != nil {
		fmt.Fprintln(os.Stderr, "drover:", err)
		os.Exit(2)
	}
	return tok, tc
}

// dial returns a client of the master the flags name.
func (f *connFlags) dial() rpcapi.MasterClient {
	tok, tc := f.secrets()
	opts := []rpcapi.Option{rpcapi.WithToken(tok)}
	if tc != nil {
		opts = append(opts, rpcapi.WithTLS(tc))
	}
	c, err := rpcapi.NewCaller(*f.addr, *f.transport, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "drover:", err)
		os.Exit(2)
	}
	return rpcapi.MasterClient{C: c}
}
