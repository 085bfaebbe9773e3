package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/drover/drover/rpcapi"
)

// logsStderr is where "drover logs" prints a job's stderr (a variable
// for tests).
var logsStderr io.Writer = os.Stderr

// logsCmd prints the full log of an attempt of a job, which the master
// reads from the worker that ran it (GET
// /api/v1/jobs/{id}/attempts/{n}/log): its stdout to stdout and its stderr
// to stderr, or one of them to stdout with --stream; with -f, as it grows
// until the attempt ends.
func logsCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	attempt := fs.Int("attempt", 0, "the attempt `N` (default: the job's latest)")
	stream := fs.String("stream", "", "print only `S`, stdout or stderr, to stdout (default: both, each to its own)")
	follow := fs.BoolP("follow", "f", false, "follow: print the log as it grows, until the attempt ends")
	return func(pos []string, stdout io.Writer) error {
		id, err := oneArg(pos, "job ID")
		if err != nil {
			return err
		}
		if *attempt < 0 {
			return usagef("--attempt %d: want a number from 1", *attempt)
		}
		outs := map[string]io.Writer{rpcapi.StreamStdout: stdout, rpcapi.StreamStderr: logsStderr}
		switch *stream {
		case "":
		case rpcapi.StreamStdout, rpcapi.StreamStderr:
			outs = map[string]io.Writer{*stream: stdout}
		default:
			return usagef("--stream %q: want stdout or stderr", *stream)
		}
		if *attempt == 0 {
			info, err := fetchArg(conn, rpcapi.MasterClient.GetJob, id)
			if err != nil {
				return err
			}
			if *attempt = info.Job.Attempt; *attempt == 0 {
				return fmt.Errorf("job %s has not run yet: no log", id)
			}
		}
		lc, err := newLogClient(conn)
		if err != nil {
			return err
		}
		path := fmt.Sprintf("/api/v1/jobs/%s/attempts/%d/log", url.PathEscape(id), *attempt)
		sig, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		// Both streams at once when following, so each shows as it comes; a
		// failure of one ends the other.
		ctx, cancel := context.WithCancel(sig)
		defer cancel()
		var wg sync.WaitGroup
		errs := make([]error, 0, 2)
		var mu sync.Mutex
		for _, s := range []string{rpcapi.StreamStdout, rpcapi.StreamStderr} {
			w, ok := outs[s]
			if !ok {
				continue
			}
			get := func() {
				if err := lc.copy(ctx, path, s, *follow, w); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					if *follow {
						cancel()
					}
				}
			}
			if *follow {
				wg.Go(get)
			} else {
				get()
			}
		}
		wg.Wait()
		if sig.Err() != nil {
			return nil // interrupted while following: not an error
		}
		return errors.Join(errs...)
	}
}

// logClient gets logs from the master's JSON API, with the token and TLS
// of the command's flags; given several masters, from the leader.
type logClient struct {
	conn  *connFlags
	base  string // http://host:port or https://host:port
	token string
	hc    *http.Client
}

func newLogClient(f *connFlags) (*logClient, error) {
	tok, tc, err := f.secrets()
	if err != nil {
		return nil, err
	}
	addr, err := f.leaderAddr()
	if err != nil {
		return nil, err
	}
	scheme := "http://"
	if tc != nil || strings.HasPrefix(addr, "https://") {
		scheme = "https://"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &logClient{conn: f, base: scheme + rpcapi.HostPort(addr), token: tok, hc: &http.Client{Transport: tr}}, nil
}

// copy writes one stream of the log at path to w, following it if asked.
func (lc *logClient) copy(ctx context.Context, path, stream string, follow bool, w io.Writer) error {
	q := url.Values{"stream": {stream}}
	if follow {
		q.Set("follow", "1")
	}
	res, err := lc.do(ctx, http.MethodGet, path+"?"+q.Encode(), nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		return lc.refusal(res, b, stream+": ")
	}
	if _, err := io.Copy(w, res.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: %w", stream, err)
	}
	return nil
}

// do sends a request to the master's JSON API at path, with the token.
func (lc *logClient) do(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, lc.base+path, body)
	if err != nil {
		return nil, err
	}
	if lc.token != "" {
		req.Header.Set("Authorization", "Bearer "+lc.token)
	}
	res, err := lc.hc.Do(req)
	if err != nil {
		return nil, lc.conn.annotate(&httpError{sentinel: rpcapi.ErrUnavailable, msg: err.Error()})
	}
	return res, nil
}

// refusal is the error of a reply that is not 200 OK, whose body b
// begins: the API's message, else the status and the body; prefix goes
// first.
func (lc *logClient) refusal(res *http.Response, b []byte, prefix string) error {
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	msg := fmt.Sprintf("%s%s: %s", prefix, res.Status, strings.TrimSpace(string(b)))
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		msg = prefix + e.Error.Message
	}
	return lc.conn.annotate(&httpError{sentinel: statusError(res.StatusCode), msg: msg})
}

// httpError is an error of the master's JSON API, with the sentinel of
// its status (errors.Is works as on an RPC's error).
type httpError struct {
	sentinel error // nil: none
	msg      string
}

func (e *httpError) Error() string { return e.msg }
func (e *httpError) Unwrap() error { return e.sentinel }

// statusError is the rpcapi sentinel of an HTTP status, or nil.
func statusError(status int) error {
	switch status {
	case http.StatusNotFound:
		return rpcapi.ErrNotFound
	case http.StatusBadRequest:
		return rpcapi.ErrBadRequest
	case http.StatusUnauthorized:
		return rpcapi.ErrUnauthorized
	case http.StatusForbidden:
		return rpcapi.ErrForbidden
	case http.StatusServiceUnavailable:
		return rpcapi.ErrUnavailable
	}
	return nil
}
