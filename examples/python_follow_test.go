package examples_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
)

// TestPythonFollow runs the Masters class of docs/protocol.md ("Several
// masters: following the leader"), Python's standard library only, with a
// list of masters: a standby (an in-process rpcapi.Standby) and a real
// master, the leader. It submits a job and reads it back through the
// list, and must end on the leader, which holds the job: from a standby
// naming the leader, from a standby that knows no leader (the next URL),
// past a master that refuses connections, and from a standby naming a
// leader that is not in the list.
func TestPythonFollow(t *testing.T) {
	py, script := followScript(t)

	m := followLeader(t)
	leader := "http://" + m.Addr() + "/RPC2"
	named := "http://" + drovertest.ServeStandby(t, m.Addr) + "/RPC2"
	unknowing := "http://" + drovertest.ServeStandby(t, func() string { return "" }) + "/RPC2"
	dead := "http://" + testnet.RefusedAddr(t) + "/RPC2"
	mc := rpcapi.MasterClient{C: rpcapi.NewClient(m.Addr())}
	defer mc.C.Close()
	for _, urls := range [][]string{{named, leader}, {unknowing, leader}, {dead, unknowing, leader}, {named}} {
		r := testproc.Options{Timeout: 30 * time.Second}.Run(t, py, append([]string{script}, urls...)...)
		if r.Code != 0 {
			t.Fatalf("follow.py %v: exit %d\nstdout:\n%s\nstderr:\n%s", urls, r.Code, r.Stdout, r.Stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
		if len(lines) != 2 || lines[0] != "submitted 1 on "+leader {
			t.Fatalf("follow.py %v printed %q; want the submit on %s", urls, r.Stdout, leader)
		}
		f := strings.Fields(lines[1])
		if len(f) != 5 || f[0] != "job" || f[2] != "pending" || f[4] != leader {
			t.Fatalf("follow.py %v printed %q; want the job pending on %s", urls, lines[1], leader)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		j, err := mc.GetJob(ctx, f[1])
		cancel()
		if err != nil || j.Job.Spec.Type != "py.follow" {
			t.Errorf("the leader's job %s: %+v, %v; want the one submitted", f[1], j.Job, err)
		}
	}
}

// pyFollowDriver follows the doc's Masters class: python3 follow.py
// URL... submits one job and reads it back, printing where each call
// ended.
const pyFollowDriver = `

import sys
m = Masters(sys.argv[1:])
ids = m.call("submit_jobs", {"specs": [{"type": "py.follow"}]})["ids"]
print("submitted", len(ids), "on", m.urls[m.i])
job = m.call("get_job", {"id": ids[0]})["job"]
print("job", job["id"], job["state"], "on", m.urls[m.i])
`

// followLeader starts a master with an in-memory store on 127.0.0.1:0,
// closed at the test's end.
func followLeader(t *testing.T) *master.Master {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", Store: master.StoreMemory, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// followScript writes docs/protocol.md's class that follows the leader,
// with pyFollowDriver after it, to a file, and returns python3 and it.
func followScript(t *testing.T) (py, script string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs Python processes")
	}
	py = pyNeedPython(t)
	code := pyDocBlock(t, filepath.Join("..", "docs", "protocol.md"), "## Several masters: following the leader")
	return py, pyWriteFile(t, t.TempDir(), "follow.py", code+pyFollowDriver)
}
