package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/client"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// startCluster starts a master with a memory store on a free loopback port
// and one worker with a "greet" handler, and returns the master's address
// and a function that stops both. A real program dials a master that runs
// elsewhere.
func startCluster() (addr string, stop func()) {
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", Store: master.StoreMemory, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Start(); err != nil {
		log.Fatal(err)
	}
	w, err := worker.New(worker.Config{Master: m.Addr(), Name: "w1", Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	w.Handle("greet", func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
		if j.Spec.Args["name"] == "" {
			return jobs.Result{}, worker.Permanent(errors.New("no name"))
		}
		return jobs.Result{Output: "hello, " + j.Spec.Args["name"]}, nil
	})
	if err := w.Start(); err != nil {
		log.Fatal(err)
	}
	<-w.Registered()
	return m.Addr(), func() {
		w.Shutdown(context.Background())
		m.Close()
	}
}

// A program submits a batch as a group, waits for the group, and reads the
// results back.
func Example() {
	addr, stop := startCluster()
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
	addr, stop := startCluster()
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
	addr, stop := startCluster()
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
