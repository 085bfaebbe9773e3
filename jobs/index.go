package jobs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Secondary indexes. drover.db keeps, beside the jobs, one key per job and
// field value it can be asked for (bucket "index"): the job's type, group,
// each worker that ran an attempt, and, for a finished job, its state and
// its state with its type. A key is the field's byte, the value's length
// (uvarint), the value and the job's Seq (8 bytes, big-endian), so the
// keys of one value are a range in Seq order and a filtered listing reads
// only the jobs that match (WalkIndex) instead of every job in history.
//
// Every write of records to drover.db keeps the index (save reads the
// record it replaces and moves its keys). A drover.db without the mark
// indexMark (an older drover's, or a salvaged one) has its index built in
// the background after the store opens, a chunk of jobs per transaction;
// until it is whole, WalkIndex answers ErrNoIndex and the caller reads the
// whole history instead.

var (
	indexBucket = []byte("index")
	indexMark   = []byte("index-v1") // in storeBucket: the index is whole
)

// ErrNoIndex is WalkIndex's answer while the index is not whole yet.
var ErrNoIndex = errors.New("jobs: index not built yet")

// Index fields.
const (
	fieldState     = 's' // final states only
	fieldType      = 't'
	fieldGroup     = 'g'
	fieldWorker    = 'w'
	fieldStateType = 'x' // final state's code, then the type
)

// IndexKey selects the jobs WalkIndex reads: those with one field value.
type IndexKey struct {
	prefix []byte
}

func indexKey(field byte, value []byte) IndexKey {
	return IndexKey{appendIndexPrefix(nil, field, value)}
}

