package rpcapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/internal/testnet"
)

// The kinds of master in the model of TestFollowModel.
const (
	refuses = iota // cannot be reached: the call is not sent
	standby        // answers not_leader, naming its leader or none
	answers        // the leader: answers the call
	breaks         // takes the call and breaks mid-call
)

// model is a set of masters by address; an address it does not hold
// cannot be reached.
type model struct {
	mu     sync.Mutex
	kind   map[string]int
	names  map[string]string // a standby's leader
	log    []string          // the addresses called, in order
	dialed []string          // the addresses Follow dialed, in order
}

type modelCaller struct {
	m    *model
	addr string
}

func (c modelCaller) Call(_ context.Context, _ string, _, reply any) error {
	m := c.m
	m.mu.Lock()
	m.log = append(m.log, c.addr)
	kind, ok := m.kind[c.addr]
	leader := m.names[c.addr]
	m.mu.Unlock()
	switch {
	case !ok || kind == refuses:
		return &NotSentError{fmt.Errorf("%w: dial %s: connection refused", ErrUnavailable, c.addr)}
	case kind == standby: // as it comes over gob
		return decode(encode(NewNotLeader(leader)).Error())
	case kind == answers:
		*reply.(*string) = c.addr
		return nil
	}
	return fmt.Errorf("%w: call to %s: EOF", ErrUnavailable, c.addr)
}

func (c modelCaller) Close() error { return nil }

func (m *model) dial(addr string) (Caller, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dialed = append(m.dialed, addr)
	return modelCaller{m, addr}, nil
}

// deal gives the listed masters, and the unlisted x:1, random kinds (at
// most one leader) and the standbys random leaders to name. It reports
// whether the leader can be reached (listed, or named by a listed
// standby) and whether a listed master breaks calls.
func (m *model) deal(r *rand.Rand, listed []string) (reachable, broken bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	all := append(slices.Clone(listed), "x:1")
	leader := ""
	if r.IntN(4) > 0 {
		leader = all[r.IntN(len(all))]
	}
	names := append(slices.Clone(all), "", fmt.Sprintf("y%d:1", r.IntN(20)))
	m.kind, m.names = map[string]int{}, map[string]string{}
	for _, a := range all {
		k := []int{refuses, standby, standby, breaks}[r.IntN(4)]
		if k == breaks && r.IntN(3) > 0 {
			k = standby
		}
		if a == leader {
			k = answers
		}
		m.kind[a] = k
		m.names[a] = names[r.IntN(len(names))]
	}
	for _, a := range listed {
		reachable = reachable || a == leader || m.kind[a] == standby && leader != "" && m.names[a] == leader
		broken = broken || m.kind[a] == breaks
	}
	return reachable, broken
}

// TestFollowModel calls a Follow caller of 2 to 5 masters again and
// again, the masters' roles dealt anew before each call (seeded): some
// cannot be reached, some are standbys naming a leader (listed or not,
// reachable or not, or none), one may be the leader and some break calls
// mid-call. Each call must send the call to at most one master that
// takes it (the leader or one that breaks) and to none after; end on the
// leader when one can be reached and no listed master breaks calls
// (within two calls a master); fail at once, not sent, after a round in
// which no master could be reached; end by ctx, bounded, only when nothing
// answered; and start where the last call ended: on the master that
// answered, or after the one that broke, which Addr names.
func TestFollowModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			followModel(t, rand.New(rand.NewPCG(seed, 7)))
		})
	}
}

func followModel(t *testing.T, r *rand.Rand) {
	var listed []string
	for i := range 2 + r.IntN(4) {
		listed = append(listed, fmt.Sprintf("m%d:1", i))
	}
	m := &model{}
	f, err := Follow(listed, m.dial)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := listed[0]
	for call := range 120 {
		reachable, broken := m.deal(r, listed)
		m.mu.Lock()
		from := len(m.log)
		m.mu.Unlock()
		timeout := 5 * time.Second
		if !reachable {
			timeout = time.Duration(20+r.IntN(60)) * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		t0 := time.Now()
		var got string
		err := f.Call(ctx, "M", nil, &got)
		took := time.Since(t0)
		ended := ctx.Err() != nil
		cancel()

		m.mu.Lock()
		log := slices.Clone(m.log[from:])
		dialed := slices.Clone(m.dialed)
		kinds, names := maps.Clone(m.kind), maps.Clone(m.names)
		m.mu.Unlock()
		what := fmt.Sprintf("call %d (kinds %v, names %v): called %v, got %q, %v", call, kinds, names, log, got, err)
		last := log[len(log)-1]
		if log[0] != start {
			t.Fatalf("%s: started at %s, want %s", what, log[0], start)
		}
		for _, a := range log[:len(log)-1] {
			if k := kinds[a]; k == answers || k == breaks {
				t.Fatalf("%s: called %s, which took the call, and then called on", what, a)
			}
		}
		switch {
		case err == nil:
			if kinds[last] != answers || got != last {
				t.Fatalf("%s: succeeded, but not on the leader", what)
			}
			start = last
		case NotSent(err) && !ended:
			// A whole round in which no master could be reached, and
			// none answered as a standby: the call fails at once.
			if len(log) < len(dialed) {
				t.Fatalf("%s: not sent after %d calls among %d masters", what, len(log), len(dialed))
			}
			for _, a := range log[len(log)-len(dialed):] {
				if k, ok := kinds[a]; ok && k != refuses {
					t.Fatalf("%s: not sent, but %s of the last round could be reached", what, a)
				}
			}
		case ended:
			if reachable && !broken {
				t.Fatalf("%s: the leader was reachable and ctx ended first", what)
			}
			if took > timeout+1500*time.Millisecond {
				t.Fatalf("%s: took %v, ctx ended after %v", what, took, timeout)
			}
			if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("%s: want the last master's error", what)
			}
		default:
			if kinds[last] != breaks || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("%s: failed, but not on a master that broke the call", what)
			}
			start = dialed[(slices.Index(dialed, last)+1)%len(dialed)]
		}
		if now := f.(interface{ Addr() string }).Addr(); now != start {
			t.Fatalf("%s: Addr %s, want %s (where the next call starts)", what, now, start)
		}
		if reachable && !broken && len(log) > 2*len(dialed) {
			t.Fatalf("%s: %d calls to reach the leader among %d masters", what, len(log), len(dialed))
		}
	}
}

