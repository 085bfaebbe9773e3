package jobs

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrClosed is returned by a Store used after Close.
var ErrClosed = errors.New("jobs: store closed")

// ErrCorrupt is wrapped by every error that reports a damaged data dir:
// a log frame or segment lost, a damaged bbolt page or record. Such an
// error names the file, the byte offset and what is lost (see
// CorruptError); "drover store check" and "drover store salvage" take it
// from there.
var ErrCorrupt = errors.New("jobs: data dir damaged")

// HighWaterer is implemented by stores that remember the highest Seq ever
// saved, even when the record holding it is lost. A master numbers new
// jobs above it, so that no job ID is handed out twice.
type HighWaterer interface {
	HighWater() uint64
}

// HighWater returns s's high-water mark, or 0 if s keeps none.
func HighWater(s Store) uint64 {
	if h, ok := s.(HighWaterer); ok {
		return h.HighWater()
	}
	return 0
}

// Store keeps jobs durably, as records (AppendRecord) keyed by Seq. The
// master is its only user; it calls Save from one goroutine at a time, with
// many jobs per call (group commit), and Load once at start.
type Store interface {
	// Load calls fn for every stored record in Seq order. data is valid
	// only until fn returns. Load stops at fn's first error and returns it.
	Load(fn func(seq uint64, data []byte) error) error
	// Save writes every record in batch (replacing any stored record with
	// the same Seq; the last of a Seq in the batch wins) in one commit and
	// returns once the commit is durable. On error none of the batch is
	// written. Save may reorder batch, and does not keep the Data slices:
	// the caller reuses them.
	Save(batch []Record) error
	// Close releases the store. It is safe to call more than once.
	Close() error
}

// Record is one job as a Store keeps it.
type Record struct {
	Seq  uint64
	Data []byte // the job's AppendRecord encoding
}

// ErrEmptyRecord is returned by Save for a record without data.
var ErrEmptyRecord = errors.New("jobs: empty record")

// LoadJobs decodes every job of s, in Seq order, and calls fn for each. It
// stops at the first undecodable record or error of fn.
func LoadJobs(s Store, fn func(*Job) error) error {
	return s.Load(func(seq uint64, data []byte) error {
		j, err := DecodeRecord(data)
		if err != nil {
			return fmt.Errorf("jobs: stored job seq %d: %w", seq, err)
		}
		if j.Seq != seq {
			return fmt.Errorf("jobs: stored job seq %d: %w: it says seq %d", seq, ErrRecord, j.Seq)
		}
		return fn(j)
	})
}

// Records encodes jobs as records, for a Save, into one buffer.
func Records(js ...*Job) []Record {
	out := make([]Record, len(js))
	buf := make([]byte, 0, 160*len(js))
	for i, j := range js {
		n := len(buf)
		buf = j.AppendRecord(buf)
		out[i] = Record{Seq: j.Seq, Data: buf[n:len(buf):len(buf)]}
	}
	return out
}