func appendIndexPrefix(b []byte, field byte, value []byte) []byte {
	b = append(b, field)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

// ByState selects the finished jobs in state s (succeeded, failed or
// cancelled: the index holds no live state, whose jobs are all in the
// master's memory).
func ByState(s State) IndexKey { return indexKey(fieldState, []byte(s)) }

// ByType selects the jobs of type t.
func ByType(t string) IndexKey { return indexKey(fieldType, []byte(t)) }

// ByGroup selects the jobs of group g.
func ByGroup(g string) IndexKey { return indexKey(fieldGroup, []byte(g)) }

// ByWorker selects the jobs that an attempt of ran (or runs) on worker w.
func ByWorker(w string) IndexKey { return indexKey(fieldWorker, []byte(w)) }

// ByStateType selects the finished jobs of type t in state s.
func ByStateType(s State, t string) IndexKey {
	return indexKey(fieldStateType, append([]byte{stateCodes[s]}, t...))
}

// IndexedHistory is implemented by stores that keep secondary indexes of
// their records.
type IndexedHistory interface {
	HistoryStore
	// WalkIndex is Descend (desc) or Ascend over the records that k
	// selects, from bound (exclusive; 0 with desc: from the top). It
	// answers ErrNoIndex, having called fn for none, while the store's
	// index is not whole.
	WalkIndex(k IndexKey, bound uint64, desc bool, fn func(seq uint64, data []byte) bool) error
}

// indexPrefixes returns the index keys (without the Seq) of a record.
// ok is false for a record it cannot read; such a record has no keys.
func indexPrefixes(data []byte) (keys [][]byte, ok bool) {
	var h RecordHead
	var workers [][]byte
	if len(data) > 0 && data[0] == '{' {
		j, err := DecodeRecord(data)
		if err != nil {
			return nil, false
		}
		h = RecordHead{State: j.State, Type: []byte(j.Spec.Type), Group: []byte(j.Spec.Group)}
		workers = append(workers, []byte(j.Worker))
		for _, a := range j.Attempts {
			workers = append(workers, []byte(a.Worker))
		}
	} else {
		p := peeker{b: data}
		h, workers = p.indexHead()
		if p.bad {
			return nil, false
		}
	}
	keys = append(keys, appendIndexPrefix(nil, fieldType, h.Type))
	if len(h.Group) > 0 {
		keys = append(keys, appendIndexPrefix(nil, fieldGroup, h.Group))
	}
	for i, w := range workers {
		if len(w) > 0 && !slices.ContainsFunc(workers[:i], func(o []byte) bool { return bytes.Equal(o, w) }) {
			keys = append(keys, appendIndexPrefix(nil, fieldWorker, w))
		}
	}
	if h.State.Final() {
		keys = append(keys, appendIndexPrefix(nil, fieldState, []byte(h.State)))
		keys = append(keys, appendIndexPrefix(nil, fieldStateType, append([]byte{stateCodes[h.State]}, h.Type...)))
	}
	return keys, true
}

// indexHead reads a binary record's head and the workers of its job and
// of each attempt.
func (p *peeker) indexHead() (h RecordHead, workers [][]byte) {
	if p.byte() != recordV1 {
		p.fail()
		return h, nil
	}
	p.uvarint() // Seq
	p.skip()    // ID
	p.spec(&h, 0)
	h.State = p.state()
	p.int() // Attempt
	workers = append(workers, p.str())
	p.time() // NotBefore
	p.time() // Submitted
	p.time() // Updated
	for n := p.count(); n > 0 && !p.bad; n-- {
		p.int() // N
		workers = append(workers, p.str())
		p.time()   // Started
		p.time()   // Ended
		p.byte()   // Outcome
		p.varint() // ExitCode
		p.skip()   // Error
		p.skip()   // Output
		p.skip()   // Data
	}
	return h, workers
}

// matches reports whether a record has the index key prefix k.
func (k IndexKey) matches(data []byte) bool {
	keys, _ := indexPrefixes(data)
	return slices.ContainsFunc(keys, func(p []byte) bool { return bytes.Equal(p, k.prefix) })
}

// keepIndex moves the index keys of the record a batch record replaces
// (old, from b before the write; nil when there is none) to those of the
// new one (nil for a tombstone), in tx.
func keepIndex(ib *bolt.Bucket, seq uint64, old, data []byte) error {
	var was, now [][]byte
	if old != nil {
		was, _ = indexPrefixes(old)
	}
	if data != nil && !isTombstone(data) {
		now, _ = indexPrefixes(data)
	}
	var k []byte
	for _, p := range was {
		if !slices.ContainsFunc(now, func(n []byte) bool { return bytes.Equal(n, p) }) {
			k = binary.BigEndian.AppendUint64(append(k[:0], p...), seq)
			if err := ib.Delete(k); err != nil {
				return err
			}
		}
	}
	for _, p := range now {
		if !slices.ContainsFunc(was, func(o []byte) bool { return bytes.Equal(o, p) }) {
			k = binary.BigEndian.AppendUint64(append(k[:0], p...), seq)
			if err := ib.Put(k, []byte{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// indexWhole reports whether the index is marked whole, and notes it.
func (s *boltDB) indexWhole() bool {
	err := s.db.View(func(tx *bolt.Tx) error {
		if sb := tx.Bucket(storeBucket); sb != nil && sb.Get(indexMark) != nil {
			s.indexed.Store(true)
		}
		return nil
	})
	return err == nil && s.indexed.Load()
}

// indexChunk is how many jobs one transaction of buildIndex indexes.
var indexChunk = 20000

// buildIndex makes the index of a drover.db that is not marked whole: a
// chunk of jobs per transaction, so that the saves of the running store
// (which keep the index of what they write) go on between them. It stops
// early, unmarked, when stop closes.
func (s *boltDB) buildIndex(stop <-chan struct{}) error {
	start := true
	var next uint64
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		done := false
		err := guard(s.path, func() error {
			return s.db.Update(func(tx *bolt.Tx) error {
				sb, err := tx.CreateBucketIfNotExists(storeBucket)
				if err != nil {
					return err
				}
				if sb.Get(indexMark) != nil {
					done = true
					return nil
				}
				if start && tx.Bucket(indexBucket) != nil { // a build cut short: anew
					if err := tx.DeleteBucket(indexBucket); err != nil {
						return err
					}
				}
				ib, err := tx.CreateBucketIfNotExists(indexBucket)
				if err != nil {
					return err
				}
				b := tx.Bucket(jobsBucket)
				n := 0
				if b != nil {
					c := b.Cursor()
					for k, v := c.Seek(seqKey(next)); k != nil && n < indexChunk; k, v = c.Next() {
						if len(k) == 8 {
							if data, ok := openEnvelope(k, v); ok {
								if err := keepIndex(ib, binary.BigEndian.Uint64(k), nil, data); err != nil {
									return err
								}
							}
							next = binary.BigEndian.Uint64(k) + 1
						}
						n++
					}
				}
				if n < indexChunk {
					done = true
					return sb.Put(indexMark, []byte{1})
				}
				return nil
			})
		})
		start = false
		if errors.Is(err, bolt.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		if err != nil {
			return fmt.Errorf("jobs: index: %w", err)
		}
		if done {
			s.indexed.Store(true)
			return nil
		}
	}
}

// WalkIndex implements IndexedHistory: the keys of k in drover.db merged
// with the overlay's records that k selects, by Seq, the overlay's
// winning.
func (s *BoltStore) WalkIndex(k IndexKey, bound uint64, desc bool, fn func(seq uint64, data []byte) bool) error {
	if !s.db.indexed.Load() {
		return ErrNoIndex
	}
	runs, err := s.logRuns()
	if err != nil {
		return err
	}
	over := newRunMerge(runs, bound, desc)
	before := func(a, b uint64) bool {
		if desc {
			return a > b
		}
		return a < b
	}
	stop := errors.New("stop")
	emit := func(q uint64, data []byte) error {
		if isTombstone(data) || !k.matches(data) {
			return nil
		}
		if !fn(q, data) {
			return stop
		}
		return nil
	}
	err = guard(s.db.path, func() error {
		return s.db.db.View(func(tx *bolt.Tx) error {
			ib, b := tx.Bucket(indexBucket), tx.Bucket(jobsBucket)
			if ib != nil && b != nil {
				if err := s.walkKeys(ib.Cursor(), b, k.prefix, bound, desc, func(q uint64, v []byte) error {
					o, ok := over.peek()
					for ; ok && before(o, q); o, ok = over.peek() {
						if err := emit(over.next()); err != nil {
							return err
						}
					}
					if ok && o == q {
						return emit(over.next())
					}
					return emit(q, v)
				}); err != nil {
					return err
				}
			}
			for _, ok := over.peek(); ok; _, ok = over.peek() {
				if err := emit(over.next()); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if errors.Is(err, stop) {
		return nil
	}
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// walkKeys calls fn with each Seq under prefix in c, from bound
// (exclusive; 0 with desc: the top) in the walk's order, and its record
// in b (a key whose record is gone is skipped).
func (s *BoltStore) walkKeys(c *bolt.Cursor, b *bolt.Bucket, prefix []byte, bound uint64, desc bool,
	fn func(q uint64, data []byte) error) error {
	seek := func(q uint64) []byte { return binary.BigEndian.AppendUint64(slices.Clip(prefix), q) }
	var k []byte
	switch {
	case !desc:
		if bound == ^uint64(0) {
			return nil
		}
		k, _ = c.Seek(seek(bound + 1))
	case bound == 0:
		// The last key under prefix: seek past it, step back.
		if k, _ = c.Seek(seek(^uint64(0))); k != nil && len(k) == len(prefix)+8 && bytes.HasPrefix(k, prefix) {
			break
		}
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
	default:
		k, _ = c.Seek(seek(bound))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
	}
	for ; k != nil; k = stepKey(c, desc) {
		if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
			return nil
		}
		q := binary.BigEndian.Uint64(k[len(prefix):])
		v := b.Get(seqKey(q))
		if v == nil {
			continue
		}
		data, ok := openEnvelope(seqKey(q), v)
		if !ok {
			return s.db.corrupt(fmt.Sprintf("the checksum of job %d does not match: the job is lost", q))
		}
		if err := fn(q, data); err != nil {
			return err
		}
	}
	return nil
}

func stepKey(c *bolt.Cursor, desc bool) []byte {
	k, _ := step(c, desc)
	return k
}
