package master

import (
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
)

// committer writes jobs to the store in groups: every change made while a
// commit runs goes into the next one, so many changes share one fsync, and
// a job changed many times between two commits is copied and written once.
// Callers that must not answer before their change is durable wait on the
// batch their change went into.
type committer struct {
	store jobs.Store
	log   logrus.FieldLogger
	// snapshot returns copies of live jobs, taken under the lock that
	// guards them.
	snapshot func([]*jobs.Job) []*jobs.Job

	mu   sync.Mutex // guards cur
	cur  *batch
	kick chan struct{}
}

// batch is one group commit.
type batch struct {
	live  map[uint64]*jobs.Job // changed jobs, copied at commit time
	fresh map[uint64]*jobs.Job // copies of new jobs from a Submit
	owned map[uint64]*jobs.Job // copies from a failed commit, retried
	done  chan struct{}
	err   error // set before done is closed
}

func newBatch() *batch {
	return &batch{live: make(map[uint64]*jobs.Job), fresh: make(map[uint64]*jobs.Job),
		owned: make(map[uint64]*jobs.Job), done: make(chan struct{})}
}

// wait blocks until the batch is committed and returns its error.
func (b *batch) wait() error { <-b.done; return b.err }

func newCommitter(s jobs.Store, log logrus.FieldLogger, snapshot func([]*jobs.Job) []*jobs.Job) *committer {
	return &committer{store: s, log: log, snapshot: snapshot, cur: newBatch(), kick: make(chan struct{}, 1)}
}

// add marks the live job j as changed and returns the batch that will
// write it. The caller holds the lock that guards j (Master.mu).
func (c *committer) add(j *jobs.Job) *batch {
	c.mu.Lock()
	b := c.cur
	b.live[j.Seq] = j
	c.mu.Unlock()
	c.signal()
	return b
}

// addFresh queues copies of new jobs that nobody else can reach yet. If
// their commit fails they are dropped, not retried: the Submit that made
// them fails too, so they must never reach the disk later.
func (c *committer) addFresh(js []*jobs.Job) *batch {
	c.mu.Lock()
	b := c.cur
	for _, j := range js {
		b.fresh[j.Seq] = j.Clone()
	}
	c.mu.Unlock()
	c.signal()
	return b
}

func (c *committer) signal() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
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
			// Back off so a failing disk is not hammered; the failed copies
			// are retried with the next batch.
			retry = min(max(retry*2, 50*time.Millisecond), 2*time.Second)
			select {
			case <-time.After(retry):
			case <-stop:
				c.flush()
				return
			}
			c.signal()
		} else {
			retry = 0
		}
	}
}

// flush commits the current batch.
func (c *committer) flush() error {
	c.mu.Lock()
	b := c.cur
	if len(b.live) == 0 && len(b.fresh) == 0 && len(b.owned) == 0 {
		c.mu.Unlock()
		return nil
	}
	c.cur = newBatch()
	c.mu.Unlock()

	live := make([]*jobs.Job, 0, len(b.live))
	for seq, j := range b.live {
		live = append(live, j)
		delete(b.owned, seq) // the live copy is newer
	}
	retry := c.snapshot(live)
	for _, j := range b.owned {
		retry = append(retry, j)
	}
	list := retry
	for seq, j := range b.fresh {
		if _, ok := b.live[seq]; !ok {
			list = append(list, j)
		}
	}
	b.err = c.store.Save(list)
	if b.err != nil {
		c.log.WithError(b.err).WithField("jobs", len(list)).Error("store commit failed; will retry")
		// Keep the copies of acknowledged jobs for the next batch unless
		// that one has the job; new jobs are dropped with their Submit.
		c.mu.Lock()
		for _, j := range retry {
			_, newer := c.cur.live[j.Seq]
			if _, owned := c.cur.owned[j.Seq]; !newer && !owned {
				c.cur.owned[j.Seq] = j
			}
		}
		c.mu.Unlock()
	}
	close(b.done)
	return b.err
}
