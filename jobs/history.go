package jobs

import (
	"slices"
)

// HistoryStore is implemented by stores that can read and delete single
// records while the master runs: the master keeps only live and recently
// finished jobs in memory and reads older ones from here (a job's page, a
// listing past the jobs in memory), and deletes finished jobs past their
// history. Both stores here implement it.
type HistoryStore interface {
	Store
	// Get returns the record of seq, or nil when the store has none. The
	// data is the caller's to keep.
	Get(seq uint64) ([]byte, error)
	// Descend calls fn for stored records with a Seq below before (every
	// record when before is 0), highest Seq first, until fn returns
	// false; Ascend for records with a Seq above after, lowest first.
	// data is valid only until fn returns. Both see at least every record
	// whose Save returned before they started, and never hold up Save.
	Descend(before uint64, fn func(seq uint64, data []byte) bool) error
	Ascend(after uint64, fn func(seq uint64, data []byte) bool) error
	// Delete removes the records of seqs in one durable commit; a Seq
	// with no record is ignored. A record deleted is never loaded again.
	Delete(seqs []uint64) error
}

// Get implements HistoryStore.
func (m *MemStore) Get(seq uint64) ([]byte, error) {
	var data []byte
	err := m.ifOpen(func() { data = slices.Clone(m.recs[seq]) })
	return data, err
}

// Descend implements HistoryStore.
func (m *MemStore) Descend(before uint64, fn func(seq uint64, data []byte) bool) error {
	return m.walk(func(q uint64) bool { return before == 0 || q < before }, true, fn)
}

// Ascend implements HistoryStore.
func (m *MemStore) Ascend(after uint64, fn func(seq uint64, data []byte) bool) error {
	return m.walk(func(q uint64) bool { return q > after }, false, fn)
}

// walk calls fn for the records whose Seq is in, in Seq order (reversed
// with desc). It sorts the Seqs of every record: the memory store is for
// tests and throwaway runs.
func (m *MemStore) walk(in func(uint64) bool, desc bool, fn func(seq uint64, data []byte) bool) error {
	return each(m, func() map[uint64][]byte { return m.recs }, in, desc, fn)
}

// Delete implements HistoryStore.
func (m *MemStore) Delete(seqs []uint64) error {
	return m.ifOpen(func() {
		for _, q := range seqs {
			delete(m.recs, q)
		}
	})
}
