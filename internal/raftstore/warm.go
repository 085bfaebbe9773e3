package raftstore

import (
	"fmt"
	"maps"
	"slices"

	"github.com/drover/drover/jobs"
)

// warm keeps the live jobs of a member that follows decoded in memory, as
// its local store holds them: every entry the state machine applies
// updates them. The master the member starts when elected takes them
// (Store.TakeLive) instead of reading and decoding its live jobs from the
// local store, and the member keeps none while it leads (its master holds
// them), until Node.Rewarm after it stops leading. fsm.mu guards it.
type warm struct {
	on   bool
	jobs map[uint64]*jobs.Job
	// err says why what is kept is not whole (a live record that does
	// not decode): the take fails with it, and the master reads its
	// store, which says what is wrong.
	err error
}

// fill keeps the live jobs of local from now on.
func (w *warm) fill(local Local) {
	w.on, w.err, w.jobs = true, nil, make(map[uint64]*jobs.Job)
	err := local.LoadLive(func(seq uint64, data []byte) error {
		w.put(seq, data)
		return w.err
	})
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("raftstore: keep live jobs: %w", err)
	}
}

// put takes one record written to the local store.
func (w *warm) put(seq uint64, data []byte) {
	if !jobs.IsLive(data) {
		delete(w.jobs, seq)
		return
	}
	j, err := jobs.DecodeRecord(data)
	if err == nil && j.Seq != seq {
		err = fmt.Errorf("%w: it says seq %d", jobs.ErrRecord, j.Seq)
	}
	if err != nil {
		w.err, w.jobs = fmt.Errorf("raftstore: keep live jobs: job seq %d: %w", seq, err), nil
		return
	}
	w.jobs[seq] = j
}

// save takes the records of an applied entry.
func (w *warm) save(recs []jobs.Record) {
	if !w.on || w.err != nil {
		return
	}
	for _, r := range recs {
		if w.put(r.Seq, r.Data); w.err != nil {
			return
		}
	}
}

// remove takes the Seqs an applied entry deleted.
func (w *warm) remove(seqs []uint64) {
	if w.on && w.err == nil {
		for _, seq := range seqs {
			delete(w.jobs, seq)
		}
	}
}

// take hands the kept jobs over, in Seq order, and keeps none from now on.
func (w *warm) take() ([]*jobs.Job, error) {
	on, err, kept := w.on, w.err, w.jobs
	w.on, w.err, w.jobs = false, nil, nil
	switch {
	case !on:
		return nil, jobs.ErrNotWarm
	case err != nil:
		return nil, err
	}
	out := make([]*jobs.Job, 0, len(kept))
	for _, seq := range slices.Sorted(maps.Keys(kept)) {
		out = append(out, kept[seq])
	}
	return out, nil
}
