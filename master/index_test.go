package master

import (
	"strconv"
	"testing"

	"github.com/drover/drover/jobs"
)

// TestJobIndex: a job is found by its ID (its Seq in decimal) and nothing
// else finds it.
func TestJobIndex(t *testing.T) {
	m := &core{}
	for _, seq := range []uint64{1, 2, 7, 1000} {
		m.index(&jobs.Job{ID: strconv.FormatUint(seq, 10), Seq: seq})
	}
	if m.byseq.len() != 4 {
		t.Fatalf("njobs %d, want 4", m.byseq.len())
	}
	for _, id := range []string{"1", "2", "7", "1000"} {
		if j := m.job(id); j == nil || j.ID != id {
			t.Errorf("job(%q) = %v", id, j)
		}
	}
	for _, id := range []string{"", "0", "3", "007", "+7", "7 ", "1001", "abc", "18446744073709551616", "-1"} {
		if j := m.job(id); j != nil {
			t.Errorf("job(%q) = job %s, want none", id, j.ID)
		}
	}
	m.index(&jobs.Job{ID: "7", Seq: 7}) // replacing keeps the count
	if m.byseq.len() != 4 {
		t.Fatalf("njobs %d after re-indexing, want 4", m.byseq.len())
	}
}