// MemStore is a Store that keeps records in memory, for tests and
// throwaway runs. It is safe for concurrent use.
type MemStore struct {
	mu     sync.Mutex // guards recs, meta, hw and closed
	recs   map[uint64][]byte
	meta   map[string]map[string][]byte
	hw     uint64 // the highest Seq saved
	closed bool
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore { return &MemStore{recs: make(map[uint64][]byte)} }

// each calls fn, until it returns false, with the entries of the store's
// map that pick returns (pick runs under mu) whose key in accepts (every
// one for a nil in), in key order, reversed with desc; ErrClosed once the
// store is closed. fn runs after mu is released, on the store's own
// values: the store never changes a stored slice in place (Save and
// putMeta store new ones), but fn must not keep or change them.
func each[K cmp.Ordered](m *MemStore, pick func() map[K][]byte, in func(K) bool, desc bool, fn func(K, []byte) bool) error {
	keys, vals, err := snapshot(m, pick, in, desc)
	if err != nil {
		return err
	}
	for i, k := range keys {
		if !fn(k, vals[i]) {
			break
		}
	}
	return nil
}

// snapshot returns the entries that each passes to fn.
func snapshot[K cmp.Ordered](m *MemStore, pick func() map[K][]byte, in func(K) bool, desc bool) (keys []K, vals [][]byte, err error) {
	err = m.ifOpen(func() {
		all := pick()
		keys = make([]K, 0, len(all))
		for k := range all {
			if in == nil || in(k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		if desc {
			slices.Reverse(keys)
		}
		vals = make([][]byte, len(keys))
		for i, k := range keys {
			vals[i] = all[k]
		}
	})
	return keys, vals, err
}

// ifOpen runs fn under mu, unless the store is closed: then it returns
// ErrClosed.
func (m *MemStore) ifOpen(fn func()) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	fn()
	return nil
}

// Load implements Store.
func (m *MemStore) Load(fn func(seq uint64, data []byte) error) error {
	var ferr error
	err := each(m, func() map[uint64][]byte { return m.recs }, nil, false, func(q uint64, rec []byte) bool {
		ferr = fn(q, rec)
		return ferr == nil
	})
	return cmp.Or(err, ferr)
}

// Save implements Store.
func (m *MemStore) Save(batch []Record) error { return m.SaveWithMetas(batch, nil) }

// HighWater implements HighWaterer: the highest Seq saved.
func (m *MemStore) HighWater() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hw
}

// Close implements Store.
func (m *MemStore) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

// Len returns the number of stored jobs.
func (m *MemStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

// MetaStore is implemented by stores that also keep small named records
// beside the jobs: the last fire time of schedules, which group callbacks
// have run. Both stores here implement it.
type MetaStore interface {
	// LoadMeta calls fn for every record of bucket, in key order.
	LoadMeta(bucket string, fn func(key string, val []byte) error) error
	// SaveMeta writes (or, with a nil val, deletes) one record durably.
	SaveMeta(bucket, key string, val []byte) error
	// SaveMetas writes (or, with a nil Val, deletes) every record of
	// recs in one durable commit: all of them or, on error, none.
	SaveMetas(recs []MetaRecord) error
	// GetMeta returns one record of bucket (the caller's to keep), nil
	// when there is none.
	GetMeta(bucket, key string) ([]byte, error)
	// RangeMeta calls fn for bucket's records in key order from the first
	// key after from (with desc: in reverse order from the last key
	// before from; "" starts at either end), until fn returns false. val
	// is valid only until fn returns, and fn must not write to the store.
	RangeMeta(bucket, from string, desc bool, fn func(key string, val []byte) bool) error
}

// MetaRecord is one named record of a MetaStore bucket.
type MetaRecord struct {
	Bucket, Key string
	Val         []byte // nil: delete the record
}

// MaxMetaKey bounds a meta record's bucket name and key, in bytes: the
// bolt store's limit on a key (bbolt's MaxKeySize).
const MaxMetaKey = 32 << 10

// Check reports a record that no store can keep: an empty bucket name or
// key, or one over MaxMetaKey bytes. A write that carries one should be
// refused before it is made (a raft entry that every member would fail to
// apply stops the group).
func (m MetaRecord) Check() error {
	switch {
	case m.Bucket == "" || m.Key == "":
		return fmt.Errorf("jobs: meta record %q/%q: an empty bucket name or key", m.Bucket, m.Key)
	case len(m.Bucket) > MaxMetaKey || len(m.Key) > MaxMetaKey:
		return fmt.Errorf("jobs: meta record of a %d-byte bucket name and a %d-byte key: at most %d bytes each", len(m.Bucket), len(m.Key), MaxMetaKey)
	}
	return nil
}

// LoadMeta implements MetaStore.
func (m *MemStore) LoadMeta(bucket string, fn func(key string, val []byte) error) error {
	var ferr error
	err := each(m, func() map[string][]byte { return m.meta[bucket] }, nil, false, func(k string, val []byte) bool {
		ferr = fn(k, slices.Clone(val)) // fn may keep it
		return ferr == nil
	})
	return cmp.Or(err, ferr)
}

// SaveMeta implements MetaStore.
func (m *MemStore) SaveMeta(bucket, key string, val []byte) error {
	return m.ifOpen(func() { m.putMeta(bucket, key, val) })
}

// putMeta writes one meta record. The caller holds mu.
func (m *MemStore) putMeta(bucket, key string, val []byte) {
	if m.meta == nil {
		m.meta = make(map[string]map[string][]byte)
	}
	if m.meta[bucket] == nil {
		m.meta[bucket] = make(map[string][]byte)
	}
	if val == nil {
		delete(m.meta[bucket], key)
		return
	}
	m.meta[bucket][key] = slices.Clone(val)
}

// SaveMetas implements MetaStore.
func (m *MemStore) SaveMetas(recs []MetaRecord) error {
	return m.ifOpen(func() {
		for _, r := range recs {
			m.putMeta(r.Bucket, r.Key, r.Val)
		}
	})
}

// GetMeta implements MetaStore.
func (m *MemStore) GetMeta(bucket, key string) ([]byte, error) {
	var val []byte
	err := m.ifOpen(func() { val = slices.Clone(m.meta[bucket][key]) })
	return val, err
}

// RangeMeta implements MetaStore.
func (m *MemStore) RangeMeta(bucket, from string, desc bool, fn func(key string, val []byte) bool) error {
	in := func(k string) bool { return from == "" || (!desc && k > from) || (desc && k < from) }
	return each(m, func() map[string][]byte { return m.meta[bucket] }, in, desc, fn)
}

// JointSaver is implemented by stores that can write new jobs and meta
// records in one commit, so that a record that tells of a job (the fire
// of a schedule that submitted it) is never durable without the job, nor
// the job without it. Every store here implements it.
type JointSaver interface {
	// SaveWithMetas writes the records of batch as Save does and those of
	// metas as SaveMetas does, in one durable commit: all of both or, on
	// error, none. batch must hold only new jobs, each of a Seq never
	// saved before (a store may write them by another way than Save's,
	// which an earlier record of the same Seq would override); the
	// master's group commit saves its other records with Save.
	SaveWithMetas(batch []Record, metas []MetaRecord) error
}

// SaveWithMetas implements JointSaver, under one lock.
func (m *MemStore) SaveWithMetas(batch []Record, metas []MetaRecord) error {
	for _, r := range batch {
		if len(r.Data) == 0 {
			return fmt.Errorf("%w: seq %d", ErrEmptyRecord, r.Seq)
		}
	}
	return m.ifOpen(func() {
		for _, r := range batch {
			m.recs[r.Seq] = slices.Clone(r.Data)
			m.hw = max(m.hw, r.Seq)
		}
		for _, r := range metas {
			m.putMeta(r.Bucket, r.Key, r.Val)
		}
	})
}

// MetaBucketLister is implemented by MetaStores that can name their
// buckets (a replica copies a whole store with it). Both stores here
// implement it.
type MetaBucketLister interface {
	// MetaBuckets returns the names of the buckets that hold records, in
	// order.
	MetaBuckets() ([]string, error)
}

// MetaBuckets implements MetaBucketLister.
func (m *MemStore) MetaBuckets() ([]string, error) {
	var names []string
	err := m.ifOpen(func() {
		for name, b := range m.meta {
			if len(b) > 0 {
				names = append(names, name)
			}
		}
	})
	slices.Sort(names)
	return names, err
}
