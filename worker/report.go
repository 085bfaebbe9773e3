package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/gopool"
	"github.com/drover/drover/rpcapi"
)

// Sending results: batches of reports in task_complete calls, the tasks
// their replies carry, and the tickets that keep a batch until the master
// says it is on disk.

// maxReports bounds the reports in one Complete call.
const maxReports = 1000

// maxBatchBytes bounds the outputs, data and errors of the reports in one
// Complete call (a batch always takes at least one report), so that the
// call stays under the master's max_request_body (default 4 MiB), which
// caps a gob message as it does an XML-RPC body. The max_result_bytes the
// master gives at registration bounds a batch too: it is at most half of
// its max_request_body.
const maxBatchBytes = 2 << 20

// maxSending bounds the Complete calls in flight at once. The master
// answers a Complete only once its outcomes are on disk; with several
// calls in flight, results that finish meanwhile go out without waiting
// for that commit.
const maxSending = 4

// reportLoop sends finished results in batches: at once when no Complete
// call is in flight or a quarter of the slots' worth is waiting, else after
// ReportDelay so more can join. It sends a
// batch without waiting for the answer (up to maxSending calls in flight).
// A batch that fails goes back to the front of the queue and is retried
// after a backoff. With nothing left to send or run, it asks the master to
// confirm the reports it answered before they were durable.
func (w *Worker) reportLoop() {
	calls := gopool.New() // goroutines that keep their stacks from call to call
	defer calls.Wait()
	sem := make(chan struct{}, maxSending)
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.reportc:
		}
		if d := w.retryAfter(); d > 0 {
			select {
			case <-time.After(d):
			case <-w.ctx.Done():
				return
			}
		} else {
			// With no call in flight the results go at once; while calls
			// are out, more results join for ReportDelay, or until a
			// quarter of the slots' worth is waiting.
			w.mu.Lock()
			n, busy := len(w.results), len(w.sending) > len(w.tickets)
			w.mu.Unlock()
			if busy && n > 0 && n < max(1, min(maxReports, w.cfg.Slots)/4) {
				select {
				case <-time.After(w.cfg.ReportDelay):
				case <-w.ctx.Done():
					return
				}
			}
		}
		for {
			select {
			case sem <- struct{}{}:
			case <-w.ctx.Done():
				return
			}
			c := w.nextBatch()
			if c.key == 0 {
				<-sem
				break
			}
			calls.Go(func() {
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(w.ctx, w.reportDeadline())
				err := w.send(ctx, c, w.master)
				cancel()
				w.sendDone(err)
			})
		}
	}
}

// retryAfter returns how long to wait before sending again after failed
// Complete calls (zero after a success).
func (w *Worker) retryAfter() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.retry
}

// sendDone notes how a Complete call ended, for the backoff, and wakes the
// reporter if results are waiting, or reports to confirm.
func (w *Worker) sendDone(err error) {
	w.mu.Lock()
	switch {
	case err == nil:
		w.retry = 0
	default:
		w.retry = min(max(2*w.retry, 50*time.Millisecond), time.Second)
		if w.ctx.Err() == nil {
			w.log.WithError(w.masterErr(err)).Debug("complete failed; results kept for a retry")
		}
	}
	waiting := len(w.results) > 0 || w.confirmDue()
	w.mu.Unlock()
	if waiting {
		w.signal(w.reportc)
	}
	w.signal(w.sentc)
}

// confirmDue reports whether the reporter should ask the master to confirm
// the reports it answered before they were durable: there are some, and
// no result, run or other call would bring the confirmation. The caller
// holds mu.
func (w *Worker) confirmDue() bool {
	return len(w.tickets) > 0 && len(w.results) == 0 && len(w.running) == 0 && len(w.sending) == len(w.tickets)
}

// registration is a worker ID and its secret.
type registration struct{ id, secret string }

