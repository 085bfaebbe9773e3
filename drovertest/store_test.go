package drovertest_test

import (
	"context"
	"testing"

	"github.com/drover/drover/drovertest"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/worker"
)

// TestRestartKeepsSchedules: a schedule paused before RestartMaster is
// still paused after it, as on a master with its own store (the cluster's
// store keeps named records, not only jobs).
func TestRestartKeepsSchedules(t *testing.T) {
	c := drovertest.Start(t, drovertest.Options{Workers: 1, Handlers: map[string]worker.HandlerFunc{
		"noop": func(context.Context, *jobs.Job) (jobs.Result, error) { return jobs.Result{}, nil }}})
	c.Submit(jobs.Spec{Name: "tick", Schedule: "@every 1h", Type: "noop"})
	if _, err := c.Client().PauseSchedule(t.Context(), "tick"); err != nil {
		t.Fatal(err)
	}
	c.RestartMaster()
	r, err := c.Client().ListSchedules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Schedules) != 1 || r.Schedules[0].Name != "tick" || !r.Schedules[0].Paused {
		t.Fatalf("schedules after a restart: %+v, want tick paused", r.Schedules)
	}
}
