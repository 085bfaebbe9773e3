// Package exampleenv starts what the godoc examples of master, worker and
// client run against: a master with a memory store on a free loopback
// port and, for client's, a worker, all with their logs discarded. A real
// program sets Listen and DataDir and dials a master that runs elsewhere.
// Errors end the example program (log.Fatal), as an example has no test
// to fail.
package exampleenv

import (
	"context"
	"errors"
	"io"
	"log"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// Quiet returns a logger that writes nowhere.
func Quiet() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// Master starts a master with a memory store on a free loopback port.
func Master() *master.Master {
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", Store: master.StoreMemory, Logger: Quiet()})
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Start(); err != nil {
		log.Fatal(err)
	}
	return m
}

// Greet is the examples' handler of "greet" jobs: it answers "hello, NAME"
// (arg name), or fails for good without a name.
func Greet(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	if j.Spec.Args["name"] == "" {
		return jobs.Result{}, worker.Permanent(errors.New("no name"))
	}
	return jobs.Result{Output: "hello, " + j.Spec.Args["name"]}, nil
}

// Cluster starts a Master and one worker, w1, that runs Greet. It returns
// the master's address once the worker has registered, and a function
// that stops both.
func Cluster() (addr string, stop func()) {
	m := Master()
	w, err := worker.New(worker.Config{Master: m.Addr(), Name: "w1", Logger: Quiet()})
	if err != nil {
		log.Fatal(err)
	}
	w.Handle("greet", Greet)
	if err := w.Start(); err != nil {
		log.Fatal(err)
	}
	<-w.Registered()
	return m.Addr(), func() {
		w.Shutdown(context.Background())
		m.Close()
	}
}
