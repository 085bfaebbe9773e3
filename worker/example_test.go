package worker_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/drover/drover/client"
	"github.com/drover/drover/internal/exampleenv"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/worker"
)

// A worker program: a handler per job type, Start, and Shutdown when the
// program is told to stop (here, once the jobs are done).
func Example() {
	m := exampleenv.Master() // a real worker is pointed at a master that runs elsewhere
	defer m.Close()

	w, err := worker.New(worker.Config{Master: m.Addr(), Name: "upper-1", Slots: 4, Logger: exampleenv.Quiet()})
	if err != nil {
		log.Fatal(err)
	}
	w.Handle("upper", func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		text, ok := j.Spec.Args["text"]
		if !ok {
			// Retrying cannot fix a missing arg: fail the job at once.
			return jobs.Result{}, worker.Permanent(errors.New("no text arg"))
		}
		return jobs.Result{Output: strings.ToUpper(text)}, nil
	})
	if err := w.Start(); err != nil {
		log.Fatal(err)
	}
	<-w.Registered()

	// Somewhere else, a program submits jobs of type "upper".
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(m.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ids, err := c.Submit(ctx,
		jobs.Spec{Type: "upper", Args: map[string]string{"text": "drover"}, Retries: 3},
		jobs.Spec{Type: "upper", Retries: 3})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Wait(ctx, ids...); err != nil {
		log.Fatal(err)
	}
	for _, id := range ids {
		info, err := c.Job(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		j := info.Job
		fmt.Printf("%s after %d attempt(s): %q %q\n", j.State, len(j.Attempts), j.Attempts[0].Output, j.Attempts[0].Error)
	}

	// Stop taking jobs, let running ones finish (up to 10 s), log out.
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := w.Shutdown(sctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// succeeded after 1 attempt(s): "DROVER" ""
	// failed after 1 attempt(s): "" "no text arg"
}
