package master_test

import (
	"context"
	"errors"
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