// completeCall is one Complete call to make: under which registration,
// its key in sending, its reports (none: a call that confirms the reports
// answered before they were durable) and its Want.
type completeCall struct {
	from  registration
	key   int // 0: no call
	batch []rpcapi.Report
	want  int
	args  *rpcapi.CompleteArgs // to reuse for the call; nil: a new one
}

// nextBatch moves up to maxReports results from the queue to a new batch
// in flight and returns the call that sends it, asking for the free slots'
// tasks unless another call does already; or a call that confirms
// (confirmDue); or no call (key 0), as while the worker is not registered.
func (w *Worker) nextBatch() completeCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.results), maxReports)
	if w.id == "" || (n == 0 && !w.confirmDue()) {
		return completeCall{}
	}
	size, limit := 0, maxBatchBytes
	if w.masterMaxResult > 0 {
		limit = min(limit, w.masterMaxResult)
	}
	for i := range n {
		rep := &w.results[i]
		size += len(rep.Output) + len(rep.Data) + len(rep.Error) + len(rep.JobID) + 16
		for k, v := range rep.Stats {
			size += len(k) + len(v) + 4
		}
		if size > limit && i > 0 {
			n = i
			break
		}
	}
	c := completeCall{from: registration{w.id, w.secret}, batch: slices.Clone(w.results[:n])}
	w.results = slices.Delete(w.results, 0, n)
	if n > 0 && !w.wanting && !w.noWant && !w.draining && w.cfg.Mode != rpcapi.ModePull {
		c.want = max(0, w.cfg.Slots-len(w.running))
		w.wanting = c.want > 0
	}
	w.sendSeq++
	c.key = w.sendSeq
	w.sending[c.key] = c.batch
	return c
}

// unsend puts what is left of a batch in flight back in front of the
// queue. The caller holds mu.
func (w *Worker) unsend(key int) {
	if left := w.sending[key]; len(left) > 0 {
		w.results = slices.Concat(left, w.results)
	}
	delete(w.sending, key)
	delete(w.tickets, key)
}

// settle takes what the reply to call c (or its error) says of c's
// batch: on failure it goes back to the queue; answered with a commit
// number, it waits for a reply whose durable covers it; answered once on
// disk, it is forgotten. A reply's durable also forgets the earlier
// batches it covers. The caller holds mu.
func (w *Worker) settle(c completeCall, reply *rpcapi.CompleteReply, err error) {
	switch {
	case err != nil:
		w.unsend(c.key)
		return
	case reply.Commit > 0 && w.id == c.from.id:
		if len(w.tickets) == 0 || reply.Commit < w.ticketLow {
			w.ticketLow = reply.Commit
		}
		w.tickets[c.key] = reply.Commit
	case reply.Commit > 0:
		// Answered before the commit by the master of the registration
		// before (it may have restarted and lost them): they go again
		// under the new one.
		w.unsend(c.key)
	default:
		delete(w.sending, c.key)
	}
	if w.id != c.from.id || len(w.tickets) == 0 || reply.Durable < w.ticketLow {
		return
	}
	low := int64(math.MaxInt64)
	for key, commit := range w.tickets {
		if commit <= reply.Durable {
			delete(w.sending, key)
			delete(w.tickets, key)
		} else {
			low = min(low, commit)
		}
	}
	w.ticketLow = low
}

