package master

import (
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
)

// committer writes job snapshots to the store in groups: every snapshot
// added while a commit runs goes into the next one, so many changes share
// one fsync. Callers that must not answer before their change is durable
// wait on the batch their change went into.
type committer struct {
	store jobs.Store
	log   logrus.FieldLogger

	mu   sync.Mutex // guards cur
	cur  *batch
	kick chan struct{}
}

// batch is one group commit.
type batch struct {
	jobs map[uint64]*jobs.Job
	done chan struct{}
	err  error // set before done is closed
}

func newBatch() *batch { return &batch{jobs: make(map[uint64]*jobs.Job), done: make(chan struct{})} }

// wait blocks until the batch is committed and returns its error.
func (b *batch) wait() error { <-b.done; return b.err }

func newCommitter(s jobs.Store, log logrus.FieldLogger) *committer {
	return &committer{store: s, log: log, cur: newBatch(), kick: make(chan struct{}, 1)}
}

// add queues a snapshot of j (a clone is taken now) and returns the batch it
// went into. Snapshots of one job must be added in the order of its changes;
// the master does so under its lock.
func (c *committer) add(j *jobs.Job) *batch {
	snap := j.Clone()
	c.mu.Lock()
	b := c.cur
	b.jobs[snap.Seq] = snap
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return b
}

// addOwned queues jobs that nobody else can reach yet, without cloning.
func (c *committer) addOwned(js []*jobs.Job) *batch {
	c.mu.Lock()
	b := c.cur
	for _, j := range js {
		b.jobs[j.Seq] = j.Clone()
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return b
}

// run commits batches until stop is closed, then commits what is left.
func (c *committer) run(stop <-chan struct{}) {
	retry := time.Duration(0)
	for {
		select {
		case <-c.kick:
		case <-stop:
			c.flush()
			return
		}
		if err := c.flush(); err != nil {
			// Back off so a failing disk is not hammered; the failed snapshots
			// are retried with the next batch.
			retry = min(max(retry*2, 50*time.Millisecond), 2*time.Second)
			select {
			case <-time.After(retry):
			case <-stop:
				c.flush()
				return
			}
			select {
			case c.kick <- struct{}{}:
			default:
			}
		} else {
			retry = 0
		}
	}
}

// flush commits the current batch.
func (c *committer) flush() error {
	c.mu.Lock()
	b := c.cur
	if len(b.jobs) == 0 {
		c.mu.Unlock()
		return nil
	}
	c.cur = newBatch()
	c.mu.Unlock()

	list := make([]*jobs.Job, 0, len(b.jobs))
	for _, j := range b.jobs {
		list = append(list, j)
	}
	b.err = c.store.Save(list)
	if b.err != nil {
		c.log.WithError(b.err).WithField("jobs", len(list)).Error("store commit failed; will retry")
		// Put the snapshots back unless a newer one of the same job is queued.
		c.mu.Lock()
		for seq, j := range b.jobs {
			if _, newer := c.cur.jobs[seq]; !newer {
				c.cur.jobs[seq] = j
			}
		}
		c.mu.Unlock()
	}
	close(b.done)
	return b.err
}
