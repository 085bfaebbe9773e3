package rpcapi

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/drover/drover/internal/xmlrpc"
)

// TestStandbyRefusesEveryMethod: each MasterAPI method of a Standby
// returns ErrNotLeader naming the leader, or saying none is known.
func TestStandbyRefusesEveryMethod(t *testing.T) {
	for _, tc := range []struct {
		s    *Standby
		want string
	}{
		{&Standby{Leader: func() string { return "10.0.0.2:7070" }}, "rpcapi: not leader: the leader is at 10.0.0.2:7070"},
		{&Standby{Leader: func() string { return "" }}, "rpcapi: not leader: no leader is known yet"},
		{&Standby{}, "rpcapi: not leader: no leader is known yet"},
	} {
		v := reflect.ValueOf(MasterAPI(tc.s))
		api := reflect.TypeFor[MasterAPI]()
		for i := range api.NumMethod() {
			m := api.Method(i)
			in := []reflect.Value{reflect.ValueOf(context.Background())}
			for j := 1; j < m.Type.NumIn(); j++ {
				in = append(in, reflect.New(m.Type.In(j).Elem()))
			}
			err, _ := v.MethodByName(m.Name).Call(in)[0].Interface().(error)
			if !errors.Is(err, ErrNotLeader) || err.Error() != tc.want {
				t.Errorf("%s: %v; want ErrNotLeader %q", m.Name, err, tc.want)
			}
		}
	}
}

// TestLeaderOf: the address an ErrNotLeader names, whichever way it was
// made, and "" for any other error.
func TestLeaderOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{NewNotLeader("127.0.0.1:7080"), "127.0.0.1:7080"},
		{decode("drover/not_leader: rpcapi: not leader: the leader is at h2:7070"), "h2:7070"},
		{faultError(FaultNotLeader, "rpcapi: not leader: the leader is at [::1]:7070"), "[::1]:7070"},
		{errors.Join(errors.New("cannot reach the master"), NewNotLeader("h3:1")), "h3:1"},
		{NewNotLeader(""), ""},
		{ErrNotLeader, ""},
		{decode("drover/not_found: rpcapi: not found: the leader is at h:1"), ""},
		{nil, ""},
	} {
		if got := LeaderOf(tc.err); got != tc.want {
			t.Errorf("LeaderOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// serveStandby serves s over both transports on 127.0.0.1:0 and returns
// its address.
func serveStandby(t *testing.T, s *Standby) string {
	t.Helper()
	h, err := NewGoRPCHandlerOptions(s, nil, GoRPCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(GoRPCPath, h)
	mux.Handle(XMLRPCPath, NewXMLRPCHandler(s, nil, XMLRPCOptions{}))
	return startServer(t, "127.0.0.1:0", mux).addr
}

// TestStandbyOnTheWire: a Standby served with the gob and XML-RPC
// handlers answers every call with not_leader: over gob the error matches
// ErrNotLeader and names the leader; over XML-RPC it is fault 8 with the
// documented faultString.
func TestStandbyOnTheWire(t *testing.T) {
	var leader atomic.Value
	leader.Store("127.0.0.1:7080")
	addr := serveStandby(t, &Standby{Leader: func() string { return leader.Load().(string) }})
	xc, err := NewXMLClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	callers := map[string]Caller{"gob": NewClient(addr), "serial": NewSerialClient(addr), "xmlrpc": xc}
	for name, c := range callers {
		defer c.Close()
		m := MasterClient{C: c}
		ctx := context.Background()
		_, e1 := m.Submit(ctx, &SubmitArgs{})
		_, e2 := m.Register(ctx, &RegisterArgs{Name: "w"})
		_, e3 := m.Wait(ctx, &WaitArgs{IDs: []string{"1"}})
		_, e4 := m.GetJob(ctx, "1")
		for i, err := range []error{e1, e2, e3, e4} {
			if !errors.Is(err, ErrNotLeader) || LeaderOf(err) != "127.0.0.1:7080" ||
				err.Error() != "rpcapi: not leader: the leader is at 127.0.0.1:7080" {
				t.Errorf("%s call %d: %v (leader %q); want not_leader at 127.0.0.1:7080", name, i+1, err, LeaderOf(err))
			}
			if NotSent(err) {
				t.Errorf("%s call %d: NotSent(%v); the standby answered", name, i+1, err)
			}
		}
	}

	for _, tc := range []struct{ leader, want string }{
		{"127.0.0.1:7080", "rpcapi: not leader: the leader is at 127.0.0.1:7080"},
		{"", "rpcapi: not leader: no leader is known yet"},
	} {
		leader.Store(tc.leader)
		_, body := post(t, "http://"+addr+XMLRPCPath, call("submit_jobs", map[string]any{"specs": []any{}}))
		_, err := xmlrpc.DecodeResponse(strings.NewReader(body), xmlrpc.Limits{})
		var f *xmlrpc.Fault
		if !errors.As(err, &f) || f.Code != 8 || f.String != tc.want {
			t.Errorf("submit_jobs to a standby (leader %q): %v; want fault 8 %q", tc.leader, err, tc.want)
		}
		_, err = MasterClient{C: callers["gob"]}.Status(context.Background())
		if !errors.Is(err, ErrNotLeader) || err.Error() != tc.want {
			t.Errorf("gob status to a standby (leader %q): %v; want not_leader %q", tc.leader, err, tc.want)
		}
	}

	// The introspection calls are the documented exception: they change
	// nothing, and a standby answers them as any master does.
	_, body := post(t, "http://"+addr+XMLRPCPath, call("system.listMethods"))
	v, err := xmlrpc.DecodeResponse(strings.NewReader(body), xmlrpc.Limits{})
	if err != nil {
		t.Fatalf("system.listMethods on a standby: %v", err)
	}
	if names, _ := v.([]any); !slices.Contains(names, any("submit_jobs")) {
		t.Fatalf("system.listMethods on a standby = %v; want the method names", v)
	}
}
