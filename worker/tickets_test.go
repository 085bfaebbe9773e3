package worker

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/drover/drover/rpcapi"
)

// replyCaller answers each task_complete with the next of its replies.
type replyCaller struct{ replies []rpcapi.CompleteReply }

func (c *replyCaller) Call(_ context.Context, method string, _, reply any) error {
	*reply.(*rpcapi.CompleteReply), c.replies = c.replies[0], c.replies[1:]
	return nil
}

func (c *replyCaller) Close() error { return nil }

// TestTicketsGoWhenDurable checks the worker's side of a task_complete
// answered before its outcomes were on disk (docs/protocol.md,
// "task_complete": commit and durable): the worker holds the call's
// reports until a reply names a durable commit at or past the call's
// commit, whatever the order in which the commits came, and then forgets
// them.
func TestTicketsGoWhenDurable(t *testing.T) {
	w := newFenceWorker(t, true)
	w.id, w.secret = "w1", "s1"
	// Four calls answered early, with these commits, in this order; then
	// replies (with no call of their own in sending) naming durable.
	commits := []int64{7, 3, 9, 5}
	steps := []struct {
		durable int64
		left    []int64 // the commits still held after the reply
	}{
		{durable: 2, left: []int64{3, 5, 7, 9}},
		{durable: 3, left: []int64{5, 7, 9}},
		{durable: 4, left: []int64{5, 7, 9}},
		{durable: 8, left: []int64{9}},
		{durable: 9, left: nil},
	}
	var rc replyCaller
	for _, c := range commits {
		rc.replies = append(rc.replies, rpcapi.CompleteReply{Accepted: 1, Commit: c})
	}
	for _, s := range steps {
		rc.replies = append(rc.replies, rpcapi.CompleteReply{Durable: s.durable})
	}
	via := rpcapi.MasterClient{C: &rc}
	ctx := context.Background()
	for i := range commits {
		w.results = append(w.results, rpcapi.Report{JobID: strconv.Itoa(i), Attempt: 1})
		if err := w.send(ctx, w.nextBatch(), via); err != nil {
			t.Fatal(err)
		}
	}
	held := func() []int64 {
		var out []int64
		for _, c := range commits {
			for key, commit := range w.tickets {
				if commit == c {
					if len(w.sending[key]) != 1 {
						t.Errorf("commit %d: its call's reports are not in sending", c)
					}
					out = append(out, c)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	if got := held(); len(got) != len(commits) {
		t.Fatalf("after the calls the worker holds the commits %v, want all of %v", got, commits)
	}
	for _, s := range steps {
		c := completeCall{from: registration{w.id, w.secret}, key: -1} // a reply with no call of its own in sending
		if err := w.send(ctx, c, via); err != nil {
			t.Fatal(err)
		}
		if got := held(); !slices.Equal(got, s.left) || len(w.sending) != len(s.left) {
			t.Errorf("after a reply naming durable %d: holds commits %v (%d calls in sending), want %v", s.durable, got, len(w.sending), s.left)
		}
	}
}
