package master

import (
	"errors"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
)

// committer writes jobs to the store in groups: every change made while a
// commit runs goes into the next one, so many changes share one fsync, and
// a job changed many times between two commits is written once. A change
// is encoded when it is made, under the master's lock, so the commit
// itself never takes that lock. Callers that must not answer before their
// change is durable wait on the batch their change went into.
type committer struct {
	store jobs.Store
	log   logrus.FieldLogger

	mu       sync.Mutex // guards cur, flushing, seq, durable, down and the spares
	cur      *batch
	flushing *batch // being written; nil between commits
	seq      int64  // the last batch's number: batches are numbered from 1 as they are made
	// durable is the number of the last batch committed: every record
	// added to it or to a batch before it is on disk (a failed batch's
	// records are carried to a later one, so durable never passes them).
	durable int64
	// The buffers of a committed batch, for the next one to reuse.
	spareBuf  []byte
	spareRecs []jobs.Record
	kick      chan struct{}
	// flushMu is held by whoever writes a batch: the committer's loop, or
	// a waiter that found it idle (batch.wait). Batches are written one at
	// a time, in order.
	flushMu sync.Mutex
	// down is set by the loop's last commit: no waiter writes after it
	// (the store is closed next).
	down bool
	// stopped is closed when run has returned, after its last commit: a
	// batch not done by then never will be.
	stopped chan struct{}
}

// batch is one group commit.
type batch struct {
	seq   int64          // its number (committer.seq)
	buf   []byte         // the encoded records, back to back
	recs  []jobs.Record  // into buf, or owned copies
	index map[uint64]int // Seq → its record in recs
	// fresh counts the records of new jobs from Submits: if their commit
	// fails they are dropped, not retried, since the Submit fails too.
	fresh map[uint64]bool
	// metas are meta records that came with fresh records (a schedule's
	// fire with its job), which joint holds: written in the same store
	// call as those where the store can (jobs.JointSaver), and dropped
	// with the fresh records when the commit fails.
	metas []jobs.MetaRecord
	joint map[uint64]bool // made with the first metas
	// intents are meta records written before the batch's records (the
	// pending record of a job_failed notice before the job's failed
	// state), so that no crash leaves a change durable without the intent
	// it brings. A failed write carries them to the next batch.
	intents []jobs.MetaRecord
	// metaErr is set, before done is closed, when the records were
	// committed but metas were not: a store that cannot write both in one
	// call failed the SaveMetas after the Save.
	metaErr error
	done    chan struct{}
	err     error // set before done is closed
	// Guarded by the committer's mu: when its first record came, and
	// whether someone waits for it (wait), which ends its linger.
	first  time.Time
	urgent bool
	c      *committer // nil for a batch made done
}

// commitLinger is how long a commit that nobody waits for gathers changes
// after its first (see committer.linger). Each commit is an fdatasync,
// which costs far more CPU than its bytes (the kernel's journal, the
// disk's interrupts, the threads it wakes): with four workers running
// one no-op job at a time, 1 ms spent a quarter of the master's CPU on
// commits, and 10 ms as many jobs a second as a longer wait.
const commitLinger = 10 * time.Millisecond

// maxKeptBuffer bounds the buffer a batch hands to the next one; a bigger
// one (after a burst) is left to the garbage collector.
const maxKeptBuffer = 16 << 20

func (c *committer) newBatch() *batch {
	c.seq++
	b := &batch{seq: c.seq, buf: c.spareBuf, recs: c.spareRecs, c: c,
		index: make(map[uint64]int), fresh: make(map[uint64]bool), done: make(chan struct{})}
	c.spareBuf, c.spareRecs = nil, nil
	return b
}

// wait blocks until the batch is committed and returns its error. The
// batch is committed without lingering. A batch that missed the
// committer's last commit (the master stopped) fails with
// errCommitStopped.
func (b *batch) wait() error {
	c := b.c
	if c == nil {
		<-b.done
		return b.err
	}
	if b.flushInline() {
		return b.err
	}
	b.hurry()
	select {
	case <-b.done:
		return b.err
	case <-c.stopped:
		select {
		case <-b.done:
			return b.err
		default:
			return errCommitStopped
		}
	}
}

