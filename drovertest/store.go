package drovertest

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/drover/drover/jobs"
)

// ErrStoreFailure is what the cluster's store returns from Save while
// Cluster.FailStore is in effect.
var ErrStoreFailure = errors.New("drovertest: injected store failure")

// clusterStore is the store every master of a cluster uses. It outlives
// the masters (Close is ignored; the cluster closes the wrapped store at
// cleanup), so RestartMaster finds every job again, and it fails Save on
// demand to stand for a failing disk.
type clusterStore struct {
	s       jobs.Store
	failing atomic.Bool
	saves   atomic.Int64 // Save calls that failed

	once sync.Once
}

// Load implements jobs.Store.
func (c *clusterStore) Load(fn func(uint64, []byte) error) error { return c.s.Load(fn) }

// Save implements jobs.Store. While failing it writes nothing and returns
// ErrStoreFailure.
func (c *clusterStore) Save(batch []jobs.Record) error {
	if err := c.fail(); err != nil {
		return err
	}
	return c.s.Save(batch)
}

// Close implements jobs.Store: the masters' Close is ignored.
func (c *clusterStore) Close() error { return nil }

// fail counts a write refused while failing and returns ErrStoreFailure,
// or nil when the store is not failing.
func (c *clusterStore) fail() error {
	if c.failing.Load() {
		c.saves.Add(1)
		return ErrStoreFailure
	}
	return nil
}

// forMaster is the store the masters are given: c itself, or, when the
// wrapped store also keeps named records and history and numbers by a
// high-water mark (both stores of package jobs do), c with those passed
// through, so that schedules, group entries and history outlive a
// RestartMaster as they do on a real master.
func (c *clusterStore) forMaster() jobs.Store {
	ms, ok1 := c.s.(jobs.MetaStore)
	hs, ok2 := c.s.(jobs.HistoryStore)
	hw, ok3 := c.s.(jobs.HighWaterer)
	if ok1 && ok2 && ok3 {
		return &fullStore{clusterStore: c, meta: ms, hist: hs, hw: hw}
	}
	return c
}

// closeForGood closes the wrapped store.
func (c *clusterStore) closeForGood() error {
	var err error
	c.once.Do(func() { err = c.s.Close() })
	return err
}

// fullStore is a clusterStore whose wrapped store is also a jobs.MetaStore,
// jobs.HistoryStore and jobs.HighWaterer. Its writes fail with Save's.
type fullStore struct {
	*clusterStore
	meta jobs.MetaStore
	hist jobs.HistoryStore
	hw   jobs.HighWaterer
}

// HighWater implements jobs.HighWaterer.
func (f *fullStore) HighWater() uint64 { return f.hw.HighWater() }

// LoadMeta implements jobs.MetaStore.
func (f *fullStore) LoadMeta(bucket string, fn func(key string, val []byte) error) error {
	return f.meta.LoadMeta(bucket, fn)
}

// SaveMeta implements jobs.MetaStore.
func (f *fullStore) SaveMeta(bucket, key string, val []byte) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.meta.SaveMeta(bucket, key, val)
}

// SaveMetas implements jobs.MetaStore.
func (f *fullStore) SaveMetas(recs []jobs.MetaRecord) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.meta.SaveMetas(recs)
}

// GetMeta implements jobs.MetaStore.
func (f *fullStore) GetMeta(bucket, key string) ([]byte, error) { return f.meta.GetMeta(bucket, key) }

// RangeMeta implements jobs.MetaStore.
func (f *fullStore) RangeMeta(bucket, from string, desc bool, fn func(key string, val []byte) bool) error {
	return f.meta.RangeMeta(bucket, from, desc, fn)
}

// Get implements jobs.HistoryStore.
func (f *fullStore) Get(seq uint64) ([]byte, error) { return f.hist.Get(seq) }

// Descend implements jobs.HistoryStore.
func (f *fullStore) Descend(before uint64, fn func(seq uint64, data []byte) bool) error {
	return f.hist.Descend(before, fn)
}

// Ascend implements jobs.HistoryStore.
func (f *fullStore) Ascend(after uint64, fn func(seq uint64, data []byte) bool) error {
	return f.hist.Ascend(after, fn)
}

// Delete implements jobs.HistoryStore.
func (f *fullStore) Delete(seqs []uint64) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.hist.Delete(seqs)
}
