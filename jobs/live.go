package jobs

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The live index. drover.db keeps, beside the jobs, the Seqs of the jobs
// that were live (pending or running) when their record was written there
// (bucket "live"), so that a master can load its live jobs without
// reading every finished one first (LoadLive), and serve while it reads
// the rest. Every write of records to drover.db keeps the index (save); a
// drover.db without the mark liveMark (an older drover's, or a salvaged
// one) has it built when the store opens.

var (
	liveBucket = []byte("live")
	liveMark   = []byte("live-index") // in storeBucket: the index is whole
)

// LiveLoader is implemented by stores that can read their live jobs apart
// from the rest: a master loads those first and serves while it loads the
// others.
type LiveLoader interface {
	// LoadLive calls fn, in Seq order, for a set of records that holds
	// every live job's latest record (and may hold others: the caller
	// tells them apart). data is valid only until fn returns.
	LoadLive(fn func(seq uint64, data []byte) error) error
}

// WarmLive is implemented by stores that can keep their live jobs decoded
// in memory, as a raft member's store does while its member follows: the
// master that member starts when it is elected takes them (TakeLive)
// instead of reading and decoding its live jobs (LoadLive).
type WarmLive interface {
	// TakeLive returns, in Seq order, every live job's latest record,
	// decoded, and stops keeping them: the caller owns the jobs. It
	// fails with ErrNotWarm when the store keeps none (the caller reads
	// them with LoadLive), or with another error when what it kept is
	// not whole (the same).
	TakeLive() ([]*Job, error)
}

// ErrNotWarm is TakeLive's error when the store keeps no live jobs.
var ErrNotWarm = errors.New("jobs: the store keeps no live jobs in memory")

// IsLive reports whether a stored record is of a live (pending or
// running) job, as the live index takes it: a tombstone is not, and a
// record whose head does not read is (its load says what is wrong).
func IsLive(data []byte) bool {
	if isTombstone(data) {
		return false
	}
	h, ok := PeekHead(data)
	return !ok || !h.State.Final()
}

// keepLive updates the live index for the records of batch, in tx. A
// record whose head does not read is taken as live: the load reads it
// and says what is wrong.
func keepLive(tx *bolt.Tx, batch []Record) error {
	lb, err := tx.CreateBucketIfNotExists(liveBucket)
	if err != nil {
		return err
	}
	var k [8]byte
	for _, r := range batch {
		binary.BigEndian.PutUint64(k[:], r.Seq)
		if IsLive(r.Data) {
			err = lb.Put(k[:], []byte{})
		} else {
			err = lb.Delete(k[:])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// buildBucket returns, for a build of the bucket name that ends by
// setting mark in the store bucket, the store bucket and the bucket,
// emptied first if fresh; or a nil bucket when mark is set (the build is
// done).
func buildBucket(tx *bolt.Tx, mark, name []byte, fresh bool) (sb, b *bolt.Bucket, err error) {
	if sb, err = tx.CreateBucketIfNotExists(storeBucket); err != nil || sb.Get(mark) != nil {
		return sb, nil, err
	}
	if fresh && tx.Bucket(name) != nil {
		if err := tx.DeleteBucket(name); err != nil {
			return nil, nil, err
		}
	}
	b, err = tx.CreateBucketIfNotExists(name)
	return sb, b, err
}

// ensureLive builds the live index from the jobs in drover.db when it is
// not marked whole: once, for a drover.db of an older drover or one
// salvage wrote.
func (s *boltDB) ensureLive() error {
	err := guard(s.path, func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			sb, lb, err := buildBucket(tx, liveMark, liveBucket, true)
			if err != nil || lb == nil {
				return err
			}
			if b := tx.Bucket(jobsBucket); b != nil {
				err := b.ForEach(func(k, v []byte) error {
					data, ok := openEnvelope(k, v)
					if !ok || len(k) != 8 {
						return lb.Put(k, []byte{}) // the load reads it and says what is wrong
					}
					if h, ok := PeekHead(data); !ok || !h.State.Final() {
						return lb.Put(k, []byte{})
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			return sb.Put(liveMark, []byte{1})
		})
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("jobs: live index: %w", err)
	}
	return err
}

// loadLive calls fn, in Seq order, for the record of every job in the
// live index. A Seq without a record (deleted since) is skipped.
func (s *boltDB) loadLive(fn func(seq uint64, data []byte) error) error {
	return s.viewTx(func(tx *bolt.Tx) error {
		lb, b := tx.Bucket(liveBucket), tx.Bucket(jobsBucket)
		if lb == nil || b == nil {
			return nil
		}
		return lb.ForEach(func(k, _ []byte) error {
			v := b.Get(k)
			if v == nil {
				return nil
			}
			if len(k) != 8 {
				return s.corrupt(fmt.Sprintf("live index key %x is not a seq", k))
			}
			seq := binary.BigEndian.Uint64(k)
			data, err := s.record(seq, k, v)
			if err != nil {
				return err
			}
			return fn(seq, data)
		})
	})
}

// LoadLive implements LiveLoader: the records of the log (each job's
// latest), and those of drover.db in its live index, merged in Seq order,
// the log's winning.
func (s *BoltStore) LoadLive(each func(seq uint64, data []byte) error) error {
	return s.loadMerged(s.db.loadLive, each)
}