// TestFollowOne: one address gets that address's own Caller, and a list
// with an empty element is refused.
func TestFollowOne(t *testing.T) {
	c := NewClient("127.0.0.1:1")
	f, err := Follow([]string{"127.0.0.1:1"}, func(string) (Caller, error) { return c, nil })
	if err != nil || f != Caller(c) {
		t.Fatalf("Follow of one address: %v, %v; want its Caller", f, err)
	}
	for _, bad := range []string{"", "a:1,", "a:1, ,b:1", ",a:1"} {
		if _, err := Addrs(bad); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("Addrs(%q): %v; want an error naming the empty element", bad, err)
		}
		if _, err := NewMasterCaller(bad, TransportGob); err == nil {
			t.Errorf("NewMasterCaller(%q): no error", bad)
		}
	}
	if got, err := Addrs(" a:1 ,b:2,  http://c:3/RPC2"); err != nil || !slices.Equal(got, []string{"a:1", "b:2", "http://c:3/RPC2"}) {
		t.Errorf("Addrs: %q, %v", got, err)
	}
}

// TestNotSent: each client marks a call to an address where nothing
// listens as not sent, with the error it always had; a call answered, or
// broken after it was sent, is not marked.
func TestNotSent(t *testing.T) {
	dead := testnet.RefusedAddr(t)
	xc, err := NewXMLClient(dead)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Caller{"gob": NewClient(dead), "serial": NewSerialClient(dead), "xmlrpc": xc} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := MasterClient{C: c}.Status(ctx)
		cancel()
		if !NotSent(err) || !errors.Is(err, ErrUnavailable) || !strings.HasPrefix(err.Error(), "rpcapi: unavailable: ") {
			t.Errorf("%s to %s: %v; want a not-sent ErrUnavailable", name, dead, err)
		}
	}
}

// hangCaller takes a call and never answers it (a master stopped with
// SIGSTOP, or cut off): the call ends with its ctx.
type hangCaller struct{ addr string }

func (c hangCaller) Call(ctx context.Context, _ string, _, _ any) error {
	<-ctx.Done()
	return fmt.Errorf("%w: call to %s: %v", ErrUnavailable, c.addr, ctx.Err())
}

func (c hangCaller) Close() error { return nil }

// A call whose master never answers ends with its ctx; the next call goes
// to the next master instead of waiting on the silent one again.
func TestFollowMovesOnFromASilentMaster(t *testing.T) {
	m := &model{kind: map[string]int{"b:1": answers}}
	f, err := Follow([]string{"a:1", "b:1"}, func(addr string) (Caller, error) {
		if addr == "a:1" {
			return hangCaller{addr}, nil
		}
		return m.dial(addr)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	var got string
	err = f.Call(ctx, "m", nil, &got)
	cancel()
	if err == nil {
		t.Fatal("a call to a silent master answered")
	}
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := f.Call(ctx, "m", nil, &got)
		cancel()
		if err != nil || got != "b:1" {
			t.Fatalf("call %d after the silent one: %q %v, want b:1", i+2, got, err)
		}
	}
}

// A standby that still names a leader that went silent (stopped, cut
// off) does not lead the next calls back to it: they go round to the
// master that answers.
func TestFollowIgnoresANamedSilentLeader(t *testing.T) {
	m := &model{kind: map[string]int{"a:1": standby, "c:1": answers}, names: map[string]string{"a:1": "b:1"}}
	f, err := Follow([]string{"b:1", "a:1", "c:1"}, func(addr string) (Caller, error) {
		if addr == "b:1" {
			return hangCaller{addr}, nil
		}
		return m.dial(addr)
	})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if err := f.Call(ctx, "m", nil, &got); err == nil {
		t.Fatal("the silent master answered")
	}
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := f.Call(ctx, "m", nil, &got); err != nil || got != "c:1" {
		t.Fatalf("the call after the silent one: %q %v, want c:1 (a:1 names the silent b:1)", got, err)
	}
}
