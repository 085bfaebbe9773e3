package master_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestEmbedAPI: the typed calls of a program that embeds a master, from
// README's Embedding section.
func TestEmbedAPI(t *testing.T) {
	m := startAPIMaster(t, master.Config{})
	startWorker(t, m.Addr(), "w", 4, map[string]worker.HandlerFunc{
		"greet": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{Output: "hello, " + j.Spec.Args["name"]}, nil
		},
		"fail": func(context.Context, *jobs.Job) (jobs.Result, error) {
			return jobs.Result{}, worker.Permanent(errors.New("no"))
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	ids, err := m.Submit(ctx, jobs.Spec{Type: "greet", Args: map[string]string{"name": "ada"}, Group: "g"},
		jobs.Spec{Type: "fail", Group: "g"}, jobs.Spec{Type: "greet", Group: "g"})
	if err != nil || len(ids) != 3 {
		t.Fatalf("Submit: %v %v", ids, err)
	}
	if _, err := m.Submit(ctx, jobs.Spec{}); !errors.Is(err, rpcapi.ErrBadRequest) {
		t.Fatalf("Submit of a spec without a type: %v, want bad request", err)
	}
	res, err := m.WaitGroup(ctx, "g")
	if err != nil || !res.Done || res.Counts[jobs.Succeeded] != 2 || !slices.Equal(res.Failed, ids[1:2]) {
		t.Fatalf("WaitGroup: %+v, %v", res, err)
	}
	if res, err := m.Wait(ctx, ids[0]); err != nil || !res.Done || res.Counts[jobs.Succeeded] != 1 {
		t.Fatalf("Wait: %+v, %v", res, err)
	}
	j, err := m.Job(ctx, ids[0])
	if err != nil || j.State != jobs.Succeeded || j.Attempts[0].Output != "hello, ada" {
		t.Fatalf("Job: %+v, %v", j, err)
	}
	if _, err := m.Job(ctx, "999"); !errors.Is(err, rpcapi.ErrNotFound) {
		t.Fatalf("Job of an unknown ID: %v, want not found", err)
	}
	var all []string
	for cursor := ""; ; {
		page, next, err := m.Jobs(ctx, master.JobQuery{Group: "g", Limit: 2, Oldest: true, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page {
			all = append(all, j.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if !slices.Equal(all, ids) {
		t.Fatalf("Jobs of group g, oldest first, two a page: %v, want %v", all, ids)
	}
	if page, _, err := m.Jobs(ctx, master.JobQuery{State: jobs.Failed}); err != nil || len(page) != 1 || page[0].ID != ids[1] {
		t.Fatalf("Jobs failed: %v, %v", page, err)
	}

	pend, err := m.Submit(ctx, jobs.Spec{Type: "nobody-runs-this"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Cancel(ctx, pend[0], ids[0], "999")
	if !slices.Equal(got, pend) || !errors.Is(err, rpcapi.ErrNotFound) || !errors.Is(err, master.ErrConflict) {
		t.Fatalf("Cancel of a pending, a finished and an unknown job: %v, %v", got, err)
	}
	if _, err := m.CancelGroup(ctx, "none"); !errors.Is(err, rpcapi.ErrNotFound) {
		t.Fatalf("CancelGroup of an unknown group: %v", err)
	}
	if got, err := m.CancelGroup(ctx, ""); !errors.Is(err, rpcapi.ErrBadRequest) {
		t.Fatalf("CancelGroup of the unnamed group: %v, %v, want bad request", got, err)
	}
	if got, err := client(t, m.Addr()).Cancel(ctx, &rpcapi.CancelArgs{}); !errors.Is(err, rpcapi.ErrBadRequest) {
		t.Fatalf("cancel_jobs with neither IDs nor group: %+v, %v, want bad request", got, err)
	}
	if c := m.Counts(); c[jobs.Succeeded] != 2 || c[jobs.Failed] != 1 || c[jobs.Cancelled] != 1 {
		t.Fatalf("Counts: %v", c)
	}
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	defer stop()
	blocked, _ := m.Submit(ctx, jobs.Spec{Type: "nobody-runs-this"})
	if res, err := m.Wait(short, blocked...); !errors.Is(err, context.DeadlineExceeded) || res.Done {
		t.Fatalf("Wait past its context: %+v, %v", res, err)
	}
}

// TestEmbedAfterClose: once Close is called, every typed call returns at
// once, within its context, an error that wraps rpcapi.ErrUnavailable, and
// changes nothing.
func TestEmbedAfterClose(t *testing.T) {
	m := startAPIMaster(t, master.Config{DataDir: t.TempDir()})
	w := startWorker(t, m.Addr(), "w", 1, map[string]worker.HandlerFunc{"echo": echo})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids, err := m.Submit(ctx, jobs.Spec{Type: "nobody-runs-this", Group: "g"}, jobs.Spec{Type: "nobody-runs-this"},
		jobs.Spec{Type: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Cancel(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Wait(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	before := m.Counts()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Submit", func(ctx context.Context) error { _, err := m.Submit(ctx, jobs.Spec{Type: "echo"}); return err }},
		{"Job", func(ctx context.Context) error { _, err := m.Job(ctx, ids[0]); return err }},
		{"Jobs", func(ctx context.Context) error { _, _, err := m.Jobs(ctx, master.JobQuery{}); return err }},
		{"Wait", func(ctx context.Context) error { _, err := m.Wait(ctx, ids[0]); return err }},
		{"WaitGroup", func(ctx context.Context) error { _, err := m.WaitGroup(ctx, "g"); return err }},
		{"Cancel", func(ctx context.Context) error { _, err := m.Cancel(ctx, ids[0]); return err }},
		{"CancelGroup", func(ctx context.Context) error { _, err := m.CancelGroup(ctx, "g"); return err }},
		{"Retry", func(ctx context.Context) error { return m.Retry(ctx, ids[1]) }},
		{"Drain", func(ctx context.Context) error { return m.Drain(ctx, w.ID()) }},
		{"Undrain", func(ctx context.Context) error { return m.Undrain(ctx, w.ID()) }},
		{"Purge", func(ctx context.Context) error {
			_, err := m.Purge(ctx, master.PurgeFilter{State: jobs.Succeeded})
			return err
		}},
		{"SubmitJobsFile", func(ctx context.Context) error {
			_, _, err := m.SubmitJobsFile(ctx, []jobs.Spec{{Type: "echo", Key: "k"}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			short, stop := context.WithTimeout(ctx, 2*time.Second)
			defer stop()
			done := make(chan error, 1)
			t0 := time.Now()
			go func() { done <- tc.call(short) }()
			select {
			case err := <-done:
				t.Logf("%s after Close: %v (after %v)", tc.name, err, time.Since(t0))
				if !errors.Is(err, rpcapi.ErrUnavailable) {
					t.Fatalf("%s after Close: %v, want unavailable", tc.name, err)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%s after Close: still blocked 20s later, its context ended after 2s", tc.name)
			}
		})
	}
	if after := m.Counts(); !maps.Equal(before, after) {
		t.Fatalf("counts changed after Close: %v, were %v", after, before)
	}
}
