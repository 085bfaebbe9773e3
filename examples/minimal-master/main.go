// Command minimal-master shows the smallest embedding of a drover master: a
// master.Config built in code (no conf files), started, and closed on
// SIGINT or SIGTERM.
//
// Run it, then point a worker at it (see ../go-worker):
//
//	go run ./examples/minimal-master -listen 127.0.0.1:7070 -data-dir ./drover-data
package main

import (
	"context"
	"flag"
	"log"
	"os/signal"
	"syscall"

	"github.com/drover/drover/master"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7070", "listen `addr` (port 0 picks a free port)")
	dataDir := flag.String("data-dir", "./drover-data", "`dir` of the bbolt store")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, master.Config{Listen: *listen, DataDir: *dataDir}); err != nil {
		log.Fatal(err)
	}
}

// run starts a master from cfg and closes it when ctx ends.
func run(ctx context.Context, cfg master.Config) error {
	m, err := master.New(cfg)
	if err != nil {
		return err
	}
	if err := m.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return m.Close()
}