// flushInline writes b in the caller's goroutine when b is the next
// commit and no commit is being written: on an idle master, a waiter
// that handed its commit to the loop would cost two goroutine hand-offs
// (and on an idle machine, a thread's wake-up each) for nothing. It
// reports whether b is done. Under load the loop is writing, and the
// waiter leaves b to it as before.
func (b *batch) flushInline() bool {
	c := b.c
	if !c.flushMu.TryLock() {
		return false
	}
	defer c.flushMu.Unlock()
	c.mu.Lock()
	mine := c.cur == b && !c.down
	c.mu.Unlock()
	if !mine {
		select {
		case <-b.done: // written by the commit that just ended
			return true
		default:
			return false
		}
	}
	if err := c.flushLocked(); err != nil {
		c.signal() // the loop retries the carried records, with its back-off
	}
	// b is not written if it has no records yet (a waiter for a lease,
	// whose record comes after leaseWriteDelay): it is then not done, and
	// the waiter waits for the commit that writes it.
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// await blocks until the batch is committed, as wait does, without
// hurrying it (it is written when its linger ends, or sooner if someone
// else waits for it), or until wake is closed (then it returns nil).
func (b *batch) await(wake <-chan struct{}) error {
	select {
	case <-b.done:
		return b.err
	case <-wake:
		return nil
	case <-b.c.stopped:
		select {
		case <-b.done:
			return b.err
		default:
			return errCommitStopped
		}
	}
}

// hurry ends the batch's linger: someone waits for it. The batch must
// have a committer (not one made done).
func (b *batch) hurry() {
	c := b.c
	c.mu.Lock()
	b.urgent = true
	c.mu.Unlock()
	c.signal()
}

// errCommitStopped is the error of a batch that missed the committer's
// last commit.
var errCommitStopped = errors.New("master: stopped before the change was written")

// put adds a record, replacing an earlier one of the same Seq. The caller
// holds the committer's mu.
func (b *batch) put(r jobs.Record) {
	if len(b.recs) == 0 {
		b.first = time.Now()
	}
	if i, ok := b.index[r.Seq]; ok {
		b.recs[i] = r
		return
	}
	b.index[r.Seq] = len(b.recs)
	b.recs = append(b.recs, r)
}

func newCommitter(s jobs.Store, log logrus.FieldLogger) *committer {
	c := &committer{store: s, log: log, kick: make(chan struct{}, 1), stopped: make(chan struct{})}
	c.cur = c.newBatch()
	return c
}

// add encodes j into the next commit and returns the batch that will
// write it. The caller holds the lock that guards j (Master.mu).
func (c *committer) add(j *jobs.Job) *batch {
	c.mu.Lock()
	b := c.cur
	first := len(b.recs) == 0
	n := len(b.buf)
	b.buf = j.AppendRecord(b.buf)
	b.put(jobs.Record{Seq: j.Seq, Data: b.buf[n:len(b.buf):len(b.buf)]})
	c.mu.Unlock()
	if first {
		c.signal() // the committer's linger times the rest
	}
	return b
}

// settled returns a batch that is done once every change added so far is
// committed: the next one if it has changes, else the one being written,
// else one that is done already.
func (c *committer) settled() *batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case len(c.cur.recs) > 0:
		c.signal()
		return c.cur
	case c.flushing != nil:
		return c.flushing
	}
	b := &batch{done: make(chan struct{})}
	close(b.done)
	return b
}

// durableSeq returns the number of the last batch committed: every
// record added to it or to an earlier batch is on disk.
func (c *committer) durableSeq() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.durable
}

// unwritten reports whether a record of the job numbered seq waits to be
// written: in the next commit, or in the one being written. A job leaves
// memory only once its record is written (retirePass), or reads from the
// store would find an older one.
func (c *committer) unwritten(seq uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.holds(seq)
}

// unwrittenAny is unwritten for any of seqs, under one lock.
func (c *committer) unwrittenAny(seqs iter.Seq[uint64]) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for seq := range seqs {
		if c.holds(seq) {
			return true
		}
	}
	return false
}

// holds reports whether the next commit or the one being written has a
// record of seq. The caller holds mu.
func (c *committer) holds(seq uint64) bool {
	if _, ok := c.cur.index[seq]; ok {
		return true
	}
	if c.flushing == nil {
		return false
	}
	_, ok := c.flushing.index[seq]
	return ok
}

// pending returns the batch that the next commit writes.
func (c *committer) pending() *batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// addFresh queues the records of new jobs that nobody else can reach yet
// (the master inserts them once their commit succeeds, so no add of the
// same Seq joins them), and the meta records metas that must be durable
// with them (see batch.metas). If their commit fails they are dropped,
// not retried: the Submit that made them fails too, so they must never
// reach the disk later.
func (c *committer) addFresh(recs []jobs.Record, metas []jobs.MetaRecord) *batch {
	c.mu.Lock()
	b := c.cur
	first := len(b.recs) == 0
	for _, r := range recs {
		b.put(r)
		b.fresh[r.Seq] = true
	}
	if len(metas) > 0 {
		if b.joint == nil {
			b.joint = make(map[uint64]bool)
		}
		for _, r := range recs {
			b.joint[r.Seq] = true
		}
		b.metas = append(b.metas, metas...)
	}
	c.mu.Unlock()
	if first {
		c.signal()
	}
	return b
}

// addIntent queues meta record m to be written before the records of the
// current batch (batch.intents): the caller adds the record it goes with
// after it. The caller holds the master's lock.
func (c *committer) addIntent(m jobs.MetaRecord) {
	c.mu.Lock()
	c.cur.intents = append(c.cur.intents, m)
	c.mu.Unlock()
}

