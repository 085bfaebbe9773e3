package master_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestWorkerTokenPush: a push worker that has only a worker token
// registers and runs jobs, over both transports: the master calls it
// with the token it registered with, not with a token of its own; a
// client token submits, and the single token is an admin token beside
// the others.
func TestWorkerTokenPush(t *testing.T) {
	for _, transport := range []string{rpcapi.TransportGob, rpcapi.TransportXMLRPC} {
		t.Run(transport, func(t *testing.T) {
			m := startMaster(t, master.Config{Token: "the-admin-token", Tokens: []rpcapi.Credential{
				{Name: "fleet", Role: rpcapi.RoleWorker, Token: "fleet-token"},
				{Name: "ci", Role: rpcapi.RoleClient, Token: "ci-token"},
			}})
			master.StartTestWorker(t, worker.Config{Master: m.Addr(), Name: "w", Slots: 1, Token: "fleet-token", Transport: transport},
				map[string]worker.HandlerFunc{"echo": echo})
			runEcho(t, m.Addr(), transport, rpcapi.WithToken("ci-token"))
			mc := runEcho(t, m.Addr(), transport, rpcapi.WithToken("the-admin-token"))
			if _, err := mc.Purge(context.Background(), &rpcapi.PurgeArgs{All: true}); err != nil {
				t.Errorf("purge with the single token: %v", err)
			}
			fleet, err := rpcapi.NewCaller(m.Addr(), transport, rpcapi.WithToken("fleet-token"))
			if err != nil {
				t.Fatal(err)
			}
			defer fleet.Close()
			_, err = rpcapi.MasterClient{C: fleet}.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "echo"}}})
			if !errors.Is(err, rpcapi.ErrForbidden) {
				t.Errorf("submit with the worker token: %v; want ErrForbidden", err)
			}
		})
	}
}

// TestSetTokens: replacing the tokens applies to the next request, on a
// new connection, on a gob connection opened before and to an open event
// stream; an invalid or an empty set is refused and changes nothing.
func TestSetTokens(t *testing.T) {
	m := startMaster(t, master.Config{Tokens: []rpcapi.Credential{{Name: "ci", Role: rpcapi.RoleClient, Token: "ci-token"}}})
	open := rpcapi.MasterClient{C: rpcapi.NewClient(m.Addr(), rpcapi.WithToken("ci-token"))}
	defer open.C.Close()
	status := func(c rpcapi.MasterClient) error {
		_, err := c.Status(context.Background())
		return err
	}
	submit := func(c rpcapi.MasterClient) error {
		_, err := c.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "nobody-runs-this"}}})
		return err
	}
	if err := submit(open); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]rpcapi.Credential{
		{{Name: "a", Role: "root", Token: "x-token"}},
		{{Name: "a", Role: rpcapi.RoleRead, Token: "x-token"}, {Name: "b", Role: rpcapi.RoleAdmin, Token: "x-token"}},
		{{Name: "a", Role: rpcapi.RoleRead, Token: ""}},
		nil,
	} {
		if err := m.SetTokens(bad); err == nil || !strings.HasPrefix(err.Error(), "master: tokens: ") {
			t.Errorf("SetTokens(%+v): %v; want an error", bad, err)
		}
	}
	if err := submit(open); err != nil {
		t.Fatalf("after refused sets: %v", err)
	}

	if err := m.SetTokens([]rpcapi.Credential{{Name: "ci", Role: rpcapi.RoleRead, Token: "ci-token"},
		{Name: "new", Role: rpcapi.RoleClient, Token: "new-token"}}); err != nil {
		t.Fatal(err)
	}
	if err := submit(open); !errors.Is(err, rpcapi.ErrForbidden) {
		t.Errorf("submit on the open connection after ci became read: %v; want ErrForbidden", err)
	}
	if err := status(open); err != nil {
		t.Errorf("status on the open connection: %v", err)
	}
	fresh := rpcapi.MasterClient{C: rpcapi.NewClient(m.Addr(), rpcapi.WithToken("new-token"))}
	defer fresh.C.Close()
	if err := submit(fresh); err != nil {
		t.Errorf("submit with the new token: %v", err)
	}

	stream := openTokenEvents(t, m, "ci-token")
	if err := m.SetTokens([]rpcapi.Credential{{Name: "new", Role: rpcapi.RoleClient, Token: "new-token"}}); err != nil {
		t.Fatal(err)
	}
	if err := submit(fresh); err != nil { // a change: the stream's next event
		t.Fatal(err)
	}
	select {
	case <-stream:
	case <-time.After(10 * time.Second):
		t.Error("the event stream of the removed token is still open")
	}
	if err := status(open); !errors.Is(err, rpcapi.ErrUnauthorized) {
		t.Errorf("status on the open connection after ci went: %v; want ErrUnauthorized", err)
	}
	gone := rpcapi.MasterClient{C: rpcapi.NewClient(m.Addr(), rpcapi.WithToken("ci-token"))}
	defer gone.C.Close()
	if err := status(gone); !errors.Is(err, rpcapi.ErrUnauthorized) {
		t.Errorf("status with the removed token: %v; want ErrUnauthorized", err)
	}
}

// openTokenEvents opens the event stream with token, reads its first event,
// and returns a channel closed when the stream ends.
func openTokenEvents(t *testing.T, m *master.Master, token string) <-chan struct{} {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t, time.Minute), "GET", "http://"+m.Addr()+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	br := bufio.NewReader(res.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %d %v", res.StatusCode, err)
		}
		if strings.HasPrefix(line, "data: ") {
			break
		}
	}
	done := make(chan struct{})
	go func() { // ends with the stream, which the test's cleanup closes
		defer close(done)
		io.Copy(io.Discard, br)
	}()
	return done
}

// TestTokensConfig: a token in Tokens equal to the single Token, or two
// of the same name, and an unknown role, are refused by New, naming
// tokens_file.
func TestTokensConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  master.Config
		want string
	}{
		{master.Config{Token: "same-token", Tokens: []rpcapi.Credential{{Name: "ci", Role: rpcapi.RoleClient, Token: "same-token"}}},
			"master: Tokens (tokens_file): rpcapi: tokens 1 (ci) and 2 (token) are the same token"},
		{master.Config{Tokens: []rpcapi.Credential{{Name: "ci", Role: "superuser", Token: "t-1"}}},
			`unknown role "superuser"`},
		{master.Config{Tokens: []rpcapi.Credential{{Name: "ci", Role: rpcapi.RoleRead, Token: "t-1"}, {Name: "ci", Role: rpcapi.RoleRead, Token: "t-2"}}},
			`tokens 1 and 2 have the same name "ci"`},
	} {
		tc.cfg.Store = master.StoreMemory
		_, err := master.New(tc.cfg)
		var ce *master.ConfigError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ce) || ce.Key != "tokens_file" {
			t.Errorf("New: %v; want %q", err, tc.want)
		}
	}
}
