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
// (uvarint), the value and a block of Seqs (see blockKey), so the keys of
// one value are a range in Seq order and a filtered listing reads only the
// jobs that match (WalkIndex) instead of every job in history.
//
// Every write of records to drover.db keeps the index (save reads the
// record it replaces and moves its bits). A drover.db without the mark
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

// indexKey is the key of the jobs whose field is the value made of the
// parts: the same bytes a record's prefixSet holds for it.
func indexKey(field byte, value ...[]byte) IndexKey {
	var ps prefixSet
	ps.add(field, value...)
	return IndexKey{ps.buf}
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
	return indexKey(fieldStateType, []byte{stateCodes[s]}, []byte(t))
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

// prefixSet is the index key prefixes of one record, in buffers reused
// from record to record.
type prefixSet struct {
	buf     []byte
	ends    []int
	workers [][]byte
}

func (ps *prefixSet) n() int { return len(ps.ends) }

func (ps *prefixSet) at(i int) []byte {
	start := 0
	if i > 0 {
		start = ps.ends[i-1]
	}
	return ps.buf[start:ps.ends[i]:ps.ends[i]]
}

func (ps *prefixSet) has(p []byte) bool {
	for i := range ps.n() {
		if bytes.Equal(ps.at(i), p) {
			return true
		}
	}
	return false
}

func (ps *prefixSet) add(field byte, value ...[]byte) {
	n := 0
	for _, v := range value {
		n += len(v)
	}
	ps.buf = append(ps.buf, field)
	ps.buf = binary.AppendUvarint(ps.buf, uint64(n))
	for _, v := range value {
		ps.buf = append(ps.buf, v...)
	}
	ps.ends = append(ps.ends, len(ps.buf))
}

// of sets ps to the prefixes of a record, or to none and false for a
// record it cannot read.
func (ps *prefixSet) of(data []byte) bool {
	ps.buf, ps.ends, ps.workers = ps.buf[:0], ps.ends[:0], ps.workers[:0]
	var h RecordHead
	if len(data) > 0 && data[0] == '{' {
		j, err := DecodeRecord(data)
		if err != nil {
			return false
		}
		h = RecordHead{State: j.State, Type: []byte(j.Spec.Type), Group: []byte(j.Spec.Group)}
		ps.workers = append(ps.workers, []byte(j.Worker))
		for _, a := range j.Attempts {
			ps.workers = append(ps.workers, []byte(a.Worker))
		}
	} else {
		p := peeker{b: data}
		h, ps.workers = p.indexHead(ps.workers)
		if p.bad {
			ps.workers = ps.workers[:0]
			return false
		}
	}
	ps.add(fieldType, h.Type)
	if len(h.Group) > 0 {
		ps.add(fieldGroup, h.Group)
	}
	for i, w := range ps.workers {
		if len(w) > 0 && !slices.ContainsFunc(ps.workers[:i], func(o []byte) bool { return bytes.Equal(o, w) }) {
			ps.add(fieldWorker, w)
		}
	}
	if h.State.Final() {
		code := stateCodes[h.State]
		ps.add(fieldState, []byte(h.State))
		ps.add(fieldStateType, []byte{code}, h.Type)
	}
	return true
}

// indexHead reads a binary record's head and the workers of its job and
// of each attempt.
func (p *peeker) indexHead(workers [][]byte) (h RecordHead, _ [][]byte) {
	if p.v = p.byte(); !recordVersion(p.v) {
		p.fail()
		return h, workers
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
		workers = append(workers, p.attempt())
	}
	return h, workers
}

// matches reports whether a record has the index key prefix k; ps is
// scratch.
func (k IndexKey) matches(ps *prefixSet, data []byte) bool {
	return ps.of(data) && ps.has(k.prefix)
}

// A key of the index is a field value's prefix and a block of 256 Seqs
// (Seq>>8, 8 bytes big-endian); its value is a bitmap of the block's Seqs
// that have the field value (32 bytes, bit Seq&7 of byte (Seq&255)>>3).
// A checkpoint of thousands of jobs then writes a few keys per value
// instead of one per job (a quarter of its speed).
const (
	blockBits  = 8
	blockBytes = 1 << blockBits / 8
)

func blockKey(prefix []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(slices.Clip(prefix), seq>>blockBits)
}

// indexEdits collects the bits a batch of records sets and clears, per
// key, to write each key once, in key order.
type indexEdits struct {
	keys     map[string]*blockEdit
	was, now prefixSet
	kb       []byte
}

type blockEdit struct {
	set, clear [blockBytes]byte
}

// add notes the moves of the index bits of the record a batch record
// replaces (old, nil when there is none) to those of the new one (data,
// nil for a tombstone).
func (e *indexEdits) add(seq uint64, old, data []byte) {
	if old == nil || !e.was.of(old) {
		e.was.of(nil)
	}
	if data == nil || isTombstone(data) || !e.now.of(data) {
		e.now.of(nil)
	}
	if e.keys == nil {
		e.keys = make(map[string]*blockEdit)
	}
	bit := seq & (1<<blockBits - 1)
	edit := func(p []byte) *blockEdit {
		e.kb = binary.BigEndian.AppendUint64(append(e.kb[:0], p...), seq>>blockBits)
		be := e.keys[string(e.kb)]
		if be == nil {
			be = new(blockEdit)
			e.keys[string(e.kb)] = be
		}
		return be
	}
	for i := range e.was.n() {
		if p := e.was.at(i); !e.now.has(p) {
			be := edit(p)
			be.clear[bit>>3] |= 1 << (bit & 7)
			be.set[bit>>3] &^= 1 << (bit & 7)
		}
	}
	for i := range e.now.n() {
		if p := e.now.at(i); !e.was.has(p) {
			be := edit(p)
			be.set[bit>>3] |= 1 << (bit & 7)
			be.clear[bit>>3] &^= 1 << (bit & 7)
		}
	}
}

// apply makes the edits in ib, in key order, and empties e.
func (e *indexEdits) apply(ib *bolt.Bucket) error {
	keys := make([]string, 0, len(e.keys))
	for k := range e.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		be := e.keys[k]
		var bm [blockBytes]byte
		copy(bm[:], ib.Get([]byte(k)))
		zero := true
		for i := range bm {
			bm[i] = bm[i]&^be.clear[i] | be.set[i]
			zero = zero && bm[i] == 0
		}
		var err error
		if zero {
			err = ib.Delete([]byte(k))
		} else {
			err = ib.Put([]byte(k), bm[:])
		}
		if err != nil {
			return err
		}
	}
	clear(e.keys)
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
				// At the start, a build cut short begins anew.
				sb, ib, err := buildBucket(tx, indexMark, indexBucket, start)
				if err != nil || ib == nil {
					done = err == nil
					return err
				}
				b := tx.Bucket(jobsBucket)
				var edits indexEdits
				n := 0
				if b != nil {
					c := b.Cursor()
					for k, v := c.Seek(seqKey(next)); k != nil && n < indexChunk; k, v = c.Next() {
						if len(k) == 8 {
							if data, ok := openEnvelope(k, v); ok {
								edits.add(binary.BigEndian.Uint64(k), nil, data)
							}
							next = binary.BigEndian.Uint64(k) + 1
						}
						n++
					}
				}
				if err := edits.apply(ib); err != nil {
					return err
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
	var ps prefixSet
	emit := func(q uint64, data []byte) error {
		if isTombstone(data) || !k.matches(&ps, data) {
			return nil
		}
		if !fn(q, data) {
			return stop
		}
		return nil
	}
	err = s.db.viewTx(func(tx *bolt.Tx) error {
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
	if errors.Is(err, stop) {
		return nil
	}
	return err
}

// walkKeys calls fn with each Seq of the blocks under prefix in c, from
// bound (exclusive; 0 with desc: the top) in the walk's order, and its
// record in b (a Seq whose record is gone is skipped).
func (s *BoltStore) walkKeys(c *bolt.Cursor, b *bolt.Bucket, prefix []byte, bound uint64, desc bool,
	fn func(q uint64, data []byte) error) error {
	var k, v []byte
	switch {
	case !desc:
		if bound == ^uint64(0) {
			return nil
		}
		k, v = c.Seek(blockKey(prefix, bound+1))
	default:
		top := ^uint64(0)
		if bound != 0 {
			top = bound - 1
		}
		want := blockKey(prefix, top)
		if k, v = c.Seek(want); k != nil && bytes.Equal(k, want) {
			break
		}
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	for ; k != nil; k, v = step(c, desc) {
		if len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
			return nil
		}
		if len(v) != blockBytes {
			return s.db.corrupt(fmt.Sprintf("index key %x holds %d bytes, not a block's %d", k, len(v), blockBytes))
		}
		base := binary.BigEndian.Uint64(k[len(prefix):]) << blockBits
		for i := range 1 << blockBits {
			bit := uint64(i)
			if desc {
				bit = 1<<blockBits - 1 - bit
			}
			q := base | bit
			if v[bit>>3]&(1<<(bit&7)) == 0 || (!desc && q <= bound) || (desc && bound != 0 && q >= bound) {
				continue
			}
			rv := b.Get(seqKey(q))
			if rv == nil {
				continue
			}
			data, ok := openEnvelope(seqKey(q), rv)
			if !ok {
				return s.db.corrupt(fmt.Sprintf("the checksum of job %d does not match: the job is lost", q))
			}
			if err := fn(q, data); err != nil {
				return err
			}
		}
	}
	return nil
}
