package master

import (
	"fmt"
	"runtime"

	"github.com/drover/drover/rpcapi"
)

// Walks of the store (listings of history) run at most half as many at
// once as the Go runtime has processors, at least one: the rest of the
// machine stays for heartbeats, reports and dispatch, whatever the readers
// ask. A walk waits its turn.

// storedChunk is how many records a walk decodes between two takes of mu.
const storedChunk = 64

func newReadGate() chan struct{} {
	return make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
}

// gateReads waits for a walk's turn; ungateReads ends it.
func (c *core) gateReads() error {
	select {
	case c.readGate <- struct{}{}:
		return nil
	case <-c.ctx.Done():
		return fmt.Errorf("%w: the master is stopping", rpcapi.ErrUnavailable)
	}
}

func (c *core) ungateReads() { <-c.readGate }