// send makes one call taken by nextBatch: on success the batch is
// forgotten once durable, on failure it goes back to the queue. A master
// that does not know the worker ID (it restarted) makes the worker
// register again, naming the batch's attempts, which the master then
// adopts. Tasks the reply carries start as an Assign's would. via is the
// client to call with.
func (w *Worker) send(ctx context.Context, c completeCall, via rpcapi.MasterClient) error {
	sent := time.Now()
	args := c.args
	if args == nil {
		args = new(rpcapi.CompleteArgs)
	}
	*args = rpcapi.CompleteArgs{WorkerID: c.from.id, Secret: c.from.secret, Reports: c.batch, Want: c.want}
	reply, err := via.Complete(ctx, args)
	*args = rpcapi.CompleteArgs{} // holds on to no report
	w.mu.Lock()
	if err == nil {
		// A deposed master's answer: its tasks are not run, and the
		// reports go again, to the leader.
		err = w.staleTerm(reply.Term, "task_complete reply")
	}
	// A reply the master took as a heartbeat of this registration moves
	// the fence as a heartbeat's does, before its tasks are taken.
	beat := err == nil && reply.Beat && w.id == c.from.id
	if c.want > 0 {
		if err != nil || len(reply.Tasks) == 0 {
			w.wanting = false // else once its tasks are taken, below
		}
		if errors.Is(err, rpcapi.ErrBadRequest) && !w.noWant && w.id == c.from.id {
			// A master of an earlier release does not know want: the
			// batch goes again without it, and tasks come by Assign.
			w.noWant = true
			w.log.WithError(w.masterErr(err)).Warn("the master refused want in task_complete (an older master?); next tasks come by assign_task")
		}
	}
	w.settle(c, reply, err)
	w.mu.Unlock()
	if beat {
		w.renewFence(sent)
	}
	if errors.Is(err, rpcapi.ErrUnknownWorker) {
		w.mu.Lock()
		stale := w.id != c.from.id // registered again since: the batch goes under the new ID
		w.mu.Unlock()
		if !stale {
			w.askRegister(c.from.id)
		}
	}
	if err != nil {
		return err
	}
	if len(reply.Tasks) > 0 {
		var ar rpcapi.AssignReply
		w.mu.Lock()
		w.take(&rpcapi.AssignArgs{WorkerID: c.from.id, Tasks: reply.Tasks}, &ar, false)
		w.wanting = false // after the tasks took their slots: the next want counts them
		w.mu.Unlock()
		for _, rej := range ar.Rejected {
			// The lease stays with us at the master until two heartbeats
			// have not named it; then it is requeued as lost.
			w.log.WithField("job", rej.JobID).WithField("attempt", rej.Attempt).Warn("task in a report's reply refused: " + rej.Reason)
		}
	}
	if reply.Dropped > 0 {
		w.metrics.stale.Add(float64(reply.Dropped))
		w.log.WithFields(logrus.Fields{"accepted": reply.Accepted, "dropped": reply.Dropped}).Warn("master dropped stale reports")
	}
	if reply.Refused > 0 {
		w.metrics.stale.Add(float64(reply.Refused))
		w.log.WithFields(logrus.Fields{"accepted": reply.Accepted, "refused": reply.Refused}).
			Warn("master refused reports: their attempts are leased to another worker")
	}
	return nil
}

// flush sends every queued result, one batch at a time, then waits for
// the batches the reporter has in flight, and for the confirmation of
// those the master answered before they were durable. Shutdown calls it
// last.
func (w *Worker) flush(ctx context.Context) error {
	for {
		c := w.nextBatch()
		if c.key == 0 {
			break
		}
		if err := w.send(ctx, c, w.master); err != nil {
			return w.masterErr(err) // Shutdown logs it
		}
		if len(c.batch) == 0 {
			break // a confirmation; the loop below asks for another if due
		}
	}
	for {
		w.mu.Lock()
		inFlight, queued := len(w.sending), len(w.results)
		registered, confirm := w.id != "", w.confirmDue()
		w.mu.Unlock()
		n := inFlight + queued
		switch {
		case n == 0:
			return nil
		case inFlight == 0 && !registered:
			return fmt.Errorf("worker: not registered; %d results not sent", n)
		case confirm:
			if c := w.nextBatch(); c.key != 0 {
				if err := w.send(ctx, c, w.master); err != nil {
					return w.masterErr(err)
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("worker: %d results not acknowledged: %w", n, ctx.Err())
		case <-w.sentc:
		}
	}
}
