package jobs

import (
	"testing"
)

// checkLane compares what Delayed and Heads say of lane typ with the
// model: the delayed jobs counted, and the ready job with the lowest Seq
// (the one submitted first) among the heads.
func checkLane(t *testing.T, step int, q *Queue, m *queueModel, typ string) {
	t.Helper()
	delayed := 0
	var first *refItem
	for _, it := range m.items {
		switch {
		case it.typ != typ:
		case !it.rdy:
			delayed++
		case first == nil || it.seq < first.seq:
			first = it
		}
	}
	if got := q.Delayed(typ); got != delayed {
		t.Fatalf("step %d: Delayed(%s) = %d, model %d", step, typ, got, delayed)
	}
	var low *Job
	q.Heads(typ, func(j *Job) {
		if low == nil || j.Seq < low.Seq {
			low = j
		}
	})
	if (first == nil) != (low == nil) || (first != nil && low.ID != first.id) {
		t.Fatalf("step %d: Heads(%s) has %v first, model %+v", step, typ, low, first)
	}
}
