package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/worker"
)

// standby is a standby master served on 127.0.0.1:0 over both transports
// (rpcapi.Standby), naming leader; calls counts the calls it answered.
type standby struct {
	addr   string
	leader atomic.Value // string
	calls  atomic.Int64
}

func startStandby(t *testing.T, leader string) *standby {
	t.Helper()
	s := &standby{}
	s.leader.Store(leader)
	s.addr = drovertest.ServeStandby(t, func() string {
		s.calls.Add(1)
		return s.leader.Load().(string)
	})
	return s
}

// TestFollowLeader: a Client given a standby and the leader, in either
// order, or a master that refuses connections and a standby naming a
// leader it was not given, submits, waits and reads the job on the
// leader, over both transports; the standby answered at most one call
// (the first, when it comes first) since the Client keeps to the master
// that answered.
func TestFollowLeader(t *testing.T) {
	for _, tr := range []Transport{Gob, XMLRPC} {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			m := startWithWorker(t, tr, map[string]worker.HandlerFunc{"echo": echo})
			for _, tc := range []struct {
				name string
				list func(s *standby) string
				// calls is how many calls the standby answers: the first
				// call's, when it is called first.
				calls int64
			}{
				{"standby,leader", func(s *standby) string { return s.addr + "," + m.Addr() }, 1},
				{"leader,standby", func(s *standby) string { return m.Addr() + " , " + s.addr }, 0},
				{"dead,standby", func(s *standby) string { return testnet.RefusedAddr(t) + "," + s.addr }, 1},
			} {
				s := startStandby(t, m.Addr())
				c, err := Dial(tc.list(s), WithTransport(tr))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				ids, err := c.Submit(ctx, jobs.Spec{Type: "echo", Args: map[string]string{"msg": tc.name}})
				if err != nil {
					t.Fatalf("%s: submit: %v", tc.name, err)
				}
				if res, err := c.Wait(ctx, ids...); err != nil || !res.OK() {
					t.Fatalf("%s: wait: %+v, %v", tc.name, res, err)
				}
				j, err := c.Job(ctx, ids[0])
				if err != nil || j.Job.State != jobs.Succeeded {
					t.Fatalf("%s: get_job: %+v, %v; want succeeded", tc.name, j.Job, err)
				}
				if got, err := m.Client().GetJob(ctx, ids[0]); err != nil || got.Job.ID != ids[0] {
					t.Errorf("%s: the leader has no job %s: %v", tc.name, ids[0], err)
				}
				if n := s.calls.Load(); n != tc.calls {
					t.Errorf("%s: the standby answered %d calls, want %d", tc.name, n, tc.calls)
				}
			}
		})
	}
}

// TestFollowNoLeader: when every master that answers is a standby that
// knows no leader, a call keeps trying until its context ends, then
// returns an error that matches ErrNotLeader and the context's error; it
// ends within the pause's cap of the deadline.
func TestFollowNoLeader(t *testing.T) {
	for _, tr := range []Transport{Gob, XMLRPC} {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			s := startStandby(t, "")
			c, err := Dial(s.addr+","+testnet.RefusedAddr(t), WithTransport(tr))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const timeout = 600 * time.Millisecond
			t0 := time.Now() // before the ctx: its deadline is not before t0 + timeout
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			_, err = c.Submit(ctx, jobs.Spec{Type: "echo"})
			took := time.Since(t0)
			if !errors.Is(err, ErrNotLeader) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("submit to standbys only: %v; want ErrNotLeader and the deadline", err)
			}
			if took < timeout || took > timeout+2*time.Second {
				t.Errorf("submit to standbys only took %v; want the ctx's %v, plus at most a pause", took, timeout)
			}
			if n := s.calls.Load(); n < 3 {
				t.Errorf("the standby answered %d calls in %v; want it called again and again", n, timeout)
			}
		})
	}
}

// TestFollowBadList: a list with an empty element is refused by Dial.
func TestFollowBadList(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:7070,", "127.0.0.1:7070,,127.0.0.1:7080", " , 127.0.0.1:7070"} {
		if c, err := Dial(addr); err == nil {
			c.Close()
			t.Errorf("Dial(%q) succeeded; want an error naming the empty element", addr)
		}
	}
}
