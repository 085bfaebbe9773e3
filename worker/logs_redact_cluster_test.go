package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestHeartbeatFailureHidesCredentials: a worker whose master address
// carries a user name and password registers through it, and once the
// master is gone its "heartbeat failed" line names the master without
// them, as its "worker started" line does.
func TestHeartbeatFailureHidesCredentials(t *testing.T) {
	var out testproc.Buffer
	log := logrus.New()
	log.SetOutput(&out)
	var master string
	c := drovertest.Start(t, drovertest.Options{Transport: rpcapi.TransportXMLRPC,
		Handlers: map[string]worker.HandlerFunc{"noop": func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{}, nil }},
		ConfigureWorker: func(_ int, cfg *worker.Config) {
			master = cfg.Master
			cfg.Master = "http://drover:secret123@" + cfg.Master // the same proxy, with credentials
			cfg.Logger = log
		}})
	c.StopMaster()
	drovertest.Eventually(t, 10*time.Second, "a failed heartbeat logged", func() bool {
		return strings.Contains(out.String(), "heartbeat failed")
	})
	text := out.String()
	t.Log(text)
	if !strings.Contains(text, `master="http://`+master+`"`) {
		t.Errorf("the worker started line does not name the master as http://%s", master)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "heartbeat failed") && !strings.Contains(line, master) {
			t.Errorf("the heartbeat failed line does not name the master %s: %s", master, line)
		}
	}
	for _, secret := range []string{"secret123", "drover:", "drover@", "***"} {
		if strings.Contains(text, secret) {
			t.Errorf("the worker's log holds %q", secret)
		}
	}
}
