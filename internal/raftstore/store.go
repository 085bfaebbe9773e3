package raftstore

import (
	"github.com/drover/drover/jobs"
)

// Store is the master's store on a raft member: it reads the local store
// and writes through raft. A write returns once its entry is committed (on
// a quorum of the members' raft logs) and applied to this member's local
// store; on a member that is not the leader it fails (ErrNotLeader). Its
// Close does nothing: the Node owns the local store.
type Store struct {
	n     *Node
	local Local
}

var (
	_ jobs.IndexedHistory   = (*Store)(nil)
	_ jobs.MetaStore        = (*Store)(nil)
	_ jobs.JointSaver       = (*Store)(nil)
	_ jobs.MetaBucketLister = (*Store)(nil)
	_ jobs.LiveLoader       = (*Store)(nil)
	_ jobs.HighWaterer      = (*Store)(nil)
	_ jobs.WarmLive         = (*Store)(nil)
)

// Save implements jobs.Store through raft.
func (s *Store) Save(batch []jobs.Record) error {
	if len(batch) == 0 {
		return nil
	}
	for _, r := range batch {
		if len(r.Data) == 0 {
			return jobs.ErrEmptyRecord // the local stores refuse it: refuse it before it is in the log
		}
	}
	return s.n.apply(appendSave(nil, batch))
}

// SaveMeta implements jobs.MetaStore through raft.
func (s *Store) SaveMeta(bucket, key string, val []byte) error {
	return s.SaveMetas([]jobs.MetaRecord{{Bucket: bucket, Key: key, Val: val}})
}

// SaveMetas implements jobs.MetaStore through raft.
func (s *Store) SaveMetas(recs []jobs.MetaRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if err := checkMetas(recs); err != nil {
		return err
	}
	return s.n.apply(appendMetas(nil, recs))
}

// checkMetas refuses, before they are in the log, the meta records that
// no local store can keep: an entry that every member fails to apply
// would stop the whole group, at every start again.
func checkMetas(recs []jobs.MetaRecord) error {
	for _, m := range recs {
		if err := m.Check(); err != nil {
			return err
		}
	}
	return nil
}

// SaveWithMetas implements jobs.JointSaver through raft: batch and metas
// are one entry, which every member applies in one transaction of its
// local store.
func (s *Store) SaveWithMetas(batch []jobs.Record, metas []jobs.MetaRecord) error {
	switch {
	case len(metas) == 0:
		return s.Save(batch)
	case len(batch) == 0:
		return s.SaveMetas(metas)
	}
	for _, r := range batch {
		if len(r.Data) == 0 {
			return jobs.ErrEmptyRecord // as Save
		}
	}
	if err := checkMetas(metas); err != nil {
		return err
	}
	return s.n.apply(appendSaveMetas(nil, batch, metas))
}

// Delete implements jobs.HistoryStore through raft.
func (s *Store) Delete(seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	return s.n.apply(appendDelete(nil, seqs))
}

// Close implements jobs.Store. It does nothing: the store stays the Node's.
func (s *Store) Close() error { return nil }

// The reads go to the local store.

// Load implements jobs.Store.
func (s *Store) Load(fn func(seq uint64, data []byte) error) error { return s.local.Load(fn) }

// LoadLive implements jobs.LiveLoader.
func (s *Store) LoadLive(fn func(seq uint64, data []byte) error) error { return s.local.LoadLive(fn) }

// TakeLive implements jobs.WarmLive: the live jobs this member kept
// decoded while it followed (see warm).
func (s *Store) TakeLive() ([]*jobs.Job, error) { return s.n.fsm.takeLive() }

// HighWater implements jobs.HighWaterer.
func (s *Store) HighWater() uint64 { return s.local.HighWater() }

// Get implements jobs.HistoryStore.
func (s *Store) Get(seq uint64) ([]byte, error) { return s.local.Get(seq) }

// Descend implements jobs.HistoryStore.
func (s *Store) Descend(before uint64, fn func(seq uint64, data []byte) bool) error {
	return s.local.Descend(before, fn)
}

// Ascend implements jobs.HistoryStore.
func (s *Store) Ascend(after uint64, fn func(seq uint64, data []byte) bool) error {
	return s.local.Ascend(after, fn)
}

// WalkIndex implements jobs.IndexedHistory.
func (s *Store) WalkIndex(k jobs.IndexKey, bound uint64, desc bool, fn func(seq uint64, data []byte) bool) error {
	return s.local.WalkIndex(k, bound, desc, fn)
}

// LoadMeta implements jobs.MetaStore.
func (s *Store) LoadMeta(bucket string, fn func(key string, val []byte) error) error {
	return s.local.LoadMeta(bucket, fn)
}

// GetMeta implements jobs.MetaStore.
func (s *Store) GetMeta(bucket, key string) ([]byte, error) { return s.local.GetMeta(bucket, key) }

// RangeMeta implements jobs.MetaStore.
func (s *Store) RangeMeta(bucket, from string, desc bool, fn func(key string, val []byte) bool) error {
	return s.local.RangeMeta(bucket, from, desc, fn)
}

// MetaBuckets implements jobs.MetaBucketLister.
func (s *Store) MetaBuckets() ([]string, error) { return s.local.MetaBuckets() }