func (c *committer) signal() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run commits batches until stop is closed, then commits what is left.
func (c *committer) run(stop <-chan struct{}) {
	defer close(c.stopped)
	retry := time.Duration(0)
	for {
		select {
		case <-c.kick:
		case <-stop:
			c.last()
			return
		}
		c.linger(stop)
		if err := c.flush(); err != nil {
			// Back off so a failing disk is not hammered; the failed
			// records are retried with the next batch.
			retry = min(max(retry*2, 50*time.Millisecond), 2*time.Second)
			select {
			case <-time.After(retry):
			case <-stop:
				c.last()
				return
			}
			c.signal()
		} else {
			retry = 0
		}
	}
}

// linger holds the next commit until commitLinger after its first change
// while nobody waits for it, so that the changes whose answers do not wait
// for the disk (leases, and reports answered with their commit number)
// share fewer fsyncs. A wait, or stop, ends it at once.
func (c *committer) linger(stop <-chan struct{}) {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		c.mu.Lock()
		b := c.cur
		d := commitLinger - time.Since(b.first)
		now := len(b.recs) == 0 || b.urgent || d <= 0
		c.mu.Unlock()
		if now {
			return
		}
		if t == nil {
			t = time.NewTimer(d)
		} else {
			t.Reset(d)
		}
		select {
		case <-t.C:
		case <-c.kick:
		case <-stop:
			return
		}
	}
}

// last commits what is left when the committer stops; no waiter writes
// after it.
func (c *committer) last() {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.flushLocked()
	c.mu.Lock()
	c.down = true
	c.mu.Unlock()
}

// flush commits the current batch.
func (c *committer) flush() error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	return c.flushLocked()
}

// flushLocked commits the current batch. The caller holds flushMu.
func (c *committer) flushLocked() error {
	c.mu.Lock()
	b := c.cur
	if len(b.recs) == 0 {
		c.mu.Unlock()
		return nil
	}
	c.cur = c.newBatch()
	c.flushing = b
	c.mu.Unlock()

	b.err = c.write(b)
	if b.err != nil {
		c.log.WithError(b.err).WithField("jobs", len(b.recs)).Error("store commit failed; will retry")
		// Carry the records of acknowledged jobs to the next batch (as
		// copies: this batch's buffer goes back for reuse) unless that
		// one has a newer record; new jobs are dropped with their Submit.
		c.mu.Lock()
		for _, r := range b.recs {
			if _, newer := c.cur.index[r.Seq]; !newer && !b.fresh[r.Seq] {
				c.cur.put(jobs.Record{Seq: r.Seq, Data: slices.Clone(r.Data)})
			}
		}
		c.cur.intents = append(b.intents, c.cur.intents...) // before what came since
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.flushing = nil
	if b.err == nil {
		c.durable = b.seq
	}
	c.mu.Unlock()
	close(b.done)
	c.mu.Lock()
	if cap(b.buf) <= maxKeptBuffer {
		clear(b.recs)
		c.spareBuf, c.spareRecs = b.buf[:0], b.recs[:0]
	}
	c.mu.Unlock()
	return b.err
}

// write writes b's records, and its meta records with the fresh records
// they came with: through a jobs.JointSaver, the other records with Save,
// then those and the metas with one SaveWithMetas (one transaction, or
// one raft entry); through another store, all records with Save, then the
// metas with SaveMetas. An error means that neither the new jobs nor the
// metas were written; the other records may have been, and are written
// again with the next batch. When only the SaveMetas fails, the records
// stand (b.metaErr says so) and write returns nil.
func (c *committer) write(b *batch) error {
	if ms, ok := c.store.(jobs.MetaStore); ok && len(b.intents) > 0 {
		if err := ms.SaveMetas(b.intents); err != nil {
			return err
		}
	}
	if len(b.metas) == 0 {
		return c.store.Save(b.recs)
	}
	if js, ok := c.store.(jobs.JointSaver); ok {
		var with, rest []jobs.Record // with: the records that go with metas
		for _, r := range b.recs {
			if b.joint[r.Seq] {
				with = append(with, r)
			} else {
				rest = append(rest, r)
			}
		}
		if len(rest) > 0 {
			if err := c.store.Save(rest); err != nil {
				return err
			}
		}
		return js.SaveWithMetas(with, b.metas)
	}
	if err := c.store.Save(b.recs); err != nil {
		return err
	}
	if ms, ok := c.store.(jobs.MetaStore); ok {
		b.metaErr = ms.SaveMetas(b.metas)
	} else {
		b.metaErr = errNoMetaStore
	}
	if b.metaErr != nil {
		c.log.WithError(b.metaErr).WithField("records", len(b.metas)).Error("records beside the jobs not saved")
	}
	return nil
}

// errNoMetaStore is a batch's metaErr when the store keeps no records
// beside the jobs.
var errNoMetaStore = errors.New("master: the store keeps no records beside the jobs")
