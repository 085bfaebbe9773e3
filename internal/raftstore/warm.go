package raftstore

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/drover/drover/jobs"
)

// warm keeps the live jobs of a member that follows in memory, as its
// local store holds them: every entry the state machine applies updates
// them. The master the member starts when elected takes them
// (Store.TakeLive) instead of reading and decoding its live jobs from the
// local store, and the member keeps none while it leads (its master holds
// them), until Node.Rewarm after it stops leading. fsm.mu guards it.
//
// A record is kept as it came (a copy) and decoded once it has outlived
// a tick of warmTick (age): most live records of a busy group are
// replaced within a second (a job leased, then finished), and a record
// replaced before its decode costs a copy instead. take decodes what is
// left undecoded.
type warm struct {
	on   bool
	jobs map[uint64]*jobs.Job
	// young holds the records that came since the last tick, old those
	// of the tick before: the next tick decodes old.
	young, old map[uint64][]byte
	// err says why what is kept is not whole (a live record that does
	// not decode): the take fails with it, and the master reads its
	// store, which says what is wrong.
	err error
}

// warmTick is how often a member decodes the live records it keeps.
const warmTick = time.Second

// fill keeps the live jobs of local from now on.
func (w *warm) fill(local Local) {
	*w = warm{on: true, jobs: make(map[uint64]*jobs.Job), young: make(map[uint64][]byte), old: make(map[uint64][]byte)}
	err := local.LoadLive(func(seq uint64, data []byte) error {
		if jobs.IsLive(data) {
			w.decode(seq, data)
		}
		return w.err
	})
	if err != nil && w.err == nil {
		w.fail(fmt.Errorf("raftstore: keep live jobs: %w", err))
	}
}

func (w *warm) fail(err error) { w.err, w.jobs, w.young, w.old = err, nil, nil, nil }

// decode keeps one live record decoded.
func (w *warm) decode(seq uint64, data []byte) {
	j, err := jobs.DecodeRecord(data)
	if err == nil && j.Seq != seq {
		err = fmt.Errorf("%w: it says seq %d", jobs.ErrRecord, j.Seq)
	}
	if err != nil {
		w.fail(fmt.Errorf("raftstore: keep live jobs: job seq %d: %w", seq, err))
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
		delete(w.jobs, r.Seq)
		delete(w.old, r.Seq)
		if jobs.IsLive(r.Data) {
			w.young[r.Seq] = slices.Clone(r.Data)
		} else {
			delete(w.young, r.Seq)
		}
	}
}

// remove takes the Seqs an applied entry deleted.
func (w *warm) remove(seqs []uint64) {
	if !w.on || w.err != nil {
		return
	}
	for _, seq := range seqs {
		delete(w.jobs, seq)
		delete(w.young, seq)
		delete(w.old, seq)
	}
}

// tick decodes the records that outlived a tick, and ages the young.
func (w *warm) tick() {
	if w.on && w.err == nil && w.decodeAll(w.old) {
		w.old, w.young = w.young, w.old
	}
}

// decodeAll decodes the records of m and empties it; false: one failed.
func (w *warm) decodeAll(m map[uint64][]byte) bool {
	for seq, data := range m {
		if w.decode(seq, data); w.err != nil {
			return false
		}
	}
	clear(m)
	return true
}

// take hands the kept jobs over, in Seq order, and keeps none from now on.
func (w *warm) take() ([]*jobs.Job, error) {
	if !w.on {
		return nil, jobs.ErrNotWarm
	}
	if w.err == nil && w.decodeAll(w.old) {
		w.decodeAll(w.young)
	}
	kept, err := w.jobs, w.err
	*w = warm{}
	if err != nil {
		return nil, err
	}
	out := make([]*jobs.Job, 0, len(kept))
	for _, seq := range slices.Sorted(maps.Keys(kept)) {
		out = append(out, kept[seq])
	}
	return out, nil
}

// warmer ticks f's kept records every warmTick until stop is closed.
func warmer(f *fsm, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTicker(warmTick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f.mu.Lock()
			f.warm.tick()
			f.mu.Unlock()
		case <-stop:
			return
		}
	}
}
