package main

import (
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
)

// TestScheduleNotFoundCLI: every drover schedule action on an unknown
// schedule exits 5 and says on stderr that there is no such schedule
// (run and delete go through the JSON API, pause and resume over RPC).
func TestScheduleNotFoundCLI(t *testing.T) {
	c := startCluster(t, 0, cliCommands)
	for _, op := range []string{"pause", "resume", "run", "delete"} {
		r := testproc.Options{Env: []string{"DROVER_MASTER=" + c.Addr}, Timeout: 30 * time.Second}.
			Run(t, testproc.Drover(t), "schedule", op, "nope")
		if r.Code != exitNotFound || !strings.Contains(r.Stderr, `no schedule "nope"`) {
			t.Errorf("drover schedule %s nope: exit %d, stderr %q; want exit 5 saying no schedule \"nope\"", op, r.Code, r.Stderr)
		}
		t.Logf("drover schedule %s nope: %s", op, strings.TrimSpace(r.Stderr))
	}
}
