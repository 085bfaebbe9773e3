// Command go-worker shows a worker that runs jobs with a Go handler: type
// "greet" answers "hello, NAME" for args {name = "NAME"} and fails at once
// (no retries) when the name is missing. SIGINT or SIGTERM drains it: running
// jobs get up to 30s to finish before it logs out.
//
// Start a master (../minimal-master), then:
//
//	go run ./examples/go-worker -master 127.0.0.1:7070 -slots 4
//	go run ./cmd/drover submit --type greet --arg name=world
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"os/signal"
	"syscall"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/worker"
)

func main() {
	masterAddr := flag.String("master", "127.0.0.1:7070", "master `addr`")
	slots := flag.Int("slots", 4, "jobs run at once")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second signal kills at once
	if err := run(ctx, worker.Config{Master: *masterAddr, Slots: *slots}); err != nil {
		log.Fatal(err)
	}
}

// run serves greet jobs until ctx ends, then drains for up to 30s.
func run(ctx context.Context, cfg worker.Config) error {
	w, err := worker.New(cfg)
	if err != nil {
		return err
	}
	w.Handle("greet", greet)
	if err := w.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.Shutdown(sctx)
}

// greet answers "hello, NAME"; a job without a name can never succeed.
func greet(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	name, ok := j.Spec.Args["name"]
	if !ok {
		return jobs.Result{}, worker.Permanent(errors.New("greet: missing arg \"name\""))
	}
	return jobs.Result{Output: "hello, " + name}, nil
}
