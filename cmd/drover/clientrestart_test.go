package main

import (
	"context"
	"testing"
	"time"

	"github.com/drover/drover/client"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
)

// TestClientCallAfterMasterRestart checks the README's "a call after a
// master restart connects again" from a client program's side: a client
// that submitted a job to a real master process, which is then killed
// (SIGKILL) and started again on the same address and data dir, gets an
// answer to its very next call, and the job is there.
func TestClientCallAfterMasterRestart(t *testing.T) {
	for _, tr := range []client.Transport{client.Gob, client.XMLRPC} {
		t.Run(string(tr), func(t *testing.T) {
			c := testproc.StartCluster(t, testproc.ClusterConfig{})
			cl, err := client.Dial(c.Addr, client.WithTransport(tr))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			ids, err := cl.Submit(ctx, jobs.Spec{Type: "no-worker-runs-this"})
			if err != nil {
				t.Fatal(err)
			}
			c.RestartMaster() // waits through the cluster's own client
			j, err := cl.Job(ctx, ids[0])
			if err != nil {
				t.Fatalf("first call after the restart: %v", err)
			}
			if j.Job.ID != ids[0] || j.Job.State != jobs.Pending {
				t.Fatalf("job after the restart = %s %s, want %s pending", j.Job.ID, j.Job.State, ids[0])
			}
		})
	}
}
