package main

import (
	"strings"
	"testing"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/internal/testproc"
)

// TestCLIFollowsLeader: the client commands given a list of masters in
// $DROVER_MASTER or --master (a standby first, or a master that refuses
// connections and a standby naming a leader it was not given) reach the
// leader: submit, wait, job, and logs (the JSON API, on the leader).
// A list with an empty element is a usage error (exit 2) saying so.
func TestCLIFollowsLeader(t *testing.T) {
	c := startCluster(t, 1, cliCommands)
	sb := drovertest.ServeStandby(t, func() string { return c.Addr })
	dead := testnet.RefusedAddr(t)

	// $DROVER_MASTER: the standby, then the leader.
	list := sb + "," + c.Addr
	r := runDrover(t, list, "submit", "--type", "echo", "--arg", "text=followed")
	id := strings.TrimSpace(r.Stdout)
	if r.Code != 0 || id == "" {
		t.Fatalf("submit through %s: exit %d, stdout %q, stderr %s", list, r.Code, r.Stdout, r.Stderr)
	}
	if r := runDrover(t, list, "wait", id); r.Code != 0 {
		t.Fatalf("wait through %s: exit %d: %s", list, r.Code, r.Stderr)
	}
	// --master: nothing there, then the standby, which names the leader.
	flag := dead + ", " + sb
	for _, args := range [][]string{{"job", id}, {"logs", id, "--stream", "stdout"}} {
		r := testproc.Run(t, testproc.Drover(t), append(args, "--master", flag)...)
		if r.Code != 0 || !strings.Contains(r.Stdout, "followed") {
			t.Errorf("drover %s --master %q: exit %d, stdout %q, stderr %s; want the job's output", args[0], flag, r.Code, r.Stdout, r.Stderr)
		}
	}

	for _, bad := range []string{c.Addr + ",", c.Addr + ", ," + sb} {
		r := runDrover(t, bad, "status")
		if r.Code != 2 || !strings.Contains(r.Stderr, "empty") {
			t.Errorf("status with DROVER_MASTER=%q: exit %d, stderr %q; want exit 2 naming the empty element", bad, r.Code, r.Stderr)
		}
	}
}
