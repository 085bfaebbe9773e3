package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/drover/drover/client"
	"github.com/drover/drover/internal/exampleenv"
	"github.com/drover/drover/jobs"
)

// A program submits a batch as a group, waits for the group, and reads the
// results back.
func Example() {
	addr, stop := exampleenv.Cluster()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c, err := client.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	var specs []jobs.Spec
	for _, name := range []string{"ada", "grace", ""} {
		specs = append(specs, jobs.Spec{Type: "greet", Args: map[string]string{"name": name}, Group: "hello"})
	}
	if _, err := c.Submit(ctx, specs...); err != nil {
		log.Fatal(err)
	}

	res, err := c.WaitGroup(ctx, "hello")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("done %v, %d succeeded, %d failed\n", res.Done, res.Counts[jobs.Succeeded], res.NumFailed())

	for j, err := range c.Jobs(ctx, client.Query{Group: "hello", Order: client.OldestFirst}) {
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

// Errors from the master match this package's sentinels with errors.Is.
func ExampleClient_Job() {
	addr, stop := exampleenv.Cluster()
	defer stop()
	ctx := context.Background()

	c, err := client.Dial(addr, client.WithTransport(client.XMLRPC), client.WithTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Job(ctx, "12345")
	fmt.Println(errors.Is(err, client.ErrNotFound))

	_, err = c.Submit(ctx, jobs.Spec{}) // no type
	fmt.Println(errors.Is(err, client.ErrBadRequest))
	// Output:
	// true
	// true
}

// Jobs follows the master's pages as the loop asks for more; JobsPage
// returns one page and the cursor of the next, for a UI.
func ExampleClient_JobsPage() {
	addr, stop := exampleenv.Cluster()
	defer stop()
	ctx := context.Background()

	c, err := client.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ids, err := c.Submit(ctx,
		jobs.Spec{Type: "greet", Args: map[string]string{"name": "a"}, Delay: time.Hour},
		jobs.Spec{Type: "greet", Args: map[string]string{"name": "b"}, Delay: time.Hour},
		jobs.Spec{Type: "greet", Args: map[string]string{"name": "c"}, Delay: time.Hour})
	if err != nil {
		log.Fatal(err)
	}

	q := client.Query{State: jobs.Pending, PageSize: 2}
	for {
		p, err := c.JobsPage(ctx, q)
		if err != nil {
			log.Fatal(err)
		}
		for _, j := range p.Jobs {
			fmt.Print(j.Spec.Args["name"], " ")
		}
		fmt.Println("| more:", p.Next != "")
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if _, err := c.Cancel(ctx, ids...); err != nil {
		log.Fatal(err)
	}
	// Output:
	// c b | more: true
	// a | more: false
}
