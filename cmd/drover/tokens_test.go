package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// tokenCalls makes calls to the master at addr with a token, on a new
// connection each time.
type tokenCalls struct {
	t    *testing.T
	addr string
}

func (c tokenCalls) do(token string, call func(ctx context.Context, mc rpcapi.MasterClient) error) error {
	cl := rpcapi.NewClient(c.addr, rpcapi.WithToken(token))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return call(ctx, rpcapi.MasterClient{C: cl})
}

func (c tokenCalls) status(token string) error {
	return c.do(token, func(ctx context.Context, mc rpcapi.MasterClient) error {
		_, err := mc.Status(ctx)
		return err
	})
}

func (c tokenCalls) submit(token string) error {
	return c.do(token, func(ctx context.Context, mc rpcapi.MasterClient) error {
		_, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "nobody-runs-this"}}})
		return err
	})
}

// TestSIGHUPReloadsTokens runs a drover master process with a tokens
// file: SIGHUP loads the file again, so a token added there works and one
// removed is refused; a file that does not load (an unknown role, then a
// mode others can read) is logged, naming the line or the mode, and
// leaves the tokens as they were; the master keeps running throughout.
func TestSIGHUPReloadsTokens(t *testing.T) {
	p, dir := startMaster(t, "tokens_file = \"tokens\"\n", map[string]string{"tokens": "# monitoring\ngrafana read tok-read-5a1f\n"},
		"--log-format", "json")
	tokens := filepath.Join(dir, "tokens")
	write := func(content string, mode os.FileMode) {
		t.Helper()
		writeFile(t, tokens, content)
		if err := os.Chmod(tokens, mode); err != nil {
			t.Fatal(err)
		}
	}
	c := tokenCalls{t: t, addr: p.Addr()}
	if err := c.status("tok-read-5a1f"); err != nil {
		t.Fatalf("status with the read token: %v", err)
	}
	if err := c.submit("tok-read-5a1f"); !errors.Is(err, rpcapi.ErrForbidden) {
		t.Fatalf("submit with the read token: %v; want ErrForbidden", err)
	}
	if err := c.submit("tok-client-9e2b"); !errors.Is(err, rpcapi.ErrUnauthorized) {
		t.Fatalf("submit with a token not in the file yet: %v; want ErrUnauthorized", err)
	}

	write("ci client tok-client-9e2b\n", 0o600)
	p.Signal(syscall.SIGHUP)
	testproc.Poll(t, 10*time.Second, "the new client token to submit", func() bool { return c.submit("tok-client-9e2b") == nil })
	p.WaitFor("SIGHUP: tokens reloaded", 10*time.Second)
	if err := c.status("tok-read-5a1f"); !errors.Is(err, rpcapi.ErrUnauthorized) {
		t.Errorf("status with the removed read token: %v; want ErrUnauthorized", err)
	}

	for i, bad := range []struct {
		content string
		mode    os.FileMode
		logged  string
	}{
		{"ci client tok-client-9e2b\nops boss tok-admin-77c3\n", 0o600, `:2: ops: unknown role \"boss\"`},
		{"ops admin tok-admin-77c3\n", 0o644, "mode 0644: a tokens file must not be readable or writable by other users"},
	} {
		write(bad.content, bad.mode)
		p.Signal(syscall.SIGHUP)
		testproc.Poll(t, 10*time.Second, "the refused reload to be logged", func() bool {
			return strings.Count(p.Output(), "SIGHUP: conf not reloaded; nothing changed") == i+1
		})
		if line := p.WaitFor(bad.logged, time.Second); !strings.Contains(line, `"level":"error"`) {
			t.Errorf("the refused reload is not logged as an error: %s", line)
		}
		if err := c.submit("tok-client-9e2b"); err != nil {
			t.Errorf("after a refused reload, the client token: %v", err)
		}
		if err := c.status("tok-admin-77c3"); !errors.Is(err, rpcapi.ErrUnauthorized) {
			t.Errorf("after a refused reload, a token of the refused file: %v; want ErrUnauthorized", err)
		}
	}
	if strings.Contains(p.Output(), "tok-") {
		t.Errorf("the master's log shows a token:\n%s", p.Output())
	}
	if p.Exited() {
		t.Fatalf("the master exited: %v", p.Err())
	}
}

// TestSIGHUPWithoutConfFile: a master without a conf file logs that a
// SIGHUP changes nothing, and keeps serving.
func TestSIGHUPWithoutConfFile(t *testing.T) {
	p := testproc.Options{Name: "master"}.Start(t, testproc.Drover(t), "master", "--listen", "127.0.0.1:0", "--store", "memory")
	c := tokenCalls{t: t, addr: p.Addr()}
	p.Signal(syscall.SIGHUP)
	p.WaitFor("SIGHUP: no conf file (--config) to reload; nothing changed", 10*time.Second)
	if err := c.submit(""); err != nil {
		t.Errorf("submit after SIGHUP: %v", err)
	}
}
