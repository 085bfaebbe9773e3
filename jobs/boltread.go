package jobs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Reading and deleting single records while the store runs (HistoryStore).
// A record is in the log (the current segment's records, and sealed ones
// waiting for their checkpoint: the overlay) or in the bbolt file; the
// log's is the newer. A Delete is a Save of tombstones: the log keeps it
// like any record, so a crash replays it, and the checkpoint deletes the
// key from the bbolt file.

// tombstone is the record Delete saves for a Seq: one zero byte, which no
// job record (binary or JSON) is.
var tombstone = []byte{0}

// isTombstone reports whether a record's data is a Delete's tombstone.
func isTombstone(data []byte) bool { return len(data) == 1 && data[0] == 0 }

// Get implements HistoryStore.
func (s *BoltStore) Get(seq uint64) ([]byte, error) {
	runs, err := s.logRuns()
	if err != nil {
		return nil, err
	}
	var found []byte
	for i := len(runs) - 1; i >= 0 && found == nil; i-- {
		found, _ = runs[i].find(seq)
	}
	if found != nil {
		if isTombstone(found) {
			return nil, nil
		}
		return slices.Clone(found), nil
	}
	var out []byte
	err = s.db.view(func(b *bolt.Bucket) error {
		if b == nil {
			return nil
		}
		k := seqKey(seq)
		v := b.Get(k)
		if v == nil {
			return nil
		}
		data, err := s.db.record(seq, k, v)
		out = slices.Clone(data)
		return err
	})
	return out, err
}

// Descend implements HistoryStore.
func (s *BoltStore) Descend(before uint64, fn func(seq uint64, data []byte) bool) error {
	return s.walk(before, true, fn)
}

// Ascend implements HistoryStore.
func (s *BoltStore) Ascend(after uint64, fn func(seq uint64, data []byte) bool) error {
	return s.walk(after, false, fn)
}

// walk merges the bbolt file's records with the overlay's, by Seq, from
// the bound (exclusive; 0 with desc: from the top), the overlay's winning.
func (s *BoltStore) walk(bound uint64, desc bool, fn func(seq uint64, data []byte) bool) error {
	runs, err := s.logRuns()
	if err != nil {
		return err
	}
	w := &historyWalk{db: s.db, over: newRunMerge(runs, bound, desc), desc: desc, fn: fn, stop: errors.New("stop")}
	err = s.db.view(func(b *bolt.Bucket) error { return w.merge(b, bound) })
	if errors.Is(err, w.stop) {
		return nil
	}
	return err
}

// historyWalk is one walk: the overlay's records still to merge, the
// order, and what it calls for each record.
type historyWalk struct {
	db   *boltDB
	over *runMerge
	desc bool
	fn   func(seq uint64, data []byte) bool
	stop error // returned when fn stops the walk
}

// before reports whether a comes before b in the walk's order.
func (w *historyWalk) before(a, b uint64) bool {
	if w.desc {
		return a > b
	}
	return a < b
}

// emit calls fn for a record that is not a tombstone, and returns w.stop
// when fn stops the walk.
func (w *historyWalk) emit(q uint64, data []byte) error {
	if isTombstone(data) {
		return nil
	}
	if !w.fn(q, data) {
		return w.stop
	}
	return nil
}

// merge walks the jobs bucket b (nil: none) from bound, and emits its
// records and the overlay's in order, the overlay's in place of the
// bucket's of the same Seq.
func (w *historyWalk) merge(b *bolt.Bucket, bound uint64) error {
	var c *bolt.Cursor
	if b != nil {
		c = b.Cursor()
	}
	k, v := seekBound(c, bound, w.desc)
	for ; k != nil; k, v = step(c, w.desc) {
		if len(k) != 8 {
			return w.db.corrupt(fmt.Sprintf("stored key %x is not a seq", k))
		}
		q := binary.BigEndian.Uint64(k)
		o, ok := w.over.peek()
		for ; ok && w.before(o, q); o, ok = w.over.peek() {
			if err := w.emit(w.over.next()); err != nil {
				return err
			}
		}
		if ok && o == q {
			if err := w.emit(w.over.next()); err != nil {
				return err
			}
			continue
		}
		data, err := w.db.record(q, k, v)
		if err != nil {
			return err
		}
		if err := w.emit(q, data); err != nil {
			return err
		}
	}
	for _, ok := w.over.peek(); ok; _, ok = w.over.peek() {
		if err := w.emit(w.over.next()); err != nil {
			return err
		}
	}
	return nil
}

// seekBound puts c (nil: no bucket, no record) on the first record past
// bound in the walk's order and returns it, or nil keys.
func seekBound(c *bolt.Cursor, bound uint64, desc bool) (k, v []byte) {
	switch {
	case c == nil:
	case !desc:
		k, v = c.Seek(seqKey(bound + 1))
		if bound == ^uint64(0) {
			k = nil
		}
	case bound == 0:
		k, v = c.Last()
	default:
		k, v = c.Seek(seqKey(bound))
		if k == nil {
			k, v = c.Last()
		}
		for k != nil && binary.BigEndian.Uint64(k) >= bound {
			k, v = c.Prev()
		}
	}
	return k, v
}

// step moves c one record on in the walk's order.
func step(c *bolt.Cursor, desc bool) ([]byte, []byte) {
	if desc {
		return c.Prev()
	}
	return c.Next()
}

// Delete implements HistoryStore: one log frame of tombstones.
func (s *BoltStore) Delete(seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	batch := make([]Record, len(seqs))
	for i, q := range seqs {
		batch[i] = Record{Seq: q, Data: tombstone}
	}
	return s.Save(batch)
}

// view runs fn in a read transaction on the jobs bucket (nil if the file
// has none), guarded against a damaged file.
func (s *boltDB) view(fn func(b *bolt.Bucket) error) error {
	return s.viewTx(func(tx *bolt.Tx) error {
		return fn(tx.Bucket(jobsBucket)) // nil when the file has no job yet
	})
}
