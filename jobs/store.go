package jobs

import (
	"cmp"
	"errors"
	"slices"
	"sync"
)

// ErrClosed is returned by a Store used after Close.
var ErrClosed = errors.New("jobs: store closed")

// Store keeps jobs durably. The master is its only user; it calls Save from
// one goroutine at a time, with many jobs per call (group commit), and Load
// once at start.
type Store interface {
	// Load calls fn for every stored job in submission (Seq) order. It stops
	// at fn's first error and returns it.
	Load(fn func(*Job) error) error
	// Save writes every job in batch (replacing any stored job with the same
	// Seq) in one commit and returns once the commit is durable. On error
	// none of the batch is written. Save takes the jobs over: the caller
	// must not change them afterwards (the master passes fresh copies).
	Save(batch []*Job) error
	// Close releases the store. It is safe to call more than once.
	Close() error
}

// MemStore is a Store that keeps jobs in memory, for tests and throwaway
// runs. It is safe for concurrent use.
type MemStore struct {
	mu     sync.Mutex // guards jobs, meta and closed
	jobs   map[uint64]*Job
	meta   map[string]map[string][]byte
	closed bool
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore { return &MemStore{jobs: make(map[uint64]*Job)} }

// Load implements Store.
func (m *MemStore) Load(fn func(*Job) error) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	all := make([]*Job, 0, len(m.jobs))
	for _, j := range m.jobs {
		all = append(all, j.Clone())
	}
	m.mu.Unlock()
	slices.SortFunc(all, func(a, b *Job) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, j := range all {
		if err := fn(j); err != nil {
			return err
		}
	}
	return nil
}

// Save implements Store.
func (m *MemStore) Save(batch []*Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, j := range batch {
		m.jobs[j.Seq] = j
	}
	return nil
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
	return len(m.jobs)
}

// MetaStore is implemented by stores that also keep small named records
// beside the jobs: the last fire time of schedules, which group callbacks
// have run. Both stores here implement it.
type MetaStore interface {
	// LoadMeta calls fn for every record of bucket, in key order.
	LoadMeta(bucket string, fn func(key string, val []byte) error) error
	// SaveMeta writes (or, with a nil val, deletes) one record durably.
	SaveMeta(bucket, key string, val []byte) error
}

// LoadMeta implements MetaStore.
func (m *MemStore) LoadMeta(bucket string, fn func(key string, val []byte) error) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	b := m.meta[bucket]
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	vals := make([][]byte, len(keys))
	slices.Sort(keys)
	for i, k := range keys {
		vals[i] = slices.Clone(b[k])
	}
	m.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// SaveMeta implements MetaStore.
func (m *MemStore) SaveMeta(bucket, key string, val []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.meta == nil {
		m.meta = make(map[string]map[string][]byte)
	}
	if m.meta[bucket] == nil {
		m.meta[bucket] = make(map[string][]byte)
	}
	if val == nil {
		delete(m.meta[bucket], key)
		return nil
	}
	m.meta[bucket][key] = slices.Clone(val)
	return nil
}
