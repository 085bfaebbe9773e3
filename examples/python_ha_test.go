package examples_test

import (
	"bufio"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestPythonFollowBrokenCall runs the Masters class of docs/protocol.md
// with a list whose first master reads the call, then dies without
// answering (it closes the connection, and refuses connections from then
// on), and a live leader. The call may have happened, so the class must
// not send it again anywhere (xmlrpc.client alone would send it once more,
// be refused, and the class would go on to the leader): it raises, and the
// leader has no job.
func TestPythonFollowBrokenCall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python processes")
	}
	py := pyNeedPython(t)
	code := pyDocBlock(t, filepath.Join("..", "docs", "protocol.md"), "## Several masters: following the leader")
	script := pyWriteFile(t, t.TempDir(), "follow.py", code+pyFollowDriver)
	m := followLeader(t)
	ln := testnet.Listen(t)
	read := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			read <- err
			return
		}
		defer conn.Close()
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if err == nil {
			_, err = io.Copy(io.Discard, req.Body)
		}
		read <- err
	}()
	dying := "http://" + ln.Addr().String() + "/RPC2"
	r := testproc.Options{Timeout: 30 * time.Second}.Run(t, py, script, dying, "http://"+m.Addr()+"/RPC2")
	if err := <-read; err != nil {
		t.Fatalf("the dying master read no call: %v", err)
	}
	if r.Code == 0 || !strings.Contains(r.Stderr, "RemoteDisconnected") {
		t.Errorf("follow.py: exit %d, want an error for the broken call (RemoteDisconnected)\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	mc := rpcapi.MasterClient{C: rpcapi.NewClient(m.Addr())}
	defer mc.C.Close()
	if c := testproc.Counts(mc); c == nil || c[jobs.Pending] != 0 {
		t.Errorf("the leader's jobs by state: %v; want none (the call was sent once, to the master that died)", c)
	}
}
