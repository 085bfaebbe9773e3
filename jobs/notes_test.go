package jobs

import (
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// TestNotesShared: the events of a lease and of an ok finish read as
// they always did, and jobs of one worker and attempt share one text (its
// bytes are not copied per job), from many goroutines at once.
func TestNotesShared(t *testing.T) {
	now := time.Now()
	const workers, perWorker = 8, 200
	texts := make([][2]string, workers*perWorker)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			worker := fmt.Sprintf("w%d-50aa@64761a16e9e15ed101b95a00bfabb075686c0f610d36cafa86928fba7623", w)
			for i := range perWorker {
				j := &Job{ID: "1", State: Pending}
				if _, err := j.Lease(worker, now); err != nil {
					t.Error(err)
					return
				}
				if err := j.Finish(Report{Attempt: 1, Outcome: OK}, now, Backoff{}); err != nil {
					t.Error(err)
					return
				}
				texts[w*perWorker+i] = [2]string{j.Events[0].Text, j.Events[1].Text}
			}
		})
	}
	wg.Wait()
	for w := range workers {
		worker := fmt.Sprintf("w%d-50aa@64761a16e9e15ed101b95a00bfabb075686c0f610d36cafa86928fba7623", w)
		want := [2]string{"dispatched to " + worker + " as attempt 1", "attempt 1 on " + worker + ": ok; succeeded"}
		first := texts[w*perWorker]
		for i := range perWorker {
			got := texts[w*perWorker+i]
			if got != want {
				t.Fatalf("worker %d, job %d: events %q, want %q", w, i, got, want)
			}
			for k := range got {
				if unsafe.StringData(got[k]) != unsafe.StringData(first[k]) {
					t.Fatalf("worker %d, job %d: event %q is a copy of its own", w, i, got[k])
				}
			}
		}
	}
}

// TestNotesBounded: the cache starts again empty at maxNotes texts, and
// still answers right.
func TestNotesBounded(t *testing.T) {
	for i := range 3 * maxNotes {
		w := fmt.Sprintf("worker-%d", i)
		if got, want := notes.text(noteDispatched, w, 2), "dispatched to "+w+" as attempt 2"; got != want {
			t.Fatalf("text = %q, want %q", got, want)
		}
	}
	notes.mu.Lock()
	n := len(notes.m)
	notes.mu.Unlock()
	if n > maxNotes {
		t.Fatalf("%d texts cached, want at most %d", n, maxNotes)
	}
}
