package master

import (
	"testing"

	"github.com/drover/drover/jobs"
	"github.com/sirupsen/logrus"
)

// TestWaitForBatchWithoutRecords checks that a wait for a batch that has
// no records yet (a waiter for a lease, whose record is written after
// leaseWriteDelay) does not end before the batch is written: flushInline
// writes nothing then, and must not report the batch done.
func TestWaitForBatchWithoutRecords(t *testing.T) {
	st := jobs.NewMemStore()
	c := newCommitter(st, logrus.New())
	stop := make(chan struct{})
	go c.run(stop)
	defer func() {
		close(stop)
		<-c.stopped
	}()
	c.mu.Lock()
	b := c.cur
	c.mu.Unlock()
	if b.flushInline() {
		t.Fatal("flushInline reported a batch with no records done")
	}
	select {
	case <-b.done:
		t.Fatal("a batch with no records was closed")
	default:
	}
	j := &jobs.Job{ID: "1", Seq: 1, State: jobs.Pending, Spec: jobs.Spec{Type: "t"}}
	if got := c.add(j); got != b {
		t.Fatal("the record went to another batch")
	}
	if err := b.wait(); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := st.Load(func(uint64, []byte) error { n++; return nil })
	if err != nil || n != 1 {
		t.Fatalf("after the wait the store holds %d records (%v), want the batch's one", n, err)
	}
}
