package master

// The finished jobs a load keeps in memory (Retain, RetainJobs): the
// most recent ones, chosen with a heap as the records go by and read
// again in order of Seq.

import (
	"fmt"
	"time"

	"github.com/drover/drover/jobs"
)

// readRecent decodes and adds the recent jobs that stay, sorted by Seq:
// from the copies of their records, or else read again from the store in
// one walk from the first of them.
func (l *loader) readRecent(recent []recentRec) error {
	if len(recent) == 0 {
		return nil
	}
	if l.hs == nil {
		for i := range recent {
			j, err := jobs.DecodeRecord(recent[i].data)
			if err != nil {
				return fmt.Errorf("jobs: stored job seq %d: %w", recent[i].seq, err)
			}
			recent[i].data = nil
			l.add(j)
		}
		return nil
	}
	i := 0
	var derr error
	err := l.hs.Ascend(recent[0].seq-1, func(seq uint64, data []byte) bool {
		if seq < recent[i].seq {
			return true
		}
		if seq > recent[i].seq {
			derr = fmt.Errorf("stored job seq %d is gone", recent[i].seq)
			return false
		}
		j, err := jobs.DecodeRecord(data)
		if err == nil && (j.Seq != seq || !j.State.Final()) {
			err = fmt.Errorf("%w: it changed while the master loaded", jobs.ErrRecord)
		}
		if err != nil {
			derr = fmt.Errorf("jobs: stored job seq %d: %w", seq, err)
			return false
		}
		l.add(j)
		i++
		return i < len(recent)
	})
	if err == nil {
		err = derr
	}
	if err == nil && i < len(recent) {
		err = fmt.Errorf("stored job seq %d is gone", recent[i].seq)
	}
	return err
}

// recentRec is a finished job younger than Retain that load may keep in
// memory.
type recentRec struct {
	seq   uint64
	at    time.Time // when it finished
	state jobs.State
	key   string // its key, if it stays known when the job leaves (keptKey)
	data  []byte // a copy of its record, when the store cannot read it again
}

// before reports whether r finished before o (the lower Seq first at
// the same time): it leaves memory first.
func (r recentRec) before(o recentRec) bool {
	if c := r.at.Compare(o.at); c != 0 {
		return c < 0
	}
	return r.seq < o.seq
}

// recentHeap is a min-heap of recentRec by finish time: its first is the
// one to leave first.
type recentHeap []recentRec

func (h *recentHeap) push(e recentRec) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[i].before(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// replaceMin puts e in place of the first and returns that one.
func (h *recentHeap) replaceMin(e recentRec) recentRec {
	s := *h
	old := s[0]
	s[0] = e
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(s) {
			break
		}
		if c+1 < len(s) && s[c+1].before(s[c]) {
			c++
		}
		if !s[c].before(s[i]) {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	return old
}
