// Package worker runs drover jobs on this machine for a master: Go
// handlers in goroutines, and subprocesses from named command templates.
//
// A program makes a Worker with New, registers a HandlerFunc per job type
// with Handle (Config.Commands adds command templates), and calls Start,
// which binds the worker's endpoint, registers with the master and beats
// in the background, registering again whenever the master restarts.
// Shutdown stops taking jobs, lets the running ones finish up to a grace
// period, sends the last results and logs out.
//
//	w, err := worker.New(worker.Config{Master: "127.0.0.1:7070", Slots: 8})
//	if err != nil {
//		log.Fatal(err)
//	}
//	w.Handle("greet", func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
//		return jobs.Result{Output: "hello, " + j.Spec.Args["name"]}, nil
//	})
//	if err := w.Start(); err != nil {
//		log.Fatal(err)
//	}
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	<-ctx.Done()
//	stop()
//	w.Shutdown(context.Background())
//
// A handler runs in its own goroutine and must return when its ctx ends
// (the job's timeout, a cancel, Shutdown). A returned error fails the
// attempt, and the master retries the job if it has retries left;
// Permanent(err) fails the job at once; a panic fails the attempt with the
// panic text and never takes the worker down.
//
// In push mode (the default) the master calls the worker's endpoint to
// hand it jobs; in pull mode (Config.Mode "pull") the worker has no
// endpoint and long-polls the master instead, for hosts that accept no
// connections. Either way the worker speaks gob or XML-RPC
// (Config.Transport) and carries the master's token (Config.Token).
//
// A worker fences itself: once no heartbeat has been answered for the
// master's dead_after it stops its running jobs, unreported, and takes
// none, so that a job never runs here and on another worker at once
// (Config.NoFence turns this off). On Linux a worker with command
// templates runs a watchdog, a second process of its own binary
// (internal/watchdog), that ends every process a command job started,
// setsid daemons included, when the job ends, is stopped or passes the
// fence deadline, and when the worker dies.
//
// Programs that only submit jobs and follow them use package client.
package worker
