package raftstore

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// TestRepeatingRaftLinesPassOnceAMinute drives the hclog logger raft is
// given: a dead peer's failed heartbeats, two a second for three minutes,
// come out as one line a minute, each after the first preceded by the
// count of those left out; another peer's lines and info lines pass.
func TestRepeatingRaftLinesPassOnceAMinute(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	now := time.Unix(1700000000, 0)
	r := newRepeats(log)
	r.now = func() time.Time { return now }
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: hclogWriter{log}, DisableTime: true, Exclude: r.exclude})
	for i := range 360 { // 3 minutes at 2 a second
		hl.Error("failed to heartbeat to", "peer", "127.0.0.1:7171", "backoff time", time.Duration(i)*time.Millisecond, "error", "connection refused")
		if i%60 == 0 {
			hl.Error("failed to heartbeat to", "peer", "127.0.0.1:7172", "error", "connection refused")
			hl.Info("entering follower state", "follower", i)
		}
		now = now.Add(500 * time.Millisecond)
	}
	var peer1, peer2, info, counts []string
	for _, e := range hook.AllEntries() {
		switch {
		case strings.Contains(e.Message, "was left out") && e.Data["left_out"] != nil:
			counts = append(counts, e.Message)
		case strings.Contains(e.Message, "127.0.0.1:7171"):
			peer1 = append(peer1, e.Message)
			if e.Level != logrus.ErrorLevel {
				t.Errorf("%q at %s, want error", e.Message, e.Level)
			}
		case strings.Contains(e.Message, "127.0.0.1:7172"):
			peer2 = append(peer2, e.Message)
		case strings.Contains(e.Message, "entering follower state"):
			info = append(info, e.Message)
		default:
			t.Errorf("unexpected line %q", e.Message)
		}
	}
	// Lines at 0 s, 60 s, 120 s pass for each peer (the second peer's
	// come every 30 s: 0, 60, 120 pass, 30, 90, 150 are left out).
	if len(peer1) != 3 || len(peer2) != 3 {
		t.Fatalf("dead peer: %d lines, other peer: %d lines; want 3 and 3:\n%s\n%s", len(peer1), len(peer2), strings.Join(peer1, "\n"), strings.Join(peer2, "\n"))
	}
	if len(info) != 6 {
		t.Fatalf("info lines: %d, want all 6", len(info))
	}
	want := []string{"left out 119 time(s) in the last 1m0s", "left out 1 time(s) in the last 1m0s", "left out 119 time(s) in the last 1m0s", "left out 1 time(s) in the last 1m0s"}
	if len(counts) != len(want) {
		t.Fatalf("count lines %q, want 4", counts)
	}
	for i, w := range want {
		if !strings.Contains(counts[i], w) {
			t.Errorf("count line %d: %q, want it to say %q", i, counts[i], w)
		}
	}
}
