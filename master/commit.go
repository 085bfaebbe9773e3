package master

import (
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
)

// committer writes jobs to the store in groups: every change made while a
// commit runs goes into the next one, so many changes share one fsync, and
// a job changed many times between two commits is encoded and written
// once. Callers that must not answer before their change is durable wait on
// the batch their change went into.
type committer struct {
	store jobs.Store
	log   logrus.FieldLogger
	// encode appends the records of live jobs to recs, encoding them into
	// buf, under the lock that guards the jobs.
	encode func(live []*jobs.Job, buf []byte, recs []jobs.Record) ([]jobs.Record, []byte)

	mu   sync.Mutex // guards cur
	cur  *batch
	kick chan struct{}

	// Owned by the run goroutine, reused from one commit to the next.
	live []*jobs.Job
	recs []jobs.Record
	buf  []byte
}

// maxKeptBuffer bounds the encoding buffer kept from one commit to the
// next; a bigger one (after a burst) is left to the garbage collector.
const maxKeptBuffer = 16 << 20

// batch is one group commit.
type batch struct {
	live  map[uint64]*jobs.Job   // changed jobs, encoded at commit time
	fresh []jobs.Record          // records of new jobs from Submits
	owned map[uint64]jobs.Record // records from a failed commit, retried
	done  chan struct{}
	err   error // set before done is closed
}

func newBatch() *batch {
	return &batch{live: make(map[uint64]*jobs.Job), owned: make(map[uint64]jobs.Record), done: make(chan struct{})}
}

// wait blocks until the batch is committed and returns its error.
func (b *batch) wait() error { <-b.done; return b.err }

func newCommitter(s jobs.Store, log logrus.FieldLogger,
	encode func([]*jobs.Job, []byte, []jobs.Record) ([]jobs.Record, []byte)) *committer {
	return &committer{store: s, log: log, encode: encode, cur: newBatch(), kick: make(chan struct{}, 1)}
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

// addFresh queues the records of new jobs that nobody else can reach yet.
// If their commit fails they are dropped, not retried: the Submit that made
// them fails too, so they must never reach the disk later.
func (c *committer) addFresh(recs []jobs.Record) *batch {
	c.mu.Lock()
	b := c.cur
	b.fresh = append(b.fresh, recs...)
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
			// Back off so a failing disk is not hammered; the failed
			// records are retried with the next batch.
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

	live := c.live[:0]
	for seq, j := range b.live {
		live = append(live, j)
		delete(b.owned, seq) // the live record is newer
	}
	recs, buf := c.encode(live, c.buf[:0], c.recs[:0])
	clear(live)
	c.live = live[:0]
	if cap(buf) <= maxKeptBuffer {
		c.buf = buf
	} else {
		c.buf = nil
	}
	retry := len(recs)
	for _, r := range b.owned {
		recs = append(recs, r)
	}
	for _, r := range b.fresh {
		if _, ok := b.live[r.Seq]; !ok {
			recs = append(recs, r)
		}
	}
	b.err = c.store.Save(recs)
	if b.err != nil {
		c.log.WithError(b.err).WithField("jobs", len(recs)).Error("store commit failed; will retry")
		// Keep the records of acknowledged jobs for the next batch unless
		// that one has the job; new jobs are dropped with their Submit.
		// The live records are copied out of the reused buffer.
		c.mu.Lock()
		for i, r := range recs[:retry+len(b.owned)] {
			_, newer := c.cur.live[r.Seq]
			if _, owned := c.cur.owned[r.Seq]; !newer && !owned {
				if i < retry {
					r.Data = slices.Clone(r.Data)
				}
				c.cur.owned[r.Seq] = r
			}
		}
		c.mu.Unlock()
	}
	clear(recs)
	c.recs = recs[:0]
	close(b.done)
	return b.err
}
