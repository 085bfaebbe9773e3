package master_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/drover/drover/internal/exampleenv"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// A program runs a master, submits a group of jobs through the typed calls,
// waits for the group and reads the results. The worker here runs in the
// same process; usually workers run elsewhere and dial m.Addr().
func Example() {
	m := exampleenv.Master()
	defer m.Close()

	w, err := worker.New(worker.Config{Master: m.Addr(), Name: "w1", Logger: exampleenv.Quiet()})
	if err != nil {
		log.Fatal(err)
	}
	w.Handle("greet", exampleenv.Greet) // "hello, NAME", or a permanent failure without a name
	if err := w.Start(); err != nil {
		log.Fatal(err)
	}
	defer w.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var specs []jobs.Spec
	for _, name := range []string{"ada", "grace", ""} {
		specs = append(specs, jobs.Spec{Type: "greet", Args: map[string]string{"name": name}, Group: "hello"})
	}
	ids, err := m.Submit(ctx, specs...)
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.WaitGroup(ctx, "hello")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("done %v, %d succeeded, %d failed\n", res.Done, res.Counts[jobs.Succeeded], len(res.Failed))
	for _, id := range ids {
		j, err := m.Job(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		a := j.Attempts[len(j.Attempts)-1]
		fmt.Printf("%-9s %q %q\n", j.State, a.Output, a.Error)
	}
	// Output:
	// done true, 2 succeeded, 1 failed
	// succeeded "hello, ada" ""
	// succeeded "hello, grace" ""
	// failed    "" "no name"
}

// Jobs returns one page and the cursor of the next; "" after the last.
func ExampleMaster_Jobs() {
	m := exampleenv.Master()
	defer m.Close()
	ctx := context.Background()

	var specs []jobs.Spec
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		// Delayed an hour, so that they stay pending.
		specs = append(specs, jobs.Spec{Type: "greet", Args: map[string]string{"name": name}, Group: "batch", Delay: time.Hour})
	}
	if _, err := m.Submit(ctx, specs...); err != nil {
		log.Fatal(err)
	}

	q := master.JobQuery{Group: "batch", Oldest: true, Limit: 2}
	for {
		page, next, err := m.Jobs(ctx, q)
		if err != nil {
			log.Fatal(err)
		}
		for _, j := range page {
			fmt.Print(j.Spec.Args["name"], " ")
		}
		fmt.Println("| more:", next != "")
		if next == "" {
			break
		}
		q.Cursor = next
	}
	// Output:
	// a b | more: true
	// c d | more: true
	// e | more: false
}

// Cancel returns the jobs it cancelled; its error lists the others, and
// matches rpcapi.ErrNotFound for an unknown ID.
func ExampleMaster_Cancel() {
	m := exampleenv.Master()
	defer m.Close()
	ctx := context.Background()

	ids, err := m.Submit(ctx, jobs.Spec{Type: "greet", Delay: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	cancelled, err := m.Cancel(ctx, ids...)
	if err != nil {
		log.Fatal(err)
	}
	j, err := m.Job(ctx, ids[0])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(cancelled), j.State)

	_, err = m.Cancel(ctx, "12345")
	fmt.Println(errors.Is(err, rpcapi.ErrNotFound))
	// Output:
	// 1 cancelled
	// true
}
