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
	if c.failing.Load() {
		c.saves.Add(1)
		return ErrStoreFailure
	}
	return c.s.Save(batch)
}

// Close implements jobs.Store: the masters' Close is ignored.
func (c *clusterStore) Close() error { return nil }

// closeForGood closes the wrapped store.
func (c *clusterStore) closeForGood() error {
	var err error
	c.once.Do(func() { err = c.s.Close() })
	return err
}
